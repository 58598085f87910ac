# Builds one compile-fail target and checks the outcome (run by CTest with cmake -P).
#   -D BUILD_DIR=<build tree> -D TARGET=cf_<case>[_twin] -D SOURCE=<case .cpp> -D CONFIG=<config>
#   -D EXPECT=failure|success
# failure: the build must fail, and its output must match the regex on the source's first line,
#          `// expect-error: <regex>`; a build that fails for another reason fails the test.
# success: the build (the -DSLUICE_TWIN twin) must succeed.
foreach(var BUILD_DIR TARGET SOURCE EXPECT)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "compile_fail.cmake: -D ${var}=... is required")
  endif()
endforeach()

file(STRINGS "${SOURCE}" first_line LIMIT_COUNT 1)
if(NOT first_line MATCHES "^// expect-error: (.+)$")
  message(FATAL_ERROR "${SOURCE}: the first line must be `// expect-error: <regex>`")
endif()
set(expected "${CMAKE_MATCH_1}")

set(config_args)
if(CONFIG)
  set(config_args --config "${CONFIG}")
endif()
execute_process(
  COMMAND "${CMAKE_COMMAND}" --build "${BUILD_DIR}" --target "${TARGET}" ${config_args}
  RESULT_VARIABLE result
  OUTPUT_VARIABLE output
  ERROR_VARIABLE output)

if(EXPECT STREQUAL "success")
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "${TARGET} should compile but does not:\n${output}")
  endif()
  message(STATUS "${TARGET} compiles, as it should")
elseif(result EQUAL 0)
  message(FATAL_ERROR "${TARGET} compiled, but it must fail with an error matching\n"
                      "  ${expected}\n${output}")
elseif(NOT output MATCHES "${expected}")
  message(FATAL_ERROR "${TARGET} failed to compile, but no error matches\n"
                      "  ${expected}\n${output}")
else()
  message(STATUS "${TARGET} fails to compile with the expected error: ${expected}")
endif()
