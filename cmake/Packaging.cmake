# Debian packages through CPack (issue 19; docs/packaging.md, `make packages`):
#   stratoswarm_<ver>_amd64.deb  the GPU peer, the x86_64 swarmlet, stratoswarm.service
#   swarmlet_<ver>_<arch>.deb    the static swarmlet and images/pi/swarmlet.service
# A native build tree makes both; the aarch64 cross tree makes swarmlet_arm64.
# `cpack --config <build>/CPackConfig.cmake` packs what the build already made
# (CMAKE_SKIP_INSTALL_ALL_DEPENDENCY): build the binaries first; -B DIR says
# where the .debs go.
include_guard(GLOBAL)

set(_pkg_src ${PROJECT_SOURCE_DIR}/packaging)
set(_pkg_bin ${CMAKE_BINARY_DIR}/packaging)
set(_swarmlet_names swarmlet stratoswarm-metrics stratoswarm-test)

if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(aarch64|arm64)$")
  set(_deb_arch arm64)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64)$")
  set(_deb_arch amd64)
else()
  set(_deb_arch ${CMAKE_SYSTEM_PROCESSOR})
endif()

set(_components swarmlet)
if(TARGET stratoswarm)
  list(PREPEND _components stratoswarm)
endif()

# --- the swarmlet's multi-call links, as install.sh lays them out ----------
file(MAKE_DIRECTORY ${_pkg_bin}/links)
foreach(_name stratoswarm-metrics stratoswarm-test)
  file(CREATE_LINK swarmlet ${_pkg_bin}/links/${_name} SYMBOLIC)
endforeach()

# --- the swarmlet's unit: images/pi/swarmlet.service, binary in /usr/bin -----
# One unit in the tree; install.sh puts the binary in /usr/local/bin, a
# package puts it in /usr/bin.
file(READ ${PROJECT_SOURCE_DIR}/images/pi/swarmlet.service _unit)
string(REPLACE "/usr/local/bin/swarmlet" "/usr/bin/swarmlet" _unit "${_unit}")
string(REPLACE "Installed by images/pi/install.sh." "Installed by the swarmlet package." _unit "${_unit}")
file(CONFIGURE OUTPUT ${_pkg_bin}/swarmlet.service CONTENT "${_unit}" @ONLY)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
  ${PROJECT_SOURCE_DIR}/images/pi/swarmlet.service)

