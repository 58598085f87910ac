# Extracts every C++ code block of the given Markdown documents into one translation unit, so
# that the build compiles each of them (run at build time with cmake -P, see test/CMakeLists.txt).
#   -D ROOT=<source dir> -D DOCS=<doc,doc,...> (paths relative to ROOT) -D OUTPUT=<generated .cpp>
#
# A block is a fence opened by ```cpp (or ```c++), indented or not. The line just before the
# fence may hold a marker, an HTML comment that rendered Markdown does not show:
#   <!-- snippet: scope=namespace -->   the block is namespace-scope code (functions, a whole
#                                       program with main()); by default a block is the body of
#                                       a function, so it may hold statements
#   <!-- snippet: stubs=etl,pools -->   the block uses the names test/docs/<name>.hpp declares
#                                       (namespace sluice_docs::<name>): functions and types the
#                                       surrounding text takes as given
#   <!-- snippet: skip: <reason> -->    the block is not compiled; the reason is required
# Keys combine: `<!-- snippet: scope=namespace stubs=etl -->`. Each block is compiled in a
# namespace of its own, so blocks never clash; its #include lines move to the top of the file.
# `#line` directives make the compiler name the document and the line of an error
# ("docs/pools.md:42:5: error: ..."). A malformed marker stops the build with its place.
cmake_minimum_required(VERSION 3.25)  # a script's policies: quoted arguments are never variables
foreach(var ROOT DOCS OUTPUT)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "doc_snippets.cmake: -D ${var}=... is required")
  endif()
endforeach()
string(REPLACE "," ";" DOCS "${DOCS}")

set(includes "")      # hoisted #include lines, each after a #line naming its place
set(stub_includes "")
set(blocks "")
set(compiled 0)
set(skipped 0)
set(skip_reasons "")

foreach(doc IN LISTS DOCS)
  file(READ "${ROOT}/${doc}" text)
  string(MAKE_C_IDENTIFIER "${doc}" doc_id)
  set(rest "${text}")
  set(line_no 0)
  set(in_block FALSE)
  set(previous "")
  while(NOT rest STREQUAL "")
    string(FIND "${rest}" "\n" newline)
    if(newline EQUAL -1)
      set(line "${rest}")
      set(rest "")
    else()
      string(SUBSTRING "${rest}" 0 ${newline} line)
      math(EXPR newline "${newline} + 1")
      string(SUBSTRING "${rest}" ${newline} -1 rest)
    endif()
    math(EXPR line_no "${line_no} + 1")
    math(EXPR marker_line "${line_no} - 1")  # where a marker on the line before stands

    if(NOT in_block)
      if("${line}" MATCHES "^([ \t]*)```[ \t]*(cpp|c\\+\\+)[ \t]*$")
        set(indent "${CMAKE_MATCH_1}")
        string(LENGTH "${indent}" indent_length)
        set(in_block TRUE)
        set(block_line ${line_no})
        set(body "")
        set(scope function)
        set(stubs "")
        set(skip "")
        if("${previous}" MATCHES "^[ \t]*<!-- snippet: (.*) -->[ \t]*$")
          set(spec "${CMAKE_MATCH_1}")
          if("${spec}" MATCHES "^skip: *(.*)$")
            set(skip "${CMAKE_MATCH_1}")
            if(skip STREQUAL "")
              message(FATAL_ERROR "${doc}:${marker_line}: `snippet: skip:` needs a reason")
            endif()
          else()
            string(REPLACE " " ";" tokens "${spec}")
            foreach(token IN LISTS tokens)
              if(token MATCHES "^scope=(function|namespace)$")
                set(scope "${CMAKE_MATCH_1}")
              elseif(token MATCHES "^stubs=([a-z_,]+)$")
                string(REPLACE "," ";" stubs "${CMAKE_MATCH_1}")
              elseif(NOT token STREQUAL "")
                message(FATAL_ERROR "${doc}:${marker_line}: unknown snippet marker key '${token}'; "
                                    "use scope=function|namespace, stubs=a,b or skip: <reason>")
              endif()
            endforeach()
          endif()
        endif()
        foreach(stub IN LISTS stubs)
          if(NOT EXISTS "${ROOT}/test/docs/${stub}.hpp")
            message(FATAL_ERROR "${doc}:${marker_line}: the snippet marker names stubs '${stub}', "
                                "but test/docs/${stub}.hpp does not exist")
          endif()
        endforeach()
      elseif("${previous}" MATCHES "<!-- snippet:")
        message(FATAL_ERROR "${doc}:${marker_line}: a snippet marker must stand on the line just "
                            "before a ```cpp fence")
      endif()
    elseif("${line}" MATCHES "^[ \t]*```[ \t]*$")
      set(in_block FALSE)
      if(NOT skip STREQUAL "")
        math(EXPR skipped "${skipped} + 1")
        string(APPEND skip_reasons "// skipped ${doc}:${block_line}: ${skip}\n")
      else()
        math(EXPR compiled "${compiled} + 1")
        set(id "${doc_id}_${block_line}")
        string(APPEND blocks "\nnamespace ${id} {\n")
        foreach(stub IN LISTS stubs)
          string(FIND "${stub_includes}" "\"docs/${stub}.hpp\"" seen)
          if(seen EQUAL -1)
            string(APPEND stub_includes "#include \"docs/${stub}.hpp\"\n")
          endif()
          string(APPEND blocks "using namespace sluice_docs::${stub};\n")
        endforeach()
        math(EXPR first "${block_line} + 1")
        if(scope STREQUAL "function")
          string(APPEND blocks "[[maybe_unused]] void snippet() {\n#line ${first} \"${doc}\"\n"
                               "${body}}\n")
        else()
          string(APPEND blocks "#line ${first} \"${doc}\"\n${body}")
        endif()
        string(APPEND blocks "}  // namespace ${id}\n")
      endif()
    else()
      # Drop the fence's indentation (a block inside a list item); keep line numbers.
      string(SUBSTRING "${line}" 0 ${indent_length} lead)
      if(lead STREQUAL indent)
        string(SUBSTRING "${line}" ${indent_length} -1 line)
      endif()
      if("${line}" MATCHES "^[ \t]*#[ \t]*include")
        string(APPEND includes "#line ${line_no} \"${doc}\"\n${line}\n")
        set(line "")
      endif()
      string(APPEND body "${line}\n")
    endif()
    set(previous "${line}")
  endwhile()
  if(in_block)
    message(FATAL_ERROR "${doc}:${block_line}: the ```cpp block is never closed")
  endif()
endforeach()

set(content "// Generated by test/cmake/doc_snippets.cmake from the Markdown documents: ${compiled} C++
// blocks compiled, ${skipped} skipped. Do not edit; edit the documents.
${skip_reasons}
// A block may show a result that it does not go on to use (`std::size_t n = count(path);`).
#pragma GCC diagnostic ignored \"-Wunused-variable\"
${stub_includes}${includes}${blocks}")
set(old "")
if(EXISTS "${OUTPUT}")
  file(READ "${OUTPUT}" old)
endif()
if(NOT old STREQUAL content)
  file(WRITE "${OUTPUT}" "${content}")
else()
  file(TOUCH "${OUTPUT}")
endif()
message(STATUS "doc snippets: ${compiled} C++ blocks to compile, ${skipped} skipped")
