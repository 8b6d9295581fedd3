# moodycamel's concurrentqueue ships headers but no CMake config (Debian's
# libconcurrentqueue-dev puts them in /usr/include/concurrentqueue/), so wrap
# the header directory in an imported target of our own.
if(NOT TARGET concurrentqueue::concurrentqueue)
  find_path(CONCURRENTQUEUE_INCLUDE_DIR
    NAMES concurrentqueue/blockingconcurrentqueue.h
    DOC "Directory that holds concurrentqueue/concurrentqueue.h")
  if(NOT CONCURRENTQUEUE_INCLUDE_DIR)
    message(FATAL_ERROR
      "courier needs moodycamel concurrentqueue: install libconcurrentqueue-dev "
      "or set CONCURRENTQUEUE_INCLUDE_DIR to the directory holding "
      "concurrentqueue/concurrentqueue.h")
  endif()
  add_library(concurrentqueue::concurrentqueue INTERFACE IMPORTED)
  set_target_properties(concurrentqueue::concurrentqueue PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${CONCURRENTQUEUE_INCLUDE_DIR}")
endif()
