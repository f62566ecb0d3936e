# asl_warnings(target): the project's warning level for its own code.
# Third-party headers come in as SYSTEM includes, so their warnings stay out.
function(asl_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra)
  if(ASL_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