# --- changelog (native package: /usr/share/doc/<pkg>/changelog.gz) ----------
execute_process(COMMAND git log -1 --format=%aD
  WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
  OUTPUT_VARIABLE _pkg_date OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
if(NOT _pkg_date)
  string(TIMESTAMP _pkg_date "%a, %d %b %Y %H:%M:%S +0000" UTC)
endif()
foreach(_comp IN LISTS _components)
  set(PKG ${_comp})
  set(VERSION ${PROJECT_VERSION})
  set(REVISION ${STRATOSWARM_REVISION})
  set(DATE ${_pkg_date})
  configure_file(${_pkg_src}/changelog.in ${_pkg_bin}/${_comp}/changelog @ONLY)
  execute_process(COMMAND gzip -9nf ${_pkg_bin}/${_comp}/changelog)
  # Maintainer scripts: the GPU peer's unit is enabled and started on install;
  # the swarmlet's waits for a join token.
  set(UNIT ${_comp}.service)
  if(_comp STREQUAL stratoswarm)
    set(ENABLE yes)
  else()
    set(ENABLE no)
  endif()
  configure_file(${_pkg_src}/lintian/overrides.in ${_pkg_bin}/${_comp}/lintian/${_comp} @ONLY)
  foreach(_script postinst prerm postrm)
    configure_file(${_pkg_src}/debian/${_script}.in ${_pkg_bin}/${_comp}/control/${_script} @ONLY
      FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE
                       WORLD_READ WORLD_EXECUTE)
  endforeach()
endforeach()

# --- man pages from --help (help2man), run through qemu when cross-built ---
find_program(HELP2MAN help2man)
set(_man_pages)
if(HELP2MAN)
  foreach(_name IN LISTS _swarmlet_names ITEMS stratoswarm)
    if(_name STREQUAL stratoswarm)
      if(NOT TARGET stratoswarm)
        continue()
      endif()
      set(_exe $<TARGET_FILE:stratoswarm>)
      set(_dep stratoswarm)
      set(_what "the GPU peer of a StratoSwarm edge cluster")
    else()
      set(_exe $<TARGET_FILE_DIR:swarmlet>/${_name})
      set(_dep swarmlet)
      set(_what "the StratoSwarm edge agent")
      if(_name STREQUAL stratoswarm-metrics)
        set(_what "print a StratoSwarm node's metrics")
      elseif(_name STREQUAL stratoswarm-test)
        set(_what "network tests between a StratoSwarm node and its cluster")
      endif()
    endif()
    # help2man runs one program path: a wrapper adds the emulator when cross-built.
    set(_emulator ${CMAKE_CROSSCOMPILING_EMULATOR})
    if(CMAKE_CROSSCOMPILING AND _emulator)
      list(APPEND _emulator -L /usr/${CMAKE_LIBRARY_ARCHITECTURE})
    else()
      set(_emulator)
    endif()
    list(JOIN _emulator " " _emulator)
    file(GENERATE OUTPUT ${_pkg_bin}/run/${_name}
      CONTENT "#!/bin/sh\nexec ${_emulator} ${_exe} \"$@\"\n"
      FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE
                       WORLD_READ WORLD_EXECUTE)
    set(_man ${_pkg_bin}/man/${_name}.1)
    # Each subcommand's --help becomes a section of its own.
    add_custom_command(OUTPUT ${_man}.gz
      COMMAND ${CMAKE_COMMAND} -E make_directory ${_pkg_bin}/man
      COMMAND sh -c "'${_pkg_src}/help2man_subcommands.sh' '${_pkg_bin}/run/${_name}' > '${_man}.h2m'"
      COMMAND ${HELP2MAN} --no-info --no-discard-stderr --section 1 --name ${_what}
              --version-string ${PROJECT_VERSION}
              --include ${_man}.h2m --output ${_man} ${_pkg_bin}/run/${_name}
      COMMAND gzip -9nf ${_man}
      DEPENDS ${_dep} ${_pkg_src}/help2man_subcommands.sh
      COMMENT "help2man ${_name}.1"
      VERBATIM)
    list(APPEND _man_pages ${_man}.gz)
  endforeach()
  add_custom_target(man_pages ALL DEPENDS ${_man_pages})
else()
  message(STATUS "help2man not found: packages get no man pages (scripts/bootstrap installs it)")
endif()

# --- install rules, one component per package ---------------------------------
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY TRUE)
set(_man_dir share/man/man1)
set(_completions share/bash-completion/completions)
foreach(_comp IN LISTS _components)
  # install(TARGETS): CPACK_STRIP_FILES strips only targets' files.
  install(TARGETS swarmlet RUNTIME DESTINATION bin COMPONENT ${_comp})
  install(FILES ${_pkg_bin}/links/stratoswarm-metrics ${_pkg_bin}/links/stratoswarm-test
          DESTINATION bin COMPONENT ${_comp})
  foreach(_name IN LISTS _swarmlet_names)
    install(FILES ${_pkg_src}/bash-completion/stratoswarm DESTINATION ${_completions}
            RENAME ${_name} COMPONENT ${_comp})
    if(HELP2MAN)
      install(FILES ${_pkg_bin}/man/${_name}.1.gz DESTINATION ${_man_dir} COMPONENT ${_comp})
    endif()
  endforeach()
  install(FILES ${_pkg_src}/copyright ${_pkg_bin}/${_comp}/changelog.gz
          DESTINATION share/doc/${_comp} COMPONENT ${_comp})
  install(FILES ${_pkg_bin}/${_comp}/lintian/${_comp} DESTINATION share/lintian/overrides
          COMPONENT ${_comp})
