// The SIGKILL crash run of a durable channel, shared by the test suite
// (sqlite_crash_test) and courier-bench --durable.
//
// It forks and execs the calling program (/proc/self/exe) with
// --crash-worker to get workers, so that program's main must hand those
// arguments to crash_main too:
//
//   int main(int argc, char** argv) { return courier_crash::crash_main(argc, argv); }
#pragma once

#include <string_view>

namespace courier_crash {

// Harness (--kills N --messages M --groups G --seed S --dir D) or worker
// (--crash-worker D ...): exit code 0 when every guarantee held, 1 when one
// broke or the run failed, 2 on bad arguments.
int crash_main(int argc, const char* const* argv);

// Whether argv asks for a worker (the program should call crash_main).
inline bool is_crash_worker(int argc, const char* const* argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--crash-worker") return true;
  }
  return false;
}

}  // namespace courier_crash
