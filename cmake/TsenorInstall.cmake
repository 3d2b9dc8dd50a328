# Installs the headers, tsenor::tsenor (and tsenor::io, tsenor::layers when built), and a package config
# that finds Kokkos (and Kokkos Kernels and LAPACK for tsenor::layers) again, so an outside project only
# writes find_package(tsenor).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(header_dirs core rounding backends)
set(targets tsenor)
if(TSENOR_ENABLE_IO)
  list(APPEND header_dirs io)
  list(APPEND targets tsenor_io)
endif()
if(TARGET tsenor_layers)
  list(APPEND header_dirs layers)
  list(APPEND targets tsenor_layers)
endif()
install(TARGETS ${targets} EXPORT tsenorTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
foreach(dir IN LISTS header_dirs)
  install(DIRECTORY ${dir}/tsenor DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} FILES_MATCHING PATTERN "*.hpp")
endforeach()

set(config_dir ${CMAKE_INSTALL_LIBDIR}/cmake/tsenor)
install(EXPORT tsenorTargets NAMESPACE tsenor:: DESTINATION ${config_dir})
configure_package_config_file(cmake/tsenorConfig.cmake.in ${CMAKE_CURRENT_BINARY_DIR}/tsenorConfig.cmake
  INSTALL_DESTINATION ${config_dir})
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/tsenorConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/tsenorConfig.cmake ${CMAKE_CURRENT_BINARY_DIR}/tsenorConfigVersion.cmake
  cmake/TsenorDeterminism.cmake DESTINATION ${config_dir})
