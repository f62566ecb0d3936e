# cluster/ and bench/ sit beside src/. Each is reachable as "<folder>/<header>" through a
# link under build/include, so no target has the repository root on its include path.
function(asl_export_folder target)
  get_filename_component(folder ${CMAKE_CURRENT_SOURCE_DIR} NAME)
  file(MAKE_DIRECTORY ${CMAKE_BINARY_DIR}/include)
  file(CREATE_LINK ${CMAKE_CURRENT_SOURCE_DIR} ${CMAKE_BINARY_DIR}/include/${folder} SYMBOLIC)
  target_include_directories(${target} PUBLIC ${CMAKE_BINARY_DIR}/include)
endfunction()
