# ctest install.package and install.subdirectory: build and run tests/install, an outside project,
# against tsenor used one of two ways, from scratch directories, as a user's project would.
#   MODE=package       cmake --install the build tree into PREFIX, then find_package(tsenor) from
#                      PREFIX alone (plus Kokkos'), with nlohmann_json hidden from the consumer;
#   MODE=subdirectory  add_subdirectory(SOURCE_DIR's tsenor) in its leanest form: solver headers
#                      only (TSENOR_ENABLE_IO=OFF, so no tool) with nlohmann_json hidden, the
#                      application's own floating-point flags (TSENOR_ENABLE_DETERMINISM=OFF); then
#                      cmake --install of that project into PREFIX installs tsenor without io.
#
#   cmake -DMODE=package|subdirectory -DTSENOR_SOURCE_DIR=<tsenor source> -DBUILD_DIR=<tsenor build>
#         -DPREFIX=<scratch prefix> -DKOKKOS_PREFIX_PATH=<'|'-separated prefixes> [-DKOKKOS_DIR=...]
#         [-DCXX_COMPILER=...] [-DBUILD_TYPE=...] -P run.cmake
foreach(var MODE TSENOR_SOURCE_DIR BUILD_DIR PREFIX)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run.cmake: -D${var}=... is required")
  endif()
endforeach()
string(REPLACE "|" ";" kokkos_prefix_path "${KOKKOS_PREFIX_PATH}")  # ';' cannot cross add_test's COMMAND

# Fails the test unless the step before it exited with 0.
function(check_step name result)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "install.${MODE}: ${name} failed (${result})")
  endif()
endfunction()

# Start from nothing, so an earlier run cannot hide a missing file.
set(project_build ${PREFIX}-project)
file(REMOVE_RECURSE ${PREFIX} ${project_build})

set(config "")
if(BUILD_TYPE)
  set(config --config ${BUILD_TYPE})  # needed by multi-config generators, harmless otherwise
endif()
set(options -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON -DCMAKE_DISABLE_FIND_PACKAGE_nlohmann_json=ON)
if(MODE STREQUAL "package")
  execute_process(COMMAND ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${PREFIX} ${config} RESULT_VARIABLE result)
  check_step("cmake --install ${BUILD_DIR}" "${result}")
  list(APPEND options -DTSENOR_EXPECTED_PREFIX=${PREFIX})
  set(search_path "${PREFIX};${kokkos_prefix_path}")
elseif(MODE STREQUAL "subdirectory")
  list(APPEND options -DTSENOR_SOURCE_DIR=${TSENOR_SOURCE_DIR} -DTSENOR_ENABLE_IO=OFF -DTSENOR_ENABLE_DETERMINISM=OFF)
  set(search_path "${kokkos_prefix_path}")
else()
  message(FATAL_ERROR "run.cmake: MODE must be package or subdirectory, not '${MODE}'")
endif()
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
execute_process(COMMAND ${CMAKE_COMMAND} -S ${TSENOR_SOURCE_DIR}/tests/install -B ${project_build}
                        "-DCMAKE_PREFIX_PATH=${search_path}" ${options}
                RESULT_VARIABLE result)
check_step("configuring tests/install" "${result}")
execute_process(COMMAND ${CMAKE_COMMAND} --build ${project_build} ${config} RESULT_VARIABLE result)
check_step("building tests/install" "${result}")
execute_process(COMMAND ${project_build}/tsenor_install_test RESULT_VARIABLE result)
check_step("running tsenor_install_test" "${result}")

if(MODE STREQUAL "subdirectory")
  execute_process(COMMAND ${CMAKE_COMMAND} --install ${project_build} --prefix ${PREFIX} ${config}
                  RESULT_VARIABLE result)
  check_step("cmake --install ${project_build}" "${result}")
  file(GLOB_RECURSE configs ${PREFIX}/tsenorConfig.cmake)
  if(NOT configs OR EXISTS ${PREFIX}/include/tsenor/io)
    message(FATAL_ERROR "install.subdirectory: expected a tsenor package config and no io headers in ${PREFIX}")
  endif()
endif()
