# shardjob_add_plugin(<target> SOURCES <files...> [OUTPUT_DIR <dir>])
#
# A plugin is a MODULE library that links only the SPI, hides every symbol but its manifest, and
# refuses undefined symbols at link time (so a missing dependency fails the build, not the load).
# By default it lands in build/plugins/<target>.so, the directory the example configs point at.
function(shardjob_add_plugin target)
  cmake_parse_arguments(ARG "" "OUTPUT_DIR" "SOURCES" ${ARGN})
  if(NOT ARG_OUTPUT_DIR)
    set(ARG_OUTPUT_DIR ${SHARDJOB_PLUGIN_DIR})
  endif()
  add_library(${target} MODULE ${ARG_SOURCES})
  target_link_libraries(${target} PRIVATE shardjob::spi)
  set_target_properties(${target} PROPERTIES
    PREFIX ""
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    LIBRARY_OUTPUT_DIRECTORY ${ARG_OUTPUT_DIR})
  if(NOT SHARDJOB_SANITIZE AND NOT SHARDJOB_TSAN)
    target_link_options(${target} PRIVATE -Wl,--no-undefined)
  endif()
  # What a target that loads the whole plugin directory depends on (bench/micro).
  if(ARG_OUTPUT_DIR STREQUAL SHARDJOB_PLUGIN_DIR)
    set_property(GLOBAL APPEND PROPERTY SHARDJOB_DIRECTORY_PLUGINS ${target})
  endif()
endfunction()
