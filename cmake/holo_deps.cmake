# Every dependency is a Debian 12 package installed by deploy/install-deps.sh.
find_package(Threads REQUIRED)

# CAF 0.17 ships no CMake config: import its two libraries by hand.
find_path(CAF_INCLUDE_DIR caf/all.hpp REQUIRED)
find_library(CAF_CORE_LIB caf_core REQUIRED)
find_library(CAF_IO_LIB caf_io REQUIRED)
add_library(caf::core SHARED IMPORTED)
set_target_properties(caf::core PROPERTIES IMPORTED_LOCATION "${CAF_CORE_LIB}"
  INTERFACE_INCLUDE_DIRECTORIES "${CAF_INCLUDE_DIR}" INTERFACE_LINK_LIBRARIES Threads::Threads)
add_library(caf::io SHARED IMPORTED)
set_target_properties(caf::io PROPERTIES IMPORTED_LOCATION "${CAF_IO_LIB}"
  INTERFACE_LINK_LIBRARIES caf::core)

find_package(cppzmq REQUIRED)
find_package(msgpack-cxx CONFIG QUIET)
if(NOT TARGET msgpack-cxx)
  find_package(msgpack REQUIRED)   # Debian 12: config dir cmake/msgpackc-cxx, target msgpackc-cxx
endif()
find_package(tomlplusplus REQUIRED)
find_package(prometheus-cpp REQUIRED)
find_package(Boost 1.74 REQUIRED COMPONENTS unit_test_framework)
find_package(PkgConfig REQUIRED)
pkg_check_modules(SQLITE3 REQUIRED IMPORTED_TARGET sqlite3)
pkg_check_modules(LIBSODIUM REQUIRED IMPORTED_TARGET libsodium)
pkg_check_modules(LIBZSTD REQUIRED IMPORTED_TARGET libzstd)
pkg_check_modules(LIBEDIT REQUIRED IMPORTED_TARGET libedit)
find_package(PostgreSQL REQUIRED)
# cpp-httplib: Debian builds it as a shared library (libcpp-httplib.so) described by pkg-config.
if(NOT TARGET PkgConfig::CPP_HTTPLIB)
  pkg_check_modules(CPP_HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)
endif()
find_path(CLI11_INCLUDE_DIR CLI/CLI.hpp REQUIRED)

if(TARGET msgpackc-cxx)
  set(HOLO_MSGPACK msgpackc-cxx)
else()
  set(HOLO_MSGPACK msgpack-cxx)
endif()
