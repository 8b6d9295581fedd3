// What the side-by-side benchmarks need to run a baseline in another
// process (boto3, Node) and to charge each side its own CPU time.
#pragma once

#include <fmt/format.h>
#include <sys/resource.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

namespace courier_bench {

// This process's CPU time (user + system) so far, in seconds.
inline double process_cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

// Runs command through the shell and returns what it printed; throws when
// it cannot start or exits with a failure, with its output.
inline std::string run(const std::string& command) {
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
  if (!pipe) throw std::runtime_error("cannot run " + command);
  std::string out;
  std::array<char, 4096> chunk{};
  while (std::fgets(chunk.data(), chunk.size(), pipe.get()) != nullptr) out += chunk.data();
  if (pclose(pipe.release()) != 0) throw std::runtime_error("failed: " + command + "\n" + out);
  return out;
}

// A server started with one of the tests' fixture scripts (`script start
// DIR`, e.g. tests/redis/redis.sh) in a directory of its own, and stopped
// with `script stop DIR` (by its PID) when this object goes.
class fixture_server {
 public:
  fixture_server(std::string script, const std::string& name)
      : script_(std::move(script)),
        state_(std::filesystem::temp_directory_path() / fmt::format("{}-{}", name, ::getpid())) {
    run(fmt::format("bash '{}' start '{}'", script_, state_.string()));
  }
  ~fixture_server() {
    try {
      run(fmt::format("bash '{}' stop '{}'", script_, state_.string()));
    } catch (const std::exception& e) {
      fmt::print(stderr, "could not stop the server of {}: {}\n", script_, e.what());
    }
    std::filesystem::remove_all(state_);
  }
  fixture_server(const fixture_server&) = delete;
  fixture_server& operator=(const fixture_server&) = delete;

  // The first word of a file the script wrote into its directory.
  std::string read(const std::string& file) const {
    std::string word;
    std::ifstream(state_ / file) >> word;
    return word;
  }

 private:
  std::string script_;
  std::filesystem::path state_;
};

// The moto server a side-by-side benchmark runs against: the endpoint given,
// or one started with the tests' fixture script (moto_script, moto.sh) and
// stopped by its PID when this object goes.
class moto_endpoint {
 public:
  moto_endpoint(std::string given, const std::string& moto_script, const std::string& name)
      : endpoint_(std::move(given)) {
    if (!endpoint_.empty()) return;
    server_.emplace(moto_script, name);
    endpoint_ = server_->read("endpoint");
  }

  const std::string& url() const noexcept { return endpoint_; }

 private:
  std::string endpoint_;
  std::optional<fixture_server> server_;  // empty: not ours to stop
};

}  // namespace courier_bench
