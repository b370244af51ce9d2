# Warnings for sqlsteward's own targets. They are errors only where we choose
# (the CMake presets and CI set SQLSTEWARD_WERROR=ON): a packager's or an
# add_subdirectory() user's newer compiler must not fail their build over a
# new warning. Third-party headers (gtest, CLI11, ...) are SYSTEM includes and
# are not held to these.
option(SQLSTEWARD_WERROR "Treat warnings as errors on sqlsteward's own targets" OFF)

function(sqlsteward_warnings target)
  target_compile_options(${target} PRIVATE
    -Wall -Wextra -Wpedantic
    -Wshadow -Wnon-virtual-dtor -Wold-style-cast -Wcast-align
    -Wunused -Woverloaded-virtual -Wconversion -Wsign-conversion
    -Wnull-dereference -Wdouble-promotion -Wformat=2 -Wimplicit-fallthrough)
  # g++ 12 at -O3 reports -Wrestrict inside libstdc++'s own std::string
  # code wherever a short string is concatenated (GCC bug 105329, fixed in
  # 13): a false positive we cannot act on, which made the plain Release
  # build fail.
  target_compile_options(${target} PRIVATE
    $<$<AND:$<CXX_COMPILER_ID:GNU>,$<VERSION_LESS:$<CXX_COMPILER_VERSION>,13>>:-Wno-restrict>)
  # Lock contracts (src/base/thread_annotations.h) are checked by clang.
  if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    target_compile_options(${target} PRIVATE -Wthread-safety)
  endif()
  if(SQLSTEWARD_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
