# The consumer the install tests build once sluice::sluice exists (found, or added as a
# subdirectory): main.cpp, compiled strictly, and a check that the sanitizers' suppression files
# come with sluice either way (docs/pipelines.md, "Sanitizers").
add_executable(consumer ${CMAKE_CURRENT_LIST_DIR}/main.cpp)
target_link_libraries(consumer PRIVATE sluice::sluice)
# A strict consumer: sluice's headers must give it no warning (they are system headers to it).
if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
  target_compile_options(consumer PRIVATE -Wall -Wextra -Wconversion -Wsign-conversion -Werror)
endif()

foreach(var IN ITEMS SLUICE_TSAN_SUPPRESSIONS SLUICE_UBSAN_SUPPRESSIONS SLUICE_LSAN_SUPPRESSIONS)
  if(NOT EXISTS "${${var}}")
    message(FATAL_ERROR "${var} does not name a file: '${${var}}'")
  endif()
endforeach()
