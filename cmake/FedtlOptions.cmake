# fedtl_optional_backend(NAME DOC): a tri-state cache option FEDTL_WITH_<NAME> = AUTO|ON|OFF.
# AUTO enables the backend when its dependency is found; ON makes a missing dependency a
# configure error instead of a silent downgrade.
function(fedtl_optional_backend name doc)
  set(FEDTL_WITH_${name} AUTO CACHE STRING "${doc} (AUTO|ON|OFF)")
  set_property(CACHE FEDTL_WITH_${name} PROPERTY STRINGS AUTO ON OFF)
  if(NOT FEDTL_WITH_${name} MATCHES "^(AUTO|ON|OFF)$")
    message(FATAL_ERROR "FEDTL_WITH_${name} must be AUTO, ON or OFF (got '${FEDTL_WITH_${name}}')")
  endif()
endfunction()

# fedtl_library(TARGET FOLDER ...SOURCES): a module library whose headers sit beside its
# sources and are included as "folder/name.h" both in-tree and once installed.
function(fedtl_library target folder)
  add_library(${target} ${ARGN})
  add_library(fedtl::${target} ALIAS ${target})
  target_include_directories(${target} PUBLIC
    $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}>
    $<BUILD_INTERFACE:${PROJECT_BINARY_DIR}/generated>
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}/fedtl>)
  target_link_libraries(${target} PRIVATE $<BUILD_INTERFACE:fedtl_warnings>)
  install(TARGETS ${target} EXPORT fedtlTargets
    ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
  install(DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/fedtl/${folder}
    FILES_MATCHING PATTERN "*.h")
endfunction()
