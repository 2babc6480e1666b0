// Config: typed view of a toml++ table with declared-key tracking.
#include "rlhf/config.hpp"

#include <toml++/toml.h>
#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>

namespace rlhf {
namespace {

std::string where(const std::string& file, const toml::source_region& region) {
  if (!region.begin) return file;
  return file + ":" + std::to_string(region.begin.line) + ":" + std::to_string(region.begin.column);
}

// A value of the right type that no key accepts (not finite, does not fit the C++ type):
// reported at the value's own location (an element's, inside an array).
struct OutOfRange {
  std::string message;
};

// The same, for element `index` of an array.
struct OutOfRangeAt {
  std::string message;
  const toml::node* element;
  std::size_t index;
};

template <typename T>
struct Convert;

template <>
struct Convert<bool> {
  static constexpr const char* name = "boolean";
  static std::optional<bool> from(const toml::node& n) { return n.value_exact<bool>(); }
};
template <>
struct Convert<std::int64_t> {
  static constexpr const char* name = "integer";
  static std::optional<std::int64_t> from(const toml::node& n) {
    return n.value_exact<std::int64_t>();
  }
};
template <>
struct Convert<int> {
  static constexpr const char* name = "integer";
  static std::optional<int> from(const toml::node& n) {
    auto v = n.value_exact<std::int64_t>();
    if (!v) return std::nullopt;
    // A value that does not fit an int is reported, never wrapped (4294967297 is not 1).
    if (*v < std::numeric_limits<int>::min() || *v > std::numeric_limits<int>::max())
      throw OutOfRange{std::to_string(*v) + " is out of range (" +
                       std::to_string(std::numeric_limits<int>::min()) + ".." +
                       std::to_string(std::numeric_limits<int>::max()) + ")"};
    return static_cast<int>(*v);
  }
};
template <>
struct Convert<double> {
  static constexpr const char* name = "float";
  static std::optional<double> from(const toml::node& n) {
    if (n.is_integer()) return static_cast<double>(*n.value_exact<std::int64_t>());
    auto v = n.value_exact<double>();
    // TOML spells nan and inf as values; no key means them (a learning rate, a ratio or an
    // epoch count that is not finite only produces NaN weights or a wrapped step count later).
    if (v && !std::isfinite(*v))
      throw OutOfRange{"must be a finite number, got " + std::string(std::isnan(*v) ? "nan"
                                                                     : *v > 0       ? "inf"
                                                                                    : "-inf")};
    return v;
  }
};
template <>
struct Convert<std::string> {
  static constexpr const char* name = "string";
  static std::optional<std::string> from(const toml::node& n) {
    return n.value_exact<std::string>();
  }
};
template <typename E>
struct Convert<std::vector<E>> {
  static std::string type() { return std::string("array of ") + Convert<E>::name; }
  static constexpr const char* name = "array";
  static std::optional<std::vector<E>> from(const toml::node& n) {
    const auto* arr = n.as_array();
    if (!arr) return std::nullopt;
    std::vector<E> out;
    for (const auto& el : *arr) {
      std::optional<E> v;
      try {
        v = Convert<E>::from(el);
      } catch (const OutOfRange& e) {
        throw OutOfRangeAt{e.message, &el, out.size()};
      }
      if (!v) return std::nullopt;
      out.push_back(*v);
    }
    return out;
  }
};

template <typename T>
std::string expected_name() {
  if constexpr (std::is_same_v<T, std::vector<std::string>> ||
                std::is_same_v<T, std::vector<std::int64_t>> ||
                std::is_same_v<T, std::vector<double>>)
    return Convert<T>::type();
  else
    return Convert<T>::name;
}

}  // namespace

Config::Config()
    : declared_(std::make_shared<std::set<std::string>>()),
      children_(std::make_shared<std::map<std::string, Config>>()) {}

Config::Config(const toml::table* table, std::string file, std::string key_path)
    : table_(table),
      file_(std::move(file)),
      key_path_(std::move(key_path)),
      declared_(std::make_shared<std::set<std::string>>()),
      children_(std::make_shared<std::map<std::string, Config>>()) {}

Config Config::parse(const std::string& toml_text, const std::string& file) {
  auto doc = std::make_shared<toml::table>();
  try {
    *doc = toml::parse(toml_text, file);
  } catch (const toml::parse_error& e) {
    throw ConfigError(where(file, e.source()), "", std::string(e.description()));
  }
  Config c(doc.get(), file, "");
  c.owner_ = doc;
  return c;
}

Config Config::parse_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(path, "", "cannot open file for reading");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse(ss.str(), path);
}

