// FileWriter — writes one file and reports every failure (a full disk, a read-only mount, a
// missing folder) as an rlhf::Error naming the file and the system's reason, e.g.
//   runs/x/sft/checkpoint-2.tmp/optimizer.pt: cannot write: No space left on device
// An std::ofstream only sets a bit that callers forget to test, and LibTorch's serializer aborts
// the process when its stream fails while it unwinds (docs/reliability.md, family "disk full").
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <string>

namespace rlhf {

// Throws rlhf::Error "<file>: cannot <action>: <strerror(err)>".
[[noreturn]] void throw_file_error(const std::filesystem::path& file, const std::string& action,
                                   int err);

class FileWriter {
 public:
  enum class Mode { truncate, append };
  // Opens (creates) `path`; throws when it cannot.
  explicit FileWriter(std::filesystem::path path, Mode mode = Mode::truncate);
  // Closes without checking: an abandoned file (a temporary name the caller removes).
  ~FileWriter();
  FileWriter(const FileWriter&) = delete;
  FileWriter& operator=(const FileWriter&) = delete;

  // Writes every byte (retrying short writes) or throws.
  void write(const void* data, std::size_t size);
  void write(const std::string& text) { write(text.data(), text.size()); }
  // For callers that must not throw mid-write (LibTorch's archive writer): keeps the first
  // error, skips later writes and claims success; check() throws it afterwards.
  std::size_t write_or_remember(const void* data, std::size_t size) noexcept;
  void check() const;
  // Closes the file, reporting a failure the file system gives only now (e.g. NFS); throws.
  void close();

  const std::filesystem::path& path() const { return path_; }

 private:
  int write_all(const void* data, std::size_t size) noexcept;  // 0 or an errno

  std::filesystem::path path_;
  int fd_ = -1;
  int error_ = 0;  // errno of the first failed write_or_remember
};

// Writes `bytes` to `path.tmp` and renames it over `path`, so `path` is either the previous
// content or the new one, never a part.
void write_file_atomically(const std::filesystem::path& path, const std::string& bytes);

// The same for content produced by `write`, which receives the open temporary file.
void write_file_atomically(const std::filesystem::path& path,
                           const std::function<void(FileWriter&)>& write);

}  // namespace rlhf
