# Builds one compile-fail target and checks the outcome (run by CTest with cmake -P).
#   -D BUILD_DIR=<build tree> -D TARGET=cf_<case>[_twin] -D SOURCE=<case .cpp> -D CONFIG=<config>
#   -D EXPECT=failure|success
# failure: the build must fail, and every error the compiler reports must match the regex on the
#          source's first line, `// expect-error: <regex>`: the first error is the case's own
#          sentence, and no other error (another check's sentence, or an error piled on after the
#          sentence) follows it. One mistake gives one true sentence. A build that fails for
#          another reason, or without a compiler error, fails the test.
# success: the build (the -DSLUICE_TWIN twin) must succeed.
cmake_minimum_required(VERSION 3.25)  # a script's policies: while(TRUE), if(<number>)
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
  return()
endif()
if(result EQUAL 0)
  message(FATAL_ERROR "${TARGET} compiled, but it must fail with an error matching\n"
                      "  ${expected}\n${output}")
endif()

# The compilers' error lines: `file:line:col: error: ...` from g++ and clang, `fatal error: ...`
# too. Colour codes are removed, in case the build asks for coloured diagnostics. The output is
# read line by line with string(FIND), not as a CMake list: g++'s `[with T = ...]` would keep a
# list from splitting at its brackets.
string(ASCII 27 escape)
string(REGEX REPLACE "${escape}\\[[0-9;]*[mK]" "" rest "${output}\n")
set(first_error "")
set(others "")
set(count 0)
while(TRUE)
  string(FIND "${rest}" "\n" end)
  if(end EQUAL -1)
    break()
  endif()
  string(SUBSTRING "${rest}" 0 ${end} line)
  math(EXPR next "${end} + 1")
  string(SUBSTRING "${rest}" ${next} -1 rest)
  if(NOT line MATCHES "(^|[ :])error: ")
    continue()
  endif()
  math(EXPR count "${count} + 1")
  if(count EQUAL 1)
    set(first_error "${line}")
  endif()
  if(NOT line MATCHES "${expected}")
    string(APPEND others "  ${line}\n")
  endif()
endwhile()

if(count EQUAL 0)
  message(FATAL_ERROR "${TARGET} failed to build, but the compiler reported no error; expected\n"
                      "  ${expected}\n${output}")
endif()
if(NOT first_error MATCHES "${expected}")
  message(FATAL_ERROR "${TARGET} failed to compile, but its first error does not match\n"
                      "  ${expected}\nfirst error:\n  ${first_error}\n\n${output}")
endif()
if(others)
  message(FATAL_ERROR "${TARGET} fails with the expected error first, but one mistake must give "
                      "one sentence, and these errors follow it:\n${others}\n${output}")
endif()
message(STATUS "${TARGET} fails to compile with the expected error (${count}x): ${expected}")
