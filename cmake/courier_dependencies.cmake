# Finds what courier::core needs. Shared by the build and by the installed
# courier-config.cmake, so both see the same targets.
include(CMakeFindDependencyMacro)
include(GNUInstallDirs)

find_dependency(Threads)
find_dependency(Boost 1.81 CONFIG)
find_dependency(fmt CONFIG)
include("${CMAKE_CURRENT_LIST_DIR}/find_concurrentqueue.cmake")
