# Runs a program and passes only when it exits 0 AND its stdout matches a
# regular expression. CTest's PASS_REGULAR_EXPRESSION alone ignores the
# exit status, so a run that printed the right words and then failed would
# pass.
#
#   cmake -DEXPECT=<regex> -P check_run.cmake -- <program> [args...]
if(NOT DEFINED EXPECT)
  message(FATAL_ERROR "check_run.cmake: pass -DEXPECT=<regex>")
endif()
set(command)
set(after_separator FALSE)
math(EXPR last "${CMAKE_ARGC} - 1")
foreach(i RANGE ${last})
  if(after_separator)
    list(APPEND command "${CMAKE_ARGV${i}}")
  elseif(CMAKE_ARGV${i} STREQUAL "--")
    set(after_separator TRUE)
  endif()
endforeach()
if(NOT command)
  message(FATAL_ERROR "check_run.cmake: no program after --")
endif()

execute_process(COMMAND ${command}
                OUTPUT_VARIABLE out
                ERROR_VARIABLE err
                RESULT_VARIABLE status)
message("${out}")
if(err)
  message("stderr:\n${err}")
endif()
if(NOT status STREQUAL "0")
  message(FATAL_ERROR "${command} exited with ${status}")
endif()
if(NOT out MATCHES "${EXPECT}")
  message(FATAL_ERROR "${command}: stdout does not match '${EXPECT}'")
endif()
