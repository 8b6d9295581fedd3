// Debian's promtool on an exposition, for the metrics tests: its exit
// status (0: accepted, no lint problem) and what it said. A missing promtool
// fails the test (scripts/setup.sh installs it).
#pragma once

#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>

namespace courier_test {

inline std::pair<int, std::string> promtool_check(const std::string& exposition) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("courier_promtool_" + std::to_string(::getpid()) + "_" +
                    ::testing::UnitTest::GetInstance()->current_test_info()->name());
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "exposition.txt") << exposition;
  const std::string command = "promtool check metrics < " + (dir / "exposition.txt").string() + " > " +
                              (dir / "promtool.out").string() + " 2>&1";
  const int status = std::system(command.c_str());
  std::stringstream said;
  said << std::ifstream(dir / "promtool.out").rdbuf();
  std::filesystem::remove_all(dir);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, said.str()};
}

}  // namespace courier_test
