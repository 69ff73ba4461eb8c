# Runs one libFuzzer binary for ctest (tests/fuzz/CMakeLists.txt).
#   -DFUZZER=<binary> -DCORPUS=<dir> -DREGRESSIONS=<dir> -DWORK=<dir in the build tree> -DMODE=replay|fuzz
#   [-DSECONDS=10 -DRUNS=200000] -P run_fuzzer.cmake
# replay: every committed input once (the corpus and the crash regressions).
# fuzz:   a fresh copy of those inputs in WORK is fuzzed with seed 1 for at most
#         SECONDS or RUNS executions; new inputs and any crash-* artifact go to
#         WORK, never to the source tree.

foreach(var FUZZER CORPUS REGRESSIONS WORK MODE)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run_fuzzer.cmake: -D${var}=... is required")
  endif()
endforeach()

set(files)
foreach(dir ${CORPUS} ${REGRESSIONS})
  if(IS_DIRECTORY ${dir})  # regressions/<name>/ exists only once a crash was kept
    file(GLOB found LIST_DIRECTORIES false ${dir}/*)
    list(APPEND files ${found})
  endif()
endforeach()
list(LENGTH files count)
if(count EQUAL 0)
  message(FATAL_ERROR "no inputs in ${CORPUS} or ${REGRESSIONS}")
endif()
list(SORT files)

file(MAKE_DIRECTORY ${WORK})
set(common -artifact_prefix=${WORK}/ -timeout=10 -rss_limit_mb=2048 -print_final_stats=1)
if(MODE STREQUAL "replay")
  # Files, not directories: libFuzzer runs each once and writes nothing.
  execute_process(COMMAND ${FUZZER} ${common} ${files} WORKING_DIRECTORY ${WORK}
                  RESULT_VARIABLE rc)
  message(STATUS "${count} inputs replayed")
elseif(MODE STREQUAL "fuzz")
  set(corpus ${WORK}/corpus)
  file(REMOVE_RECURSE ${corpus})  # same start every run: with a fixed seed, the same path
  file(MAKE_DIRECTORY ${corpus})
  file(COPY ${files} DESTINATION ${corpus})
  execute_process(
    COMMAND ${FUZZER} ${common} -seed=1 -max_total_time=${SECONDS} -runs=${RUNS} -max_len=4096
            ${corpus}
    WORKING_DIRECTORY ${WORK} RESULT_VARIABLE rc)
else()
  message(FATAL_ERROR "run_fuzzer.cmake: MODE must be replay or fuzz, not ${MODE}")
endif()
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${FUZZER} failed (${rc}); the failing input is saved under ${WORK}/")
endif()
