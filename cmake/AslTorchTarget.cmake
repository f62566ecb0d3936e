# LibTorch is heavy to parse. Only code that handles tensors links it, and all such
# targets share one precompiled header (src/core/torch_pch.h), built once by asl_torch.
set(ASL_TORCH_PCH ${CMAKE_SOURCE_DIR}/src/core/torch_pch.h)

# pip's LibTorch ships its own {fmt} headers, of a newer major version than the one the
# system's spdlog is built against (spdlog 1.10 with fmt 12 does not compile): then the
# system's fmt headers go before LibTorch's.
set(ASL_FMT_FIRST "")
foreach(dir ${TORCH_INCLUDE_DIRS})
  if(EXISTS "${dir}/fmt/core.h" AND TARGET fmt::fmt)
    get_target_property(ASL_FMT_FIRST fmt::fmt INTERFACE_INCLUDE_DIRECTORIES)
  endif()
endforeach()

function(asl_torch_target target)
  target_link_libraries(${target} PUBLIC ${TORCH_LIBRARIES})
  if(ASL_FMT_FIRST)
    target_include_directories(${target} SYSTEM BEFORE PUBLIC ${ASL_FMT_FIRST})
  endif()
  target_include_directories(${target} SYSTEM PUBLIC ${TORCH_INCLUDE_DIRS})
  if(TARGET asl_torch AND NOT target STREQUAL "asl_torch")
    target_precompile_headers(${target} REUSE_FROM asl_torch)
  else()
    target_precompile_headers(${target} PRIVATE ${ASL_TORCH_PCH})
  endif()
endfunction()
