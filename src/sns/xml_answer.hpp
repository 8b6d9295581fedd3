// The result of an SNS answer (Query protocol: <ActionResponse><ActionResult>
// ...), read with Boost.PropertyTree's XML parser, never by searching the
// text.
#pragma once

#include "courier/aws/error.hpp"

#include <boost/property_tree/ptree.hpp>
#include <boost/property_tree/xml_parser.hpp>

#include <map>
#include <sstream>
#include <string>

namespace courier {
inline namespace v1 {
namespace sns {
namespace detail {

namespace pt = boost::property_tree;

// The <{action}Result> element of xml; an answer without one (SNS sends an
// empty result for some actions) is an empty tree. Throws
// aws::error("MalformedResponse") when xml is not the action's answer.
inline pt::ptree read_result(const std::string& xml, const std::string& action) {
  pt::ptree document;
  try {
    std::istringstream in(xml);
    pt::read_xml(in, document, pt::xml_parser::trim_whitespace);
  } catch (const pt::ptree_error& failure) {
    throw aws::error("SNS", action, "MalformedResponse", std::string("answer is not XML: ") + failure.what());
  }
  const auto response = document.get_child_optional(action + "Response");
  if (!response) {
    throw aws::error("SNS", action, "MalformedResponse",
                     "answer has no <" + action + "Response> element: " + xml.substr(0, 200));
  }
  return response->get_child(action + "Result", pt::ptree());
}

// An <entry><key/><value/></entry> map (topic and subscription attributes).
inline std::map<std::string, std::string> read_entries(const pt::ptree& map) {
  std::map<std::string, std::string> out;
  for (const auto& [name, entry] : map) {
    if (name == "entry") out[entry.get<std::string>("key", "")] = entry.get<std::string>("value", "");
  }
  return out;
}

}  // namespace detail
}  // namespace sns
}  // namespace v1
}  // namespace courier
