// The protocol's error codes (courier/ws/error_codes.hpp) are the table of
// docs/protocol.md §8, as code: this reads the page and checks that every row
// there is a row here with the same fatal flag and close code, and back.
#include "courier/ws/error_codes.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>

namespace {

using courier::ws::error_code;
using courier::ws::info;

struct documented {
  bool fatal;
  std::string close;  // "—" when not fatal
};

// The rows of §8: | `code` | when | yes/no | close |
std::map<std::string, documented> documented_codes() {
  std::ifstream page(COURIER_PROTOCOL_MD);
  std::stringstream text;
  text << page.rdbuf();
  const std::string all = text.str();
  const auto begin = all.find("## 8. Error codes");
  const auto end = all.find("\n## ", begin + 1);
  const std::string section = all.substr(begin, end - begin);
  std::map<std::string, documented> rows;
  const std::regex row(R"(\| `(\w+)` \| [^\n]*\| (yes|no) \| ([^|\n]+) \|)");
  for (std::sregex_iterator it(section.begin(), section.end(), row), last; it != last; ++it) {
    std::string close = (*it)[3];
    close.erase(close.find_last_not_of(' ') + 1);
    rows[(*it)[1]] = {(*it)[2] == "yes", close};
  }
  return rows;
}

TEST(ws_error_codes, the_table_is_docs_protocol_md_section_8) {
  const auto rows = documented_codes();
  ASSERT_EQ(rows.size(), courier::ws::detail::error_table.size()) << "a code on one side only";
  for (std::size_t i = 0; i < courier::ws::detail::error_table.size(); ++i) {
    const auto code = static_cast<error_code>(i);
    const std::string name(info(code).name);
    SCOPED_TRACE(name);
    ASSERT_EQ(rows.count(name), 1u) << "not in docs/protocol.md §8";
    EXPECT_EQ(rows.at(name).fatal, info(code).fatal);
    EXPECT_EQ(rows.at(name).close,
              info(code).fatal ? std::to_string(static_cast<int>(info(code).close)) : "—");
    EXPECT_EQ(courier::ws::error_code_named(name), code) << "the name leads back to its code";
  }
  EXPECT_EQ(courier::ws::error_code_named("no_such_code"), std::nullopt);
}

}  // namespace
