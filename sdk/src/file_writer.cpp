#include "rlhf/toolkit/file_writer.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "rlhf/error.hpp"

namespace fs = std::filesystem;

namespace rlhf {

void throw_file_error(const fs::path& file, const std::string& action, int err) {
  throw Error(file.string() + ": cannot " + action + ": " +
              (err != 0 ? std::strerror(err) : "unknown error"));
}

FileWriter::FileWriter(fs::path path, Mode mode) : path_(std::move(path)) {
  const int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (mode == Mode::append ? O_APPEND : O_TRUNC);
  fd_ = ::open(path_.c_str(), flags, 0644);
  if (fd_ < 0) throw_file_error(path_, "open for writing", errno);
}

FileWriter::~FileWriter() {
  if (fd_ >= 0) ::close(fd_);
}

int FileWriter::write_all(const void* data, std::size_t size) noexcept {
  if (fd_ < 0) return EBADF;
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd_, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    if (n == 0) return ENOSPC;  // no progress: the file system is full
    p += n;
    size -= static_cast<std::size_t>(n);
  }
  return 0;
}

void FileWriter::write(const void* data, std::size_t size) {
  if (const int err = write_all(data, size)) throw_file_error(path_, "write", err);
}

std::size_t FileWriter::write_or_remember(const void* data, std::size_t size) noexcept {
  if (error_ == 0) error_ = write_all(data, size);
  return size;
}

void FileWriter::check() const {
  if (error_ != 0) throw_file_error(path_, "write", error_);
}

void FileWriter::close() {
  check();
  if (fd_ < 0) return;
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0 && errno != EINTR) throw_file_error(path_, "write", errno);
}

void write_file_atomically(const fs::path& path, const std::function<void(FileWriter&)>& write) {
  const fs::path tmp = path.string() + ".tmp";
  try {
    FileWriter out(tmp);
    write(out);
    out.close();
    fs::rename(tmp, path);
  } catch (...) {
    std::error_code ec;
    fs::remove(tmp, ec);  // frees the space a full disk needs back
    throw;
  }
}

void write_file_atomically(const fs::path& path, const std::string& bytes) {
  write_file_atomically(path, [&](FileWriter& out) { out.write(bytes); });
}

}  // namespace rlhf
