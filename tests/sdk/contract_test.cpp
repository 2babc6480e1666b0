// The plugin contract is versioned (sdk/include/rlhf/version.hpp): every public SDK header is
// hashed, comments and whitespace aside, and the hash must be the one sdk/contract.lock records
// for the current RLHF_SDK_ABI_VERSION.RLHF_SDK_ABI_MINOR. A header change without a version
// bump fails here, before a plugin built against the old headers meets the new host.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "rlhf/version.hpp"

namespace fs = std::filesystem;

namespace {

const fs::path kSdk = fs::path(RLHF_SOURCE_DIR) / "sdk";

// The header's tokens as the compiler sees them: comments removed, whitespace runs as one space.
std::string normalized(const std::string& text) {
  std::string out;
  bool space = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text.compare(i, 2, "//") == 0) {
      i = text.find('\n', i);
      if (i == std::string::npos) break;
      space = true;
      continue;
    }
    if (text.compare(i, 2, "/*") == 0) {
      i = text.find("*/", i + 2);
      if (i == std::string::npos) break;
      ++i;
      space = true;
      continue;
    }
    if (std::isspace(static_cast<unsigned char>(text[i]))) {
      space = true;
      continue;
    }
    if (space && !out.empty()) out += ' ';
    space = false;
    out += text[i];
  }
  return out;
}

std::uint64_t fnv1a(const std::string& data, std::uint64_t h = 0xcbf29ce484222325ull) {
  for (unsigned char c : data) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Every installed header (sdk/include, recursively), in path order, with its path.
std::string contract_hash(const fs::path& include_dir) {
  std::vector<fs::path> headers;
  for (const auto& e : fs::recursive_directory_iterator(include_dir))
    if (e.is_regular_file() && e.path().extension() == ".hpp") headers.push_back(e.path());
  std::sort(headers.begin(), headers.end());
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (const auto& p : headers) {
    h = fnv1a(fs::relative(p, include_dir).generic_string() + "\n", h);
    h = fnv1a(normalized(read(p)) + "\n", h);
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

// "MAJOR.MINOR HASH" lines of sdk/contract.lock ('#' starts a comment).
std::map<std::string, std::string> read_lock() {
  std::map<std::string, std::string> out;
  std::istringstream lines(read(kSdk / "contract.lock"));
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream words(line);
    std::string version, hash;
    words >> version >> hash;
    EXPECT_FALSE(out.count(version)) << "sdk/contract.lock: " << version << " recorded twice";
    out[version] = hash;
  }
  return out;
}

}  // namespace

TEST(Contract, NormalizingIgnoresCommentsAndWhitespaceOnly) {
  EXPECT_EQ(normalized("int  f(); // why\n/* doc */ struct A {\n  int x;\n};"),
            normalized("int f();\nstruct A { int x; };"));
  EXPECT_NE(normalized("struct A { int x; };"), normalized("struct A { int x; int y; };"));
}

TEST(Contract, HeadersHashAsRecordedForThisAbiVersion) {
  const std::string version =
      std::to_string(RLHF_SDK_ABI_VERSION) + "." + std::to_string(RLHF_SDK_ABI_MINOR);
  const std::string hash = contract_hash(kSdk / "include");
  const auto lock = read_lock();
  ASSERT_TRUE(lock.count(version)) << "sdk/contract.lock has no line for SDK ABI " << version
                                   << ": add '" << version << " " << hash << "'";
  EXPECT_EQ(lock.at(version), hash)
      << "The public SDK headers changed since SDK ABI " << version
      << " was recorded. Bump RLHF_SDK_ABI_MINOR (pure additions) or RLHF_SDK_ABI_VERSION (a "
         "change existing plugins rely on; minor back to 0) in sdk/include/rlhf/version.hpp, "
         "then add the line '<MAJOR.MINOR> <hash this test prints>' to sdk/contract.lock. Hash "
         "now: "
      << hash;
}