const toml::node* Config::node(const std::string& key) const {
  declared_->insert(key);
  if (!table_) return nullptr;
  return table_->get(key);
}

std::string Config::child_path(const std::string& key) const {
  return key_path_.empty() ? key : key_path_ + "." + key;
}

bool Config::has(const std::string& key) const { return node(key) != nullptr; }

void Config::declare(const std::string& key) const { declared_->insert(key); }

template <typename T>
std::optional<T> Config::get_optional(const std::string& key) const {
  const toml::node* n = node(key);
  if (!n) return std::nullopt;
  std::optional<T> v;
  try {
    v = Convert<T>::from(*n);
  } catch (const OutOfRange& e) {
    throw ConfigError(where(file_, n->source()), child_path(key), e.message);
  } catch (const OutOfRangeAt& e) {
    throw ConfigError(where(file_, e.element->source()),
                      child_path(key) + "[" + std::to_string(e.index) + "]", e.message);
  }
  if (!v)
    throw ConfigError(where(file_, n->source()), child_path(key),
                      "expected " + expected_name<T>() + ", got " + toml_type_name(*n));
  return v;
}

template <typename T>
T Config::get(const std::string& key, const T& default_value) const {
  auto v = get_optional<T>(key);
  return v ? *v : default_value;
}

template <typename T>
T Config::require(const std::string& key) const {
  auto v = get_optional<T>(key);
  if (!v)
    throw ConfigError(location(), child_path(key),
                      "required key is missing (expected " + expected_name<T>() + ")");
  return *v;
}

#define RLHF_CONFIG_INSTANTIATE(T)                                             \
  template std::optional<T> Config::get_optional<T>(const std::string&) const; \
  template T Config::get<T>(const std::string&, const T&) const;               \
  template T Config::require<T>(const std::string&) const;
RLHF_CONFIG_INSTANTIATE(bool)
RLHF_CONFIG_INSTANTIATE(int)
RLHF_CONFIG_INSTANTIATE(std::int64_t)
RLHF_CONFIG_INSTANTIATE(double)
RLHF_CONFIG_INSTANTIATE(std::string)
RLHF_CONFIG_INSTANTIATE(std::vector<std::string>)
RLHF_CONFIG_INSTANTIATE(std::vector<std::int64_t>)
RLHF_CONFIG_INSTANTIATE(std::vector<double>)
#undef RLHF_CONFIG_INSTANTIATE

Config Config::table(const std::string& key) const {
  const toml::node* n = node(key);
  if (auto it = children_->find(child_path(key)); it != children_->end()) return it->second;
  Config child;
  if (n) {
    const toml::table* t = n->as_table();
    if (!t)
      throw ConfigError(where(file_, n->source()), child_path(key),
                        "expected table, got " + toml_type_name(*n));
    child = Config(t, file_, child_path(key));
  } else {
    child = Config(nullptr, file_, child_path(key));
  }
  child.owner_ = owner_;
  children_->emplace(child.key_path_, child);
  return child;
}

