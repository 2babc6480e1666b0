// rlhf::Config — a typed, read-only view of one TOML table.
//
// Plugins receive their table as a Config and read every key they accept in their
// constructor. Reading a key *declares* it, whether or not it is present (a default applies
// when absent). After construction the host asks for unknown_keys(): keys present in the
// table but never declared are reported with file:line:column and a "did you mean" suggestion,
// before any work starts.
//
//   double beta  = config.get<double>("beta", 0.1);          // optional with default
//   auto   path  = config.require<std::string>("path");       // required
//   auto   mods  = config.get<std::vector<std::string>>("target_modules", {"q_proj", "v_proj"});
//   Config data  = config.table("data");                      // nested table (own tracking)
//
// Supported T: bool, std::int64_t, int, double (an integer value is accepted), std::string,
// std::vector<std::string>, std::vector<std::int64_t>, std::vector<double>.
// Wrong types throw rlhf::ConfigError "expected <type>, got <type>" at the value's location.
// TOML's nan and inf (also inside arrays) are refused for every key ("must be a finite
// number"), and an integer that does not fit `int` is refused, never wrapped: no key of
// rlhf-host means a value that is not finite (docs/reliability.md, family "numeric keys").
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "rlhf/error.hpp"

namespace toml {
inline namespace v3 {
class table;
class node;
}  // namespace v3
}  // namespace toml

namespace rlhf {

class Config {
 public:
  // An empty table (every get() returns its default; require() throws).
  Config();
  // A view of `table`, which must outlive the Config (the host keeps the parsed document).
  // `file` names the TOML file for messages; `key_path` is the table's dotted path
  // ("stage.dpo", "adapter").
  Config(const toml::table* table, std::string file, std::string key_path);

  // Parses TOML text (used by tests and tools); `file` is used in messages.
  static Config parse(const std::string& toml_text, const std::string& file = "<string>");
  // Parses a TOML file; a missing file or syntax error throws ConfigError with file:line:col.
  static Config parse_file(const std::string& path);

  bool has(const std::string& key) const;  // declares the key too

  template <typename T>
  T get(const std::string& key, const T& default_value) const;
  template <typename T>
  std::optional<T> get_optional(const std::string& key) const;
  template <typename T>
  T require(const std::string& key) const;

  // Nested table `key` (declared). Missing: an empty Config with the right key path.
  Config table(const std::string& key) const;
  // Array of tables `key` (e.g. [[stage]]); each element a Config.
  std::vector<Config> tables(const std::string& key) const;

  // Marks a key as known without reading it (e.g. keys consumed by the host).
  void declare(const std::string& key) const;

  // Keys present but never declared, with location and suggestion.
  struct UnknownKey {
    std::string key_path;    // "stage.dpo.bta"
    std::string location;    // "pipeline.toml:12:1"
    std::string suggestion;  // "beta" or empty
  };
  std::vector<UnknownKey> unknown_keys() const;
  // Throws ConfigError for the first unknown key (message lists all of them).
  void check_no_unknown_keys() const;

  // Every key present in this table, in file order.
  std::vector<std::string> keys() const;
  const std::string& file() const { return file_; }
  const std::string& key_path() const { return key_path_; }
  // "file:line:col" of `key`'s value, or of the table itself when key is empty / absent.
  std::string location(const std::string& key = "") const;
  // Throws a ConfigError located at `key` with `message` (for plugin-side validation).
  [[noreturn]] void fail(const std::string& key, const std::string& message) const;

  // The underlying table (may be null for an empty Config) — for the host and tools.
  const toml::table* raw() const { return table_; }

 private:
  const toml::node* node(const std::string& key) const;
  std::string child_path(const std::string& key) const;

  std::shared_ptr<void> owner_;  // keeps a parsed document alive for parse()/parse_file()
  const toml::table* table_ = nullptr;
  std::string file_;
  std::string key_path_;
  std::shared_ptr<std::set<std::string>> declared_;
  // Nested views handed out by table()/tables(), by key path; asking twice for the same
  // table returns the same view (shared tracking). Checked recursively by unknown_keys().
  std::shared_ptr<std::map<std::string, Config>> children_;
};

// Levenshtein distance; used for "did you mean" suggestions.
std::size_t edit_distance(const std::string& a, const std::string& b);
// The candidate closest to `word` if it is close enough to be a plausible typo, else "".
std::string closest_match(const std::string& word, const std::vector<std::string>& candidates);
// A TOML node's type as messages name it: "string", "integer", "float", "boolean", "array",
// "table", "date", "time", "date-time".
std::string toml_type_name(const toml::node& node);

}  // namespace rlhf
