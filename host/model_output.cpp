#include "model_output.hpp"

#include <unistd.h>

#include <iostream>

#include "rlhf/error.hpp"
#include "rlhf/toolkit/replace_dir.hpp"

namespace fs = std::filesystem;

namespace rlhf::host {
namespace {

// "out/", "out/.", "./out" → "<cwd>/out".
fs::path normalised(const std::string& command, const std::string& out) {
  if (out.empty()) throw Error(command + ": --out is empty");
  fs::path p = fs::absolute(fs::path(out)).lexically_normal();
  while (!p.has_filename() && p.has_relative_path()) p = p.parent_path();
  if (!p.has_relative_path())
    throw Error(command + ": --out '" + out + "' names the root folder, not a model folder");
  return p;
}

// Why `dir` is not a model folder that --force may replace; empty when it is one.
std::string not_a_model_folder(const fs::path& dir) {
  std::error_code ec;
  const auto status = fs::symlink_status(dir, ec);
  if (fs::is_symlink(status)) return "it is a symbolic link";
  if (!fs::is_directory(status)) return "it is not a folder";
  bool has_config = false, empty = true;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    empty = false;
    const std::string name = entry.path().filename().string();
    if (!entry.is_regular_file(ec))  // follows links: a link to a file is a file
      return "it holds '" + name + "', which is not a file";
    has_config |= name == "config.json";
  }
  if (ec) return "it cannot be listed (" + ec.message() + ")";
  if (!empty && !has_config) return "it has no config.json";
  return "";
}

}  // namespace

ModelOutput::ModelOutput(const std::string& command, const std::string& out, bool force)
    : target_(normalised(command, out)),
      staging_(target_.string() + kStagingSuffix + "-" + std::to_string(::getpid())) {
  for (const auto& line :
       clean_leftovers(target_.parent_path(), target_.filename().string() + ".", /*shared=*/true))
    std::cerr << command << ": " << line << "\n";
  std::error_code ec;
  if (fs::exists(fs::symlink_status(target_, ec))) {
    if (!force)
      throw Error(command + ": " + target_.string() +
                  " already exists (use --force to replace it)");
    const std::string why = not_a_model_folder(target_);
    if (!why.empty())
      throw Error(command + ": --force refuses to replace " + target_.string() + ": " + why +
                  ", so it is not a model folder written by rlhf-host (choose another --out)");
  }
  fs::remove_all(staging_);
  if (target_.has_parent_path()) fs::create_directories(target_.parent_path());
}

ModelOutput::~ModelOutput() {
  if (committed_) return;
  std::error_code ec;
  fs::remove_all(staging_, ec);
}

void copy_side_files(const fs::path& from, const fs::path& to) {
  for (const auto& entry : fs::directory_iterator(from)) {
    const std::string name = entry.path().filename().string();
    if (!entry.is_regular_file() || name == "config.json" ||
        name.find(".safetensors") != std::string::npos)
      continue;
    fs::copy_file(entry.path(), to / name, fs::copy_options::overwrite_existing);
  }
}

void ModelOutput::commit() {
  replace_directory(staging_, target_);
  committed_ = true;
}

}  // namespace rlhf::host
