// The code and message of an AWS error answer in XML, read with a real XML
// parser (Boost.PropertyTree's), never by searching the text. Services nest
// the <Error><Code>..</Code><Message>..</Message></Error> differently
// (<ErrorResponse><Error>, <ErrorResponse><Errors><Error>, <Response>
// <Errors><Error>, a bare <Error>): the first <Error> with a <Code>, at any
// depth, is the one.
#pragma once

#include <boost/property_tree/ptree.hpp>
#include <boost/property_tree/xml_parser.hpp>

#include <optional>
#include <sstream>
#include <string>

namespace courier {
inline namespace v1 {
namespace aws {
namespace detail {

struct xml_error {
  std::string code;
  std::string message;
};

inline std::optional<xml_error> find_xml_error(const boost::property_tree::ptree& node, int depth = 0) {
  if (depth > 8) return std::nullopt;  // AWS nests three deep; a peer's deep document is not walked
  for (const auto& [name, child] : node) {
    if (name == "Error") {
      xml_error out{child.get<std::string>("Code", ""), child.get<std::string>("Message", "")};
      if (!out.code.empty()) return out;
    }
    if (auto found = find_xml_error(child, depth + 1)) return found;
  }
  return std::nullopt;
}

// The error in body, or nullopt when body is not XML or holds no <Error>.
inline std::optional<xml_error> read_xml_error(const std::string& body) {
  namespace pt = boost::property_tree;
  // AWS's error answers are a few hundred bytes; a larger body is not one,
  // and the parser's recursion stays shallow.
  if (body.size() > 16 * 1024 || body.find('<') == std::string::npos) return std::nullopt;
  pt::ptree document;
  try {
    std::istringstream in(body);
    pt::read_xml(in, document, pt::xml_parser::trim_whitespace);
  } catch (const pt::ptree_error&) {
    return std::nullopt;
  }
  return find_xml_error(document);
}

}  // namespace detail
}  // namespace aws
}  // namespace v1
}  // namespace courier
