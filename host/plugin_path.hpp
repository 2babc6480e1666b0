// Where rlhf-host looks for plugins, in order:
//   1. every --plugin-path DIR, as given;
//   2. the folders of the RLHF_PLUGIN_PATH environment variable (':'-separated);
//   3. the installed plugin folder next to the executable (<prefix>/lib/rlhf/plugins) when it
//      exists, otherwise the build tree's plugin folder (a host run from its build folder).
// Only one of the two defaults is used, so an installed host never also picks up the build
// tree's copies of the same plugins (which would be duplicates).
#pragma once

#include <filesystem>
#include <vector>

namespace rlhf::host {

std::vector<std::filesystem::path> plugin_search_path(
    const std::vector<std::filesystem::path>& command_line_dirs);

// The folder of the running executable.
std::filesystem::path executable_dir();

}  // namespace rlhf::host
