# `cmake --install build --prefix P`: the binaries, the libraries users link and the headers they
# need, and a CMake package so that a project outside this tree can do
#
#   find_package(Sematic REQUIRED)                      # with -DCMAKE_PREFIX_PATH=P
#   target_link_libraries(my_pipeline PRIVATE Sematic::sdk Sematic::worker Sematic::engine)
#
# SEMATIC_PUBLIC_LIBRARIES is the one list to edit: each entry is exported as Sematic::<name
# without "sematic_">, together with every sematic_* library it links (they are static, so users
# link those too), and one find_dependency() per external package that closure links. Headers
# follow the narrower closure through PUBLIC/INTERFACE links only (what users' code compiles
# against; a PRIVATE link, e.g. the engine's scheduler, is linked but its headers stay behind):
# a folder's include/ tree when it has one, otherwise its *.h under include/<folder>/; generated
# *.pb.h from the folder's build directory. Included at the end of the top-level CMakeLists.txt,
# once every target exists.
include(CMakePackageConfigHelpers)

set(SEMATIC_PUBLIC_LIBRARIES sematic_sdk sematic_worker sematic_engine)
set(SEMATIC_INSTALLED_PROGRAMS sematic sematic-scheduler sematic-worker)

# Sets `out_targets` to `roots` and every sematic_* library reached from them through the target
# properties `follow`, transitively, and `out_namespaces` to the namespaces (absl, gRPC, ...) of
# the imported targets met on the way. Entries wrapped in $<LINK_ONLY:...> (a static library's
# PRIVATE links, as its users see them) are not followed.
function(sematic_closure roots follow out_targets out_namespaces)
  set(seen "")
  set(namespaces "")
  set(pending ${roots})
  while(pending)
    list(POP_FRONT pending target)
    if(target IN_LIST seen)
      continue()
    endif()
    list(APPEND seen ${target})
    foreach(property IN LISTS follow)
      get_target_property(libs ${target} ${property})
      foreach(lib IN LISTS libs)
        if(lib MATCHES "^sematic_")
          list(APPEND pending ${lib})
        elseif(lib MATCHES "^([A-Za-z0-9_]+)::")
          list(APPEND namespaces ${CMAKE_MATCH_1})
        endif()
      endforeach()
    endforeach()
  endwhile()
  list(REMOVE_DUPLICATES namespaces)
  set(${out_targets} ${seen} PARENT_SCOPE)
  set(${out_namespaces} ${namespaces} PARENT_SCOPE)
endfunction()

# What users link (every library, and the packages to find for them) ...
sematic_closure("${SEMATIC_PUBLIC_LIBRARIES}" "LINK_LIBRARIES;INTERFACE_LINK_LIBRARIES"
                sematic_exported_targets sematic_namespaces)
# ... and what they compile against (whose headers are installed).
sematic_closure("${SEMATIC_PUBLIC_LIBRARIES}" "INTERFACE_LINK_LIBRARIES"
                sematic_header_targets unused_namespaces)

# Libraries.
foreach(target IN LISTS sematic_exported_targets)
  string(REGEX REPLACE "^sematic_" "" export_name ${target})
  set_target_properties(${target} PROPERTIES EXPORT_NAME ${export_name})
endforeach()
install(TARGETS ${sematic_exported_targets} EXPORT SematicTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS ${SEMATIC_INSTALLED_PROGRAMS} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

# Headers, by folder.
set(sematic_header_folders "")
foreach(target IN LISTS sematic_header_targets)
  get_target_property(source_dir ${target} SOURCE_DIR)
  file(RELATIVE_PATH folder ${PROJECT_SOURCE_DIR} ${source_dir})
  string(REGEX REPLACE "/.*" "" folder "${folder}")
  list(APPEND sematic_header_folders ${folder})
endforeach()
list(REMOVE_DUPLICATES sematic_header_folders)
# Installs the headers under `dir` matching `pattern` into include/`prefix`, keeping their
# relative paths; testing/ folders stay behind.
function(sematic_install_headers dir pattern prefix)
  file(GLOB_RECURSE headers RELATIVE ${dir} ${dir}/${pattern})
  foreach(header IN LISTS headers)
    if(header MATCHES "(^|/)testing/")
      continue()
    endif()
    get_filename_component(subdir "${prefix}/${header}" DIRECTORY)
    install(FILES ${dir}/${header} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/${subdir})
  endforeach()
endfunction()

foreach(folder IN LISTS sematic_header_folders)
  if(IS_DIRECTORY ${PROJECT_SOURCE_DIR}/${folder}/include)
    sematic_install_headers(${PROJECT_SOURCE_DIR}/${folder}/include "*.h" "")
  else()
    sematic_install_headers(${PROJECT_SOURCE_DIR}/${folder} "*.h" "${folder}")
  endif()
endforeach()
# Generated code, included as "sematic/v1/foo.pb.h": it exists only once built, so it is matched
# when installing.
set(sematic_generated_dirs "")
foreach(target IN LISTS sematic_header_targets)
  get_target_property(sources ${target} SOURCES)
  list(FILTER sources INCLUDE REGEX "\\.proto$")
  if(sources)
    get_target_property(binary_dir ${target} BINARY_DIR)
    list(APPEND sematic_generated_dirs ${binary_dir})
  endif()
endforeach()
list(REMOVE_DUPLICATES sematic_generated_dirs)
foreach(dir IN LISTS sematic_generated_dirs)
  install(DIRECTORY ${dir}/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
          FILES_MATCHING PATTERN "*.pb.h" PATTERN "CMakeFiles" EXCLUDE)
endforeach()

# find_dependency() for each external package, in the order the top level finds them.
set(SEMATIC_FIND_DEPENDENCIES "")
foreach(namespace Threads absl protobuf gRPC RocksDB OpenSSL ZLIB PNG Eigen3 PkgConfig)
  if(NOT namespace IN_LIST sematic_namespaces)
    continue()
  endif()
  list(REMOVE_ITEM sematic_namespaces ${namespace})
  if(namespace STREQUAL "protobuf")
    # Debian ships no Protobuf CMake config: the FindProtobuf module.
    string(APPEND SEMATIC_FIND_DEPENDENCIES "find_dependency(Protobuf)\n")
  elseif(namespace STREQUAL "PkgConfig")
    # cpp-httplib (the embedded engine's dashboard): Debian ships pkg-config metadata only.
    string(APPEND SEMATIC_FIND_DEPENDENCIES "find_dependency(PkgConfig)\n"
           "pkg_check_modules(HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)\n")
  elseif(namespace MATCHES "^(absl|gRPC|RocksDB|Eigen3)$")
    string(APPEND SEMATIC_FIND_DEPENDENCIES "find_dependency(${namespace} CONFIG)\n")
  else()
    string(APPEND SEMATIC_FIND_DEPENDENCIES "find_dependency(${namespace})\n")
  endif()
endforeach()
if(sematic_namespaces)
  message(FATAL_ERROR "SematicInstall.cmake: no find_dependency() known for ${sematic_namespaces}")
endif()

# The package.
set(sematic_package_dir ${CMAKE_INSTALL_LIBDIR}/cmake/Sematic)
install(EXPORT SematicTargets NAMESPACE Sematic:: DESTINATION ${sematic_package_dir})
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/SematicConfig.cmake.in
  ${PROJECT_BINARY_DIR}/SematicConfig.cmake INSTALL_DESTINATION ${sematic_package_dir})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/SematicConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/SematicConfig.cmake
              ${PROJECT_BINARY_DIR}/SematicConfigVersion.cmake
        DESTINATION ${sematic_package_dir})
