# rlhf_add_plugin(<name> SOURCES <files...> [LIBRARIES <libs...>] [OUTPUT_DIR <dir>])
#
# Builds one rlhf-host plugin: a shared library `librlhf_<name>.so` linked against the SDK.
# Inside the rlhf-host tree it lands in the build's plugin folder (searched by default) and is
# installed next to the host; from an out-of-tree project (find_package(rlhf_sdk)) it lands in
# OUTPUT_DIR or the project's binary dir, and `rlhf-host --plugin-path <dir>` finds it.
function(rlhf_add_plugin name)
  cmake_parse_arguments(ARG "" "OUTPUT_DIR" "SOURCES;LIBRARIES" ${ARGN})
  set(target rlhf_plugin_${name})
  add_library(${target} MODULE ${ARG_SOURCES})
  set_target_properties(${target} PROPERTIES OUTPUT_NAME rlhf_${name} PREFIX lib
    CXX_VISIBILITY_PRESET hidden VISIBILITY_INLINES_HIDDEN OFF)
  if(TARGET rlhf_sdk)            # in-tree build
    target_link_libraries(${target} PRIVATE rlhf_sdk rlhf_warnings ${ARG_LIBRARIES})
    target_precompile_headers(${target} REUSE_FROM rlhf_pch)
    set(default_dir ${RLHF_BUILD_PLUGIN_DIR})
    install(TARGETS ${target} LIBRARY DESTINATION ${RLHF_INSTALL_PLUGIN_DIR})
  else()                         # out-of-tree, against the installed package
    target_link_libraries(${target} PRIVATE rlhf::sdk ${ARG_LIBRARIES})
    set(default_dir ${CMAKE_CURRENT_BINARY_DIR})
  endif()
  if(ARG_OUTPUT_DIR)
    set(default_dir ${ARG_OUTPUT_DIR})
  endif()
  set_target_properties(${target} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${default_dir})
endfunction()
