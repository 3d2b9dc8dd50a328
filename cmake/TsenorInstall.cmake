# Installs the headers, tsenor::tsenor and tsenor::io, and a package config that finds Kokkos
# again, so an outside project only writes find_package(tsenor).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(TARGETS tsenor tsenor_io EXPORT tsenorTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
foreach(dir core rounding backends io)
  install(DIRECTORY ${dir}/tsenor DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} FILES_MATCHING PATTERN "*.hpp")
endforeach()

set(config_dir ${CMAKE_INSTALL_LIBDIR}/cmake/tsenor)
install(EXPORT tsenorTargets NAMESPACE tsenor:: DESTINATION ${config_dir})
configure_package_config_file(cmake/tsenorConfig.cmake.in ${CMAKE_CURRENT_BINARY_DIR}/tsenorConfig.cmake
  INSTALL_DESTINATION ${config_dir})
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/tsenorConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/tsenorConfig.cmake ${CMAKE_CURRENT_BINARY_DIR}/tsenorConfigVersion.cmake
  DESTINATION ${config_dir})
