# The asan preset: ASan + UBSan on everything, failing hard on the first report.
if(STRATOSWARM_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer
    -fno-sanitize-recover=all)
  add_link_options(-fsanitize=address,undefined)
  # Sanitizer runtimes cannot be linked into a fully static executable.
  set(STRATOSWARM_STATIC_SWARMLET OFF CACHE BOOL "" FORCE)
endif()
