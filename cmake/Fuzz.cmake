# STRATOSWARM_FUZZ: instrument the whole build for libFuzzer (+ ASan/UBSan) so
# the targets in tests/fuzz get coverage feedback from the mesh library.
# Clang only: CC=clang CXX=clang++ cmake ... -DSTRATOSWARM_FUZZ=ON
if(STRATOSWARM_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "STRATOSWARM_FUZZ=ON needs clang (libFuzzer): "
      "CC=clang CXX=clang++ cmake ... -DSTRATOSWARM_FUZZ=ON")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
    -fno-omit-frame-pointer -g)
  # libFuzzer's advice: optimize a little (three times the inputs per second of
  # -O0 here, for half again the compile time) but keep assertions, so not a
  # build type's -O2 -DNDEBUG unless one is asked for.
  if(NOT CMAKE_BUILD_TYPE)
    add_compile_options(-O1)
  endif()
  add_link_options(-fsanitize=address,undefined)
  # Sanitizer runtimes cannot be linked into a fully static executable.
  set(STRATOSWARM_STATIC_SWARMLET OFF CACHE BOOL "" FORCE)
endif()
