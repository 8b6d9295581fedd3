// What the side-by-side benchmarks need to run a baseline in another
// process (boto3, Node) and to charge each side its own CPU time.
#pragma once

#include <sys/resource.h>

#include <array>
#include <cstdio>
#include <memory>
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

}  // namespace courier_bench
