# Builds and runs tests/consumer against courier, as a user would take it in.
# MODE=find_package installs COURIER_BINARY_DIR into a private prefix first;
# MODE=add_subdirectory points the consumer at COURIER_SOURCE_DIR.
file(REMOVE_RECURSE "${WORK_DIR}")

function(run)
  execute_process(COMMAND ${ARGV} RESULT_VARIABLE result)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "consumer test: '${ARGV}' failed (${result})")
  endif()
endfunction()

set(configure_args -S "${CONSUMER_SOURCE_DIR}" -B "${WORK_DIR}/build" -G "${GENERATOR}"
  -D CMAKE_CXX_COMPILER=${CXX_COMPILER} -D COURIER_CONSUMER_MODE=${MODE})
if(MODE STREQUAL "find_package")
  run(${CMAKE_COMMAND} --install "${COURIER_BINARY_DIR}" --prefix "${WORK_DIR}/prefix")
  list(APPEND configure_args -D CMAKE_PREFIX_PATH=${WORK_DIR}/prefix)
else()
  list(APPEND configure_args -D COURIER_SOURCE_DIR=${COURIER_SOURCE_DIR})
endif()

run(${CMAKE_COMMAND} ${configure_args})
# The consumer and what it links: add_subdirectory puts every courier
# library in the consumer's "all", wanted or not (courier::sns here).
run(${CMAKE_COMMAND} --build "${WORK_DIR}/build" --target consumer)
run("${WORK_DIR}/build/consumer")
