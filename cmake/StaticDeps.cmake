# Imported targets for the libraries the swarmlet links statically:
#   deps::zmq      libzmq built by scripts/bootstrap into .deps/<arch> (CURVE on libsodium)
#   deps::sodium   libsodium.a
#   deps::cgroup   libcgroup.a
#   deps::avahi    libavahi-client.a + libavahi-common.a + libdbus-1.a (+ libsystemd stub)
#   deps::seccomp  libseccomp.a (the image workloads' default filter)
#   deps::msgpack  msgpack-cxx headers (header-only, no Boost)
# Every archive is looked up for the target architecture only, so a cross build
# can never pick an x86_64 library by accident.

set(STRATOSWARM_ARCH ${CMAKE_SYSTEM_PROCESSOR})
set(STRATOSWARM_DEPS_DIR ${CMAKE_CURRENT_SOURCE_DIR}/.deps/${STRATOSWARM_ARCH}
  CACHE PATH "Prefix holding static libzmq for this architecture (scripts/bootstrap)")
set(_multiarch_libdir /usr/lib/${STRATOSWARM_ARCH}-linux-gnu)

function(_stratoswarm_static_archive var name)
  find_library(${var} NAMES lib${name}.a PATHS ${_multiarch_libdir} NO_DEFAULT_PATH)
  if(NOT ${var})
    message(FATAL_ERROR "lib${name}.a for ${STRATOSWARM_ARCH} not found in ${_multiarch_libdir}; "
      "run scripts/bootstrap")
  endif()
endfunction()

_stratoswarm_static_archive(SODIUM_STATIC sodium)
_stratoswarm_static_archive(CGROUP_STATIC cgroup)
_stratoswarm_static_archive(AVAHI_CLIENT_STATIC avahi-client)
_stratoswarm_static_archive(AVAHI_COMMON_STATIC avahi-common)
_stratoswarm_static_archive(DBUS_STATIC dbus-1)
# libseccomp: the host's libseccomp-dev for x86_64; for aarch64 the arm64
# .deb that scripts/bootstrap unpacks under .deps/aarch64/libseccomp (or an
# installed libseccomp-dev:arm64).
find_library(SECCOMP_STATIC NAMES libseccomp.a
  PATHS ${STRATOSWARM_DEPS_DIR}/libseccomp/usr/lib/${STRATOSWARM_ARCH}-linux-gnu ${_multiarch_libdir}
  NO_DEFAULT_PATH NO_CMAKE_FIND_ROOT_PATH)
if(NOT SECCOMP_STATIC)
  message(FATAL_ERROR "libseccomp.a for ${STRATOSWARM_ARCH} not found; run scripts/bootstrap")
endif()
get_filename_component(_seccomp_prefix ${SECCOMP_STATIC} DIRECTORY)
get_filename_component(_seccomp_prefix ${_seccomp_prefix}/../.. ABSOLUTE)

set(THREADS_PREFER_PTHREAD_FLAG ON)
find_package(Threads REQUIRED)

if(NOT EXISTS ${STRATOSWARM_DEPS_DIR}/lib/libzmq.a)
  message(FATAL_ERROR "static libzmq for ${STRATOSWARM_ARCH} missing at ${STRATOSWARM_DEPS_DIR}; "
    "run scripts/bootstrap")
endif()

add_library(deps::sodium STATIC IMPORTED GLOBAL)
set_target_properties(deps::sodium PROPERTIES IMPORTED_LOCATION ${SODIUM_STATIC})

add_library(deps::zmq STATIC IMPORTED GLOBAL)
set_target_properties(deps::zmq PROPERTIES
  IMPORTED_LOCATION ${STRATOSWARM_DEPS_DIR}/lib/libzmq.a
  INTERFACE_INCLUDE_DIRECTORIES ${STRATOSWARM_DEPS_DIR}/include
  INTERFACE_COMPILE_DEFINITIONS ZMQ_STATIC
  INTERFACE_LINK_LIBRARIES "deps::sodium;Threads::Threads;rt")

add_library(deps::cgroup STATIC IMPORTED GLOBAL)
set_target_properties(deps::cgroup PROPERTIES IMPORTED_LOCATION ${CGROUP_STATIC})

add_library(deps::dbus STATIC IMPORTED GLOBAL)
set_target_properties(deps::dbus PROPERTIES IMPORTED_LOCATION ${DBUS_STATIC}
  INTERFACE_LINK_LIBRARIES "stratoswarm_sd_stub;Threads::Threads")
# libdbus references two libsystemd functions (socket activation) that the
# swarmlet never uses; a stub keeps libsystemd out of the static link.
add_library(stratoswarm_sd_stub STATIC ${CMAKE_CURRENT_LIST_DIR}/sd_stub.c)

add_library(deps::avahi_common STATIC IMPORTED GLOBAL)
set_target_properties(deps::avahi_common PROPERTIES IMPORTED_LOCATION ${AVAHI_COMMON_STATIC})
add_library(deps::avahi STATIC IMPORTED GLOBAL)
set_target_properties(deps::avahi PROPERTIES IMPORTED_LOCATION ${AVAHI_CLIENT_STATIC}
  INTERFACE_LINK_LIBRARIES "deps::avahi_common;deps::dbus")

add_library(deps::seccomp STATIC IMPORTED GLOBAL)
set_target_properties(deps::seccomp PROPERTIES IMPORTED_LOCATION ${SECCOMP_STATIC})
if(NOT _seccomp_prefix STREQUAL "/usr" AND EXISTS ${_seccomp_prefix}/include/seccomp.h)
  set_target_properties(deps::seccomp PROPERTIES INTERFACE_INCLUDE_DIRECTORIES ${_seccomp_prefix}/include)
endif()

add_library(deps::msgpack INTERFACE IMPORTED GLOBAL)
set_target_properties(deps::msgpack PROPERTIES INTERFACE_COMPILE_DEFINITIONS MSGPACK_NO_BOOST)
