# Proves that a consumer project can use sluice (run by CTest with cmake -P).
#   -D MODE=find_package|add_subdirectory|sanitized -D SOURCE_DIR=<sluice source>
#   -D BUILD_DIR=<build tree> -D WORK_DIR=<scratch dir> -D CONFIG=<config>
#   -D GENERATOR=<generator> -D CXX_COMPILER=<c++>
#   [-D SANITIZE_FLAGS=<flags>] [-D OPTIMIZE_FLAGS=<flags, default -O1 -g1>]
# find_package:     installs BUILD_DIR into WORK_DIR/prefix, then builds test/install/find_package
#                   with CMAKE_PREFIX_PATH=WORK_DIR/prefix.
# add_subdirectory: builds test/install/add_subdirectory, which adds SOURCE_DIR itself.
# Either way the consumer is then run and must exit with 0.
# sanitized:        builds sluice's library as a user would for a sanitized program, with
#                   SANITIZE_FLAGS in CMAKE_CXX_FLAGS (not SLUICE_SANITIZE) and OPTIMIZE_FLAGS,
#                   installs it into WORK_DIR/prefix and builds test/install/sanitized against it
#                   with the same flags; that project's own test runs the consumer with the
#                   installed suppressions, and must pass with no sanitizer report in its output.
foreach(var MODE SOURCE_DIR BUILD_DIR WORK_DIR GENERATOR CXX_COMPILER)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "install_test.cmake: -D ${var}=... is required")
  endif()
endforeach()
if(NOT CONFIG)
  set(CONFIG Release)
endif()

function(run_step what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE result OUTPUT_VARIABLE output
                  ERROR_VARIABLE output)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "install.${MODE}: ${what} failed (${result}):\n${output}")
  endif()
  message(STATUS "install.${MODE}: ${what}: ok")
  set(output "${output}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE "${WORK_DIR}")

if(MODE STREQUAL "sanitized")
  if(NOT SANITIZE_FLAGS)
    message(FATAL_ERROR "install_test.cmake: MODE=sanitized needs -D SANITIZE_FLAGS=...")
  endif()
  if(NOT OPTIMIZE_FLAGS)
    set(OPTIMIZE_FLAGS "-O1 -g1")  # -g1: line numbers in a report
  endif()
  set(sanitized_args -G "${GENERATOR}" "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}"
      -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=${OPTIMIZE_FLAGS}"
      "-DCMAKE_CXX_FLAGS=${SANITIZE_FLAGS}")
  run_step("configure sluice with ${SANITIZE_FLAGS}"
    "${CMAKE_COMMAND}" -S "${SOURCE_DIR}" -B "${WORK_DIR}/sluice" ${sanitized_args}
    -DSLUICE_BUILD_TESTS=OFF -DSLUICE_BUILD_EXAMPLES=OFF)
  run_step("build sluice" "${CMAKE_COMMAND}" --build "${WORK_DIR}/sluice" --parallel 2)
  run_step("cmake --install" "${CMAKE_COMMAND}" --install "${WORK_DIR}/sluice"
    --prefix "${WORK_DIR}/prefix")
  run_step("configure the consumer"
    "${CMAKE_COMMAND}" -S "${SOURCE_DIR}/test/install/sanitized" -B "${WORK_DIR}/build"
    ${sanitized_args} "-DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix")
  run_step("build the consumer" "${CMAKE_COMMAND}" --build "${WORK_DIR}/build")
  run_step("run the consumer" "${CMAKE_CTEST_COMMAND}" --test-dir "${WORK_DIR}/build"
    --output-on-failure -V)
  # ctest fails the run on a report already (halt_on_error, FAIL_REGULAR_EXPRESSION); this is
  # the same check on the output as the driver saw it.
  if(output MATCHES "WARNING: ThreadSanitizer|runtime error:")
    message(FATAL_ERROR "install.sanitized: a sanitizer reported:\n${output}")
  endif()
  return()
endif()

set(consumer_args)
if(MODE STREQUAL "find_package")
  run_step("cmake --install"
    "${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${WORK_DIR}/prefix" --config "${CONFIG}")
  set(consumer_args "-DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix")
elseif(MODE STREQUAL "add_subdirectory")
  set(consumer_args "-DSLUICE_SOURCE_DIR=${SOURCE_DIR}")
else()
  message(FATAL_ERROR "install_test.cmake: unknown MODE '${MODE}'")
endif()

run_step("configure the consumer"
  "${CMAKE_COMMAND}" -S "${SOURCE_DIR}/test/install/${MODE}" -B "${WORK_DIR}/build"
  -G "${GENERATOR}" "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}" "-DCMAKE_BUILD_TYPE=${CONFIG}"
  # A Debug consumer without debug information: the test is that it compiles, links and runs,
  # and add_subdirectory builds all of sluice with these flags (-g costs it a third).
  "-DCMAKE_CXX_FLAGS_DEBUG=-O0"
  ${consumer_args})
run_step("build the consumer"
  "${CMAKE_COMMAND}" --build "${WORK_DIR}/build" --config "${CONFIG}" --parallel 2)

find_program(consumer NAMES consumer PATHS "${WORK_DIR}/build" "${WORK_DIR}/build/${CONFIG}"
             NO_DEFAULT_PATH REQUIRED)
run_step("run the consumer" "${consumer}")
