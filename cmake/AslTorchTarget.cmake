# LibTorch is heavy to parse. Only code that handles tensors links it, and all such
# targets share one precompiled header (src/core/torch_pch.h), built once by asl_torch.
set(ASL_TORCH_PCH ${CMAKE_SOURCE_DIR}/src/core/torch_pch.h)

function(asl_torch_target target)
  target_link_libraries(${target} PUBLIC ${TORCH_LIBRARIES})
  target_include_directories(${target} SYSTEM PUBLIC ${TORCH_INCLUDE_DIRS})
  if(TARGET asl_torch AND NOT target STREQUAL "asl_torch")
    target_precompile_headers(${target} REUSE_FROM asl_torch)
  else()
    target_precompile_headers(${target} PRIVATE ${ASL_TORCH_PCH})
  endif()
endfunction()