std::vector<Config> Config::tables(const std::string& key) const {
  const toml::node* n = node(key);
  std::vector<Config> out;
  if (!n) return out;
  const toml::array* arr = n->as_array();
  if (!arr)
    throw ConfigError(where(file_, n->source()), child_path(key),
                      "expected array of tables, got " + toml_type_name(*n));
  for (std::size_t i = 0; i < arr->size(); ++i) {
    const toml::table* t = (*arr)[i].as_table();
    std::string path = child_path(key) + "[" + std::to_string(i) + "]";
    if (auto it = children_->find(path); it != children_->end()) {
      out.push_back(it->second);
      continue;
    }
    if (!t)
      throw ConfigError(where(file_, (*arr)[i].source()), path,
                        "expected table, got " + toml_type_name((*arr)[i]));
    Config child(t, file_, path);
    child.owner_ = owner_;
    children_->emplace(path, child);
    out.push_back(child);
  }
  return out;
}

std::vector<std::string> Config::keys() const {
  std::vector<std::pair<toml::source_position, std::string>> ordered;
  if (table_)
    for (const auto& [k, v] : *table_) ordered.emplace_back(v.source().begin, std::string(k.str()));
  std::stable_sort(ordered.begin(), ordered.end(), [](const auto& a, const auto& b) {
    return a.first.line != b.first.line ? a.first.line < b.first.line
                                        : a.first.column < b.first.column;
  });
  std::vector<std::string> out;
  for (auto& [pos, k] : ordered) out.push_back(k);
  return out;
}

std::vector<Config::UnknownKey> Config::unknown_keys() const {
  std::vector<UnknownKey> out;
  if (!table_) return out;
  std::vector<std::string> declared(declared_->begin(), declared_->end());
  for (const auto& key : keys()) {
    if (declared_->count(key)) continue;
    const toml::node* n = table_->get(key);
    // A key's own location is where its key token starts; toml++ gives the key's source.
    auto k = table_->find(key);
    toml::source_region region = k != table_->end() ? k->first.source() : n->source();
    if (!region.begin) region = n->source();
    out.push_back({child_path(key), where(file_, region), closest_match(key, declared)});
  }
  for (const auto& [path, child] : *children_) {
    auto nested = child.unknown_keys();
    out.insert(out.end(), nested.begin(), nested.end());
  }
  return out;
}

void Config::check_no_unknown_keys() const {
  auto unknown = unknown_keys();
  if (unknown.empty()) return;
  const auto& first = unknown.front();
  std::string msg = "unknown key";
  if (!first.suggestion.empty()) msg += " (did you mean '" + first.suggestion + "'?)";
  if (unknown.size() > 1)
    msg += " (and " + std::to_string(unknown.size() - 1) + " more unknown keys)";
  throw ConfigError(first.location, first.key_path, msg);
}

std::string Config::location(const std::string& key) const {
  if (!key.empty() && table_) {
    if (const toml::node* n = table_->get(key)) return where(file_, n->source());
  }
  if (table_) return where(file_, table_->source());
  return file_;
}

void Config::fail(const std::string& key, const std::string& message) const {
  throw ConfigError(location(key), key.empty() ? key_path_ : child_path(key), message);
}

std::size_t edit_distance(const std::string& a, const std::string& b) {
  // Optimal string alignment: insertions, deletions, substitutions and transpositions of two
  // adjacent letters each cost 1, so the common typo "stpes" is one edit from "steps".
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i)
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[a.size()][b.size()];
}

std::string closest_match(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best;
  std::size_t best_d = std::string::npos;
  for (const auto& c : candidates) {
    std::size_t d = edit_distance(word, c);
    if (d < best_d) best_d = d, best = c;
  }
  // A plausible typo: at most a third of the word's letters differ (at least 1, at most 3).
  std::size_t limit = std::max<std::size_t>(1, std::min<std::size_t>(3, word.size() / 3));
  return best_d <= limit ? best : std::string();
}

std::string toml_type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::table:
      return "table";
    case toml::node_type::array:
      return "array";
    case toml::node_type::string:
      return "string";
    case toml::node_type::integer:
      return "integer";
    case toml::node_type::floating_point:
      return "float";
    case toml::node_type::boolean:
      return "boolean";
    case toml::node_type::date:
      return "date";
    case toml::node_type::time:
      return "time";
    case toml::node_type::date_time:
      return "date-time";
    default:
      return "nothing";
  }
}

}  // namespace rlhf
