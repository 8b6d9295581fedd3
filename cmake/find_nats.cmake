# The NATS C client (Debian's libnats-dev), for the peer benchmark's
# JetStream side only. Debian's CMake config for it names a static library
# the package does not ship (find_package(cnats) fails), so it is wrapped in
# an imported target of our own, as hiredis is.
if(NOT TARGET nats::nats)
  find_path(NATS_INCLUDE_DIR NAMES nats/nats.h DOC "Directory that holds nats/nats.h")
  find_library(NATS_LIBRARY NAMES nats DOC "The NATS C client library")
  if(NOT NATS_INCLUDE_DIR OR NOT NATS_LIBRARY)
    message(FATAL_ERROR
      "courier_peer_bench needs the NATS C client: install libnats-dev (scripts/setup.sh does), or set "
      "NATS_INCLUDE_DIR and NATS_LIBRARY")
  endif()
  add_library(nats::nats UNKNOWN IMPORTED)
  set_target_properties(nats::nats PROPERTIES
    IMPORTED_LOCATION "${NATS_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${NATS_INCLUDE_DIR}")
endif()
