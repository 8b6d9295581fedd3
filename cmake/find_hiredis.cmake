# hiredis, the C client of Redis (Debian's libhiredis-dev), for courier::ws's
# nodes sharing one Redis. It ships a pkg-config file but no CMake config:
# wrap it in an imported target of our own, found the same way by the build
# and by an installed courier's config.
if(NOT TARGET hiredis::hiredis)
  find_path(HIREDIS_INCLUDE_DIR NAMES hiredis/hiredis.h DOC "Directory that holds hiredis/hiredis.h")
  find_library(HIREDIS_LIBRARY NAMES hiredis DOC "The hiredis library")
  if(NOT HIREDIS_INCLUDE_DIR OR NOT HIREDIS_LIBRARY)
    message(FATAL_ERROR
      "courier::ws needs hiredis (Redis client): install libhiredis-dev, or set "
      "HIREDIS_INCLUDE_DIR and HIREDIS_LIBRARY, or configure with -DCOURIER_BUILD_WS=OFF")
  endif()
  add_library(hiredis::hiredis UNKNOWN IMPORTED)
  set_target_properties(hiredis::hiredis PROPERTIES
    IMPORTED_LOCATION "${HIREDIS_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${HIREDIS_INCLUDE_DIR}")
endif()
