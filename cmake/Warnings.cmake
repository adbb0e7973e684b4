# stratoswarm_warnings(<target>): the project's warning set, -Werror when asked.
function(stratoswarm_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wshadow -Wnon-virtual-dtor
    -Wold-style-cast -Wcast-align -Wunused -Woverloaded-virtual
    -Wimplicit-fallthrough)
  if(STRATOSWARM_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
