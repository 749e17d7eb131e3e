# Shared compile settings and the test convention: every `NAME.test.cpp` beside the code it tests
# becomes one Boost.Test executable `DIR_NAME_test`, registered with ctest under the label DIR.

add_library(holo_warnings INTERFACE)
target_compile_options(holo_warnings INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wno-missing-field-initializers>)

function(holo_library name)
  # holo_library(NAME SOURCES... ) : a static library rooted at the repository for includes.
  # A folder whose code is still all headers gets an INTERFACE library, so dependents link the same way.
  if("${ARGN}" STREQUAL "")
    add_library(${name} INTERFACE)
    target_include_directories(${name} INTERFACE ${PROJECT_SOURCE_DIR})
    return()
  endif()
  add_library(${name} STATIC ${ARGN})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(${name} PRIVATE holo_warnings)
endfunction()

# Sources of a library folder: every .cpp below it except tests and fuzz targets.
function(holo_glob_sources out)
  file(GLOB_RECURSE srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.cpp)
  list(FILTER srcs EXCLUDE REGEX "\\.test\\.cpp$|\\.fuzz\\.cpp$|/cli/")
  set(${out} ${srcs} PARENT_SCOPE)
endfunction()

function(holo_add_tests dir lib)
  file(GLOB_RECURSE tests CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.test.cpp)
  foreach(t IN LISTS tests)
    get_filename_component(base ${t} NAME)
    string(REPLACE ".test.cpp" "" base ${base})
    set(exe ${dir}_${base}_test)
    add_executable(${exe} ${t})
    target_compile_definitions(${exe} PRIVATE BOOST_TEST_DYN_LINK
      HOLO_SOURCE_DIR="${PROJECT_SOURCE_DIR}" HOLO_BINARY_DIR="${PROJECT_BINARY_DIR}")
    target_link_libraries(${exe} PRIVATE ${lib} holo_warnings Boost::unit_test_framework)
    add_test(NAME ${exe} COMMAND ${exe} --log_level=test_suite --report_level=short)
    set_tests_properties(${exe} PROPERTIES LABELS ${dir} TIMEOUT 300)
  endforeach()
endfunction()

# PUBLIC for a compiled library, INTERFACE for a header-only one (see holo_library).
function(holo_link_kind target out)
  get_target_property(type ${target} TYPE)
  if(type STREQUAL "INTERFACE_LIBRARY")
    set(${out} INTERFACE PARENT_SCOPE)
  else()
    set(${out} PUBLIC PARENT_SCOPE)
  endif()
endfunction()
