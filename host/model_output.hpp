// The `--out DIR [--force]` of subcommands that write a model folder (init-model, quantize,
// export).
//
// DIR is normalised first ("out/" and "out/." are "out"), so the temporary folder is always a
// sibling: `DIR.tmp-<pid>`, never inside DIR (a trailing slash once put it inside and --force
// then emptied DIR). The model is written there and swapped in whole
// (rlhf/toolkit/replace_dir.hpp).
// --force replaces only what looks like a model folder: one holding config.json and plain files
// only (or nothing); a folder with subfolders or without config.json is refused, so a mistyped
// --out never removes someone's work. Leftovers of an interrupted earlier write to the same DIR
// are removed first.
#pragma once

#include <filesystem>
#include <string>

namespace rlhf::host {

class ModelOutput {
 public:
  // `command`: the subcommand's name, for messages. Throws rlhf::Error when DIR exists and
  // --force is not given, or when --force would replace something that is not a model folder.
  ModelOutput(const std::string& command, const std::string& out, bool force);
  // Removes the temporary folder when commit() was not reached.
  ~ModelOutput();
  ModelOutput(const ModelOutput&) = delete;
  ModelOutput& operator=(const ModelOutput&) = delete;

  const std::filesystem::path& target() const { return target_; }
  // Where to write the model.
  const std::filesystem::path& staging() const { return staging_; }
  // Moves the written model to target(), replacing a previous one atomically.
  void commit();

 private:
  std::filesystem::path target_;
  std::filesystem::path staging_;
  bool committed_ = false;
};

// Copies the files of model folder `from` that are not its weights or config.json (tokenizer
// files, generation_config.json, …) into `to`, replacing files of the same name: what a model
// written from another (quantize, export) keeps of its source.
void copy_side_files(const std::filesystem::path& from, const std::filesystem::path& to);

}  // namespace rlhf::host
