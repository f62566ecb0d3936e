# asl_add_test(name SOURCES ... LIBS ...): one GoogleTest binary, cases found by CTest.
function(asl_add_test name)
  cmake_parse_arguments(T "" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_LIBS} GTest::gtest GTest::gtest_main)
  target_include_directories(${name} PRIVATE ${CMAKE_SOURCE_DIR}/tests)
  target_compile_definitions(${name} PRIVATE
    ASL_SOURCE_DIR="${CMAKE_SOURCE_DIR}"
    ASL_BINARY="$<TARGET_FILE:asl>")
  asl_warnings(${name})
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60 PROPERTIES TIMEOUT 300)
endfunction()

# Environment every mpirun in tests needs: OpenMPI refuses root without these, and
# 2-core machines need oversubscription (also set as an mpirun flag below).
set(ASL_MPI_TEST_ENV
    OMPI_ALLOW_RUN_AS_ROOT=1
    OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
    OMPI_MCA_rmaps_base_oversubscribe=1
    OMPI_MCA_btl_vader_single_copy_mechanism=none)

# asl_add_mpi_test(name TARGET tgt NP n [ARGS ...]): run a test binary under mpirun.
function(asl_add_mpi_test name)
  cmake_parse_arguments(T "" "TARGET;NP" "ARGS" ${ARGN})
  if(NOT T_NP)
    set(T_NP 2)
  endif()
  add_test(NAME ${name}
           COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} ${T_NP} --oversubscribe
                   ${MPIEXEC_PREFLAGS} $<TARGET_FILE:${T_TARGET}> ${T_ARGS} ${MPIEXEC_POSTFLAGS})
  set_tests_properties(${name} PROPERTIES
    ENVIRONMENT "${ASL_MPI_TEST_ENV}"
    TIMEOUT 300
    LABELS mpi)
endfunction()
