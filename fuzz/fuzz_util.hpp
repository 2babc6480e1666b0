// Helpers the libFuzzer targets of fuzz/ share: an in-memory file the parsers under test open by
// path, and the rule every target enforces — bad input may only end in an rlhf::Error.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <typeinfo>

#include "rlhf/error.hpp"

namespace rlhf::fuzz {

// Prints `what` and aborts: libFuzzer then saves the input as a crash.
[[noreturn]] inline void finding(const std::string& what) {
  std::fprintf(stderr, "FUZZ FINDING: %s\n", what.c_str());
  std::abort();
}

inline void check(bool ok, const std::string& what) {
  if (!ok) finding(what);
}

// Runs `f` on one input. An rlhf::Error is the expected end of bad input (the host prints it as
// one line naming the file and key). Any other exception would reach the user as a raw library
// message without file or key (issue 12, item 4), so it is a finding. With RLHF_FUZZ_VERBOSE
// set, each error is printed (to see where a seed stops).
template <class F>
void only_rlhf_errors(F&& f) {
  try {
    f();
  } catch (const rlhf::Error& e) {
    static const bool verbose = std::getenv("RLHF_FUZZ_VERBOSE") != nullptr;
    if (verbose) std::fprintf(stderr, "rlhf::Error: %s\n", e.what());
  } catch (const std::exception& e) {
    finding(std::string("exception other than rlhf::Error: ") + typeid(e).name() + ": " + e.what());
  }
}

// A file held in memory (memfd), opened by the code under test through /proc/self/fd/N, so a
// run of millions of inputs never touches the disk.
class MemFile {
 public:
  explicit MemFile(const char* name) : fd_(::memfd_create(name, MFD_CLOEXEC)) {
    if (fd_ < 0) finding("memfd_create failed");
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  MemFile(const MemFile&) = delete;
  MemFile& operator=(const MemFile&) = delete;
  ~MemFile() { ::close(fd_); }

  const std::string& path() const { return path_; }
  void write(const void* data, std::size_t size) {
    if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, data, size, 0) != static_cast<ssize_t>(size))
      finding("writing the memfd failed");
  }

 private:
  int fd_;
  std::string path_;
};

}  // namespace rlhf::fuzz
