# Install rules: headers, the exported targets, a config and a version file,
# so `find_package(courier CONFIG)` works after `cmake --install`.
include(CMakePackageConfigHelpers)

set(courier_config_dir "${CMAKE_INSTALL_LIBDIR}/cmake/courier")

set(courier_installed_targets courier_core courier_testing courier_json)
if(TARGET courier_aws)
  list(APPEND courier_installed_targets courier_aws)
endif()
if(TARGET courier_sqs)
  list(APPEND courier_installed_targets courier_sqs)
endif()
if(TARGET courier_dynamodb)
  list(APPEND courier_installed_targets courier_dynamodb)
endif()
if(TARGET courier_sns)
  list(APPEND courier_installed_targets courier_sns)
endif()
if(TARGET courier_sqlite)
  list(APPEND courier_installed_targets courier_sqlite)
endif()
if(TARGET courier_ws)
  list(APPEND courier_installed_targets courier_ws_frames courier_ws)
endif()
install(TARGETS ${courier_installed_targets} EXPORT courier-targets
  ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}")
install(DIRECTORY "${PROJECT_SOURCE_DIR}/include/courier"
  DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}")
install(EXPORT courier-targets
  NAMESPACE courier::
  DESTINATION "${courier_config_dir}")

configure_package_config_file(
  "${PROJECT_SOURCE_DIR}/cmake/courier-config.cmake.in"
  "${PROJECT_BINARY_DIR}/courier-config.cmake"
  INSTALL_DESTINATION "${courier_config_dir}")
write_basic_package_version_file(
  "${PROJECT_BINARY_DIR}/courier-config-version.cmake"
  COMPATIBILITY SameMinorVersion)
install(FILES
  "${PROJECT_BINARY_DIR}/courier-config.cmake"
  "${PROJECT_BINARY_DIR}/courier-config-version.cmake"
  "${PROJECT_SOURCE_DIR}/cmake/courier_dependencies.cmake"
  "${PROJECT_SOURCE_DIR}/cmake/find_concurrentqueue.cmake"
  "${PROJECT_SOURCE_DIR}/cmake/find_hiredis.cmake"
  DESTINATION "${courier_config_dir}")
