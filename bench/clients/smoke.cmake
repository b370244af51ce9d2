# The smoke run of bench_clients.py (bench/CMakeLists.txt): one short rep
# of every configuration; fails unless it exits 0 and prints a JSON
# document with a ratio for each client and process count.
file(REMOVE_RECURSE ${DIR})
file(MAKE_DIRECTORY ${DIR})
execute_process(
  COMMAND /usr/bin/python3 ${BENCH} --ext ${EXT} --dir ${DIR} --seconds 0.5 --reps 1
          --procs 2 --json
  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "bench_clients.py exited ${rc}:\n${err}")
endif()
string(JSON n LENGTH "${out}" summary)
if(NOT n EQUAL 4)
  message(FATAL_ERROR "expected 4 summaries (python, node x 2, 1 process), got ${n}:\n${out}")
endif()
math(EXPR last "${n} - 1")
foreach(i RANGE ${last})
  string(JSON ratio GET "${out}" summary ${i} ratio_tps)
  if(ratio STREQUAL "" OR ratio STREQUAL "null")
    message(FATAL_ERROR "summary ${i} has no throughput ratio:\n${out}")
  endif()
endforeach()
message(STATUS "bench_clients smoke: ${n} configurations, each with a ratio")
