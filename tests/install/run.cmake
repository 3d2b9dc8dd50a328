# ctest install.package: installs the build tree into a scratch prefix, then configures, builds and
# runs tests/install against that prefix alone (plus Kokkos'), as a user's project would.
#
#   cmake -DBUILD_DIR=<tsenor build> -DPREFIX=<scratch prefix> -DSOURCE_DIR=<tests/install>
#         -DKOKKOS_PREFIX_PATH=<'|'-separated prefixes> [-DKOKKOS_DIR=...] [-DCXX_COMPILER=...]
#         [-DBUILD_TYPE=...] -P run.cmake
foreach(var BUILD_DIR PREFIX SOURCE_DIR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run.cmake: -D${var}=... is required")
  endif()
endforeach()
string(REPLACE "|" ";" kokkos_prefix_path "${KOKKOS_PREFIX_PATH}")  # ';' cannot cross add_test's COMMAND

# Fails the test unless the step before it exited with 0.
function(check_step name result)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "install.package: ${name} failed (${result})")
  endif()
endfunction()

# Start from nothing, so an earlier install cannot hide a missing file.
set(project_build ${PREFIX}-project)
file(REMOVE_RECURSE ${PREFIX} ${project_build})

set(config "")
if(BUILD_TYPE)
  set(config --config ${BUILD_TYPE})  # needed by multi-config generators, harmless otherwise
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${PREFIX} ${config} RESULT_VARIABLE result)
check_step("cmake --install ${BUILD_DIR}" "${result}")

set(options -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON -DTSENOR_EXPECTED_PREFIX=${PREFIX})
if(KOKKOS_DIR)
  list(APPEND options -DKokkos_DIR=${KOKKOS_DIR})
endif()
if(CXX_COMPILER)
  list(APPEND options -DCMAKE_CXX_COMPILER=${CXX_COMPILER})
endif()
if(BUILD_TYPE)
  list(APPEND options -DCMAKE_BUILD_TYPE=${BUILD_TYPE})
endif()
# Quoted, so the ';' of the prefix list stays inside one argument.
execute_process(COMMAND ${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${project_build}
                        "-DCMAKE_PREFIX_PATH=${PREFIX};${kokkos_prefix_path}" ${options}
                RESULT_VARIABLE result)
check_step("configuring ${SOURCE_DIR}" "${result}")
execute_process(COMMAND ${CMAKE_COMMAND} --build ${project_build} ${config} RESULT_VARIABLE result)
check_step("building ${SOURCE_DIR}" "${result}")
execute_process(COMMAND ${project_build}/tsenor_install_test RESULT_VARIABLE result)
check_step("running tsenor_install_test" "${result}")
