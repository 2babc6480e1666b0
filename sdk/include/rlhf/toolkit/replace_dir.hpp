// Folders that appear complete or not at all: a result (`model/`, `adapter/`), a checkpoint or
// a subcommand's `--out` folder is written under a temporary name next to its real one and then
// swapped in, so a kill (SIGKILL, a second Ctrl-C, a full disk) at any instant leaves the
// previous folder or the new one under the real name, plus leftovers under temporary names that
// clean_leftovers() removes on the next run
// (docs/reliability.md, "Run folders, atomic writes, faults").
//
// Temporary names, next to the real name X:
//   X.tmp            being written (a file or a folder)
//   X.tmp-<pid>      being written by process <pid> (CausalLM::save_pretrained, subcommands)
//   X.rlhf-old       the previous X while a swap is in progress (only without RENAME_EXCHANGE)
//   X.rlhf-deleting  a folder being removed
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace rlhf {

inline constexpr const char* kStagingSuffix = ".tmp";
inline constexpr const char* kReplacedSuffix = ".rlhf-old";
inline constexpr const char* kDeletingSuffix = ".rlhf-deleting";

// `target` with kStagingSuffix: where its next version is written.
std::filesystem::path staging_path(const std::filesystem::path& target);

// Moves the complete folder `staged` to `target` (same parent), replacing what is there: at
// every instant `target` is the old folder or the new one. Uses Linux renameat2(RENAME_EXCHANGE);
// where the file system lacks it: target → target.rlhf-old, staged → target, remove the old one
// (clean_leftovers() puts the old one back when a kill lands between the two renames).
void replace_directory(const std::filesystem::path& staged, const std::filesystem::path& target);

// Removes a folder by first renaming it to X.rlhf-deleting, so a kill mid-removal leaves no
// half-deleted folder under its real name. Does nothing when `dir` does not exist.
void remove_directory(const std::filesystem::path& dir);

// The leftovers of interrupted writes directly in `dir` (not recursive; symbolic links are
// removed as links, never followed): removes X.tmp, X.tmp-<pid>, X.rlhf-deleting, and X.rlhf-old
// when X exists (else renames it back to X: the swap was interrupted after the old folder moved
// away). Only names starting with `name_prefix` are considered. A `shared` folder is one that
// other programs write in too (the parent of a subcommand's --out): there a bare X.tmp may be
// someone's file and is kept, and so is an X.tmp-<pid> whose process still runs. Returns one
// line per action ("removed …", "restored …"), for the log.
std::vector<std::string> clean_leftovers(const std::filesystem::path& dir,
                                         const std::string& name_prefix = "", bool shared = false);

}  // namespace rlhf