endforeach()
if(TARGET stratoswarm)
  install(TARGETS stratoswarm RUNTIME DESTINATION bin COMPONENT stratoswarm)
  install(FILES ${_pkg_src}/bash-completion/stratoswarm DESTINATION ${_completions}
          COMPONENT stratoswarm)
  if(HELP2MAN)
    install(FILES ${_pkg_bin}/man/stratoswarm.1.gz DESTINATION ${_man_dir} COMPONENT stratoswarm)
  endif()
  install(FILES ${_pkg_src}/stratoswarm.service DESTINATION /lib/systemd/system
          COMPONENT stratoswarm)
endif()
install(FILES ${_pkg_bin}/swarmlet.service DESTINATION /lib/systemd/system COMPONENT swarmlet)

# --- CPack ----------------------------------------------------------------------
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME stratoswarm)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "StratoSwarm")
set(CPACK_PACKAGE_CONTACT "StratoSwarm maintainers <maintainers@stratoswarm.invalid>")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES TRUE)  # CMAKE_STRIP: aarch64-linux-gnu-strip in the cross tree
set(CPACK_COMPONENTS_ALL ${_components})
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE ${_deb_arch})
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_COMPRESSION_TYPE xz)
set(CPACK_THREADS 0)  # xz on every core
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)

set(CPACK_DEBIAN_STRATOSWARM_PACKAGE_NAME stratoswarm)
set(CPACK_COMPONENT_STRATOSWARM_DESCRIPTION
  "GPU peer of the StratoSwarm edge cluster runtime
StratoSwarm runs containers and plain processes on a cluster of Raspberry
Pis and other small Linux machines, with a GPU workstation as its peer.
.
This package holds the GPU peer (stratoswarm: certificate authority,
scheduler, consensus, state, the cluster CLI), its systemd unit for
'stratoswarm serve', and the x86_64 node agent (swarmlet).")
# Libraries from dpkg-shlibdeps; the image store runs skopeo and tar2sqfs.
set(CPACK_DEBIAN_STRATOSWARM_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_STRATOSWARM_PACKAGE_DEPENDS "skopeo, squashfs-tools-ng")
set(CPACK_DEBIAN_STRATOSWARM_PACKAGE_RECOMMENDS "avahi-daemon")
# Both ship /usr/bin/swarmlet; the GPU peer's serve is itself a node.
set(CPACK_DEBIAN_STRATOSWARM_PACKAGE_CONFLICTS "swarmlet")
set(CPACK_DEBIAN_STRATOSWARM_PACKAGE_REPLACES "swarmlet")
set(CPACK_DEBIAN_STRATOSWARM_PACKAGE_PROVIDES "swarmlet (= ${PROJECT_VERSION})")
set(CPACK_DEBIAN_STRATOSWARM_PACKAGE_CONTROL_EXTRA
  ${_pkg_bin}/stratoswarm/control/postinst ${_pkg_bin}/stratoswarm/control/prerm
  ${_pkg_bin}/stratoswarm/control/postrm)

set(CPACK_DEBIAN_SWARMLET_PACKAGE_NAME swarmlet)
set(CPACK_COMPONENT_SWARMLET_DESCRIPTION
  "node agent of the StratoSwarm edge cluster runtime
StratoSwarm runs containers and plain processes on a cluster of Raspberry
Pis and other small Linux machines, with a GPU workstation as its peer.
.
This package holds the static node agent (swarmlet, with its
stratoswarm-metrics and stratoswarm-test names) and its systemd unit,
which starts once a join token is in /etc/stratoswarm/join.token.")
set(CPACK_DEBIAN_SWARMLET_PACKAGE_RECOMMENDS "avahi-daemon")
set(CPACK_DEBIAN_SWARMLET_PACKAGE_CONTROL_EXTRA
  ${_pkg_bin}/swarmlet/control/postinst ${_pkg_bin}/swarmlet/control/prerm
  ${_pkg_bin}/swarmlet/control/postrm)

include(CPack)
