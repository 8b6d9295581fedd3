// SIGKILLs a worker on a durable channel again and again, then checks every
// confirmed send was applied exactly once, in group order
// (tools/crash_run/crash_run.cpp has the run; courier-bench --durable runs
// a longer one).
#include "crash_run.hpp"

int main(int argc, char** argv) { return courier_crash::crash_main(argc, argv); }
