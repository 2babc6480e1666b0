// rlhf::Error — the one exception type family of rlhf-host.
//
// Every error a user can cause (bad TOML, missing file, wrong key, corrupt checkpoint, ABI
// mismatch) is thrown as an rlhf::Error (or a subclass) whose what() is one line the user can
// act on: it names the file, line/column, key path or plugin involved. The host prints that
// line and exits non-zero. Plugins throw rlhf::Error for the same purpose.
#pragma once

#include <stdexcept>
#include <string>

namespace rlhf {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// A configuration problem: carries the location "file:line:column" and the key path.
class ConfigError : public Error {
 public:
  ConfigError(const std::string& location, const std::string& key_path, const std::string& message)
      : Error(format(location, key_path, message)), location_(location), key_path_(key_path) {}
  const std::string& location() const { return location_; }
  const std::string& key_path() const { return key_path_; }

 private:
  static std::string format(const std::string& location, const std::string& key_path,
                            const std::string& message) {
    std::string out = location.empty() ? std::string() : location + ": ";
    if (!key_path.empty()) out += "'" + key_path + "': ";
    return out + message;
  }
  std::string location_;
  std::string key_path_;
};

}  // namespace rlhf
