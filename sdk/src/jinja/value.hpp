// The values a chat template computes with (sdk/src/jinja/render.cpp): Python's None, bool,
// int, float, str, list and dict as Jinja2 sees them, plus Jinja's Undefined and namespace().
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace rlhf::jinja {

struct Value;
using List = std::vector<Value>;
// Insertion-ordered like a Python dict, so tojson writes keys in the order they were given.
using Dict = std::vector<std::pair<std::string, Value>>;

struct Value {
  enum class Kind { undefined, none, boolean, integer, floating, string, list, dict, ns };
  Kind kind = Kind::undefined;
  bool b = false;
  std::int64_t i = 0;
  double f = 0;
  std::string s;
  std::shared_ptr<List> list;  // list
  std::shared_ptr<Dict> dict;  // dict and namespace (a namespace is mutable, shared by reference)

  static Value none() { return make(Kind::none); }
  static Value boolean(bool v) {
    Value x = make(Kind::boolean);
    x.b = v;
    return x;
  }
  static Value integer(std::int64_t v) {
    Value x = make(Kind::integer);
    x.i = v;
    return x;
  }
  static Value floating(double v) {
    Value x = make(Kind::floating);
    x.f = v;
    return x;
  }
  static Value string(std::string v) {
    Value x = make(Kind::string);
    x.s = std::move(v);
    return x;
  }
  static Value of_list(List v) {
    Value x = make(Kind::list);
    x.list = std::make_shared<List>(std::move(v));
    return x;
  }
  static Value of_dict(Dict v, Kind kind = Kind::dict) {
    Value x = make(kind);
    x.dict = std::make_shared<Dict>(std::move(v));
    return x;
  }

  bool is_undefined() const { return kind == Kind::undefined; }
  bool is_number() const { return kind == Kind::integer || kind == Kind::floating; }
  double number() const { return kind == Kind::floating ? f : static_cast<double>(i); }
  // A dict's or namespace's entry, nullptr when absent.
  const Value* find(const std::string& key) const;

 private:
  static Value make(Kind k) {
    Value x;
    x.kind = k;
    return x;
  }
};

// Python's truth value (empty string/list/dict, 0, None and Undefined are false).
bool truthy(const Value& v);
// Python's == (1 == 1.0, lists and dicts element by element).
bool equal(const Value& a, const Value& b);
// What {{ v }} writes: str(v) in Python (None → "None", lists as their repr), Undefined → "".
std::string to_output(const Value& v);
// Python's repr(v) ('text' quoted), used inside lists and dicts.
std::string repr(const Value& v);
// json.dumps(v, ensure_ascii=False, indent=indent) as transformers' tojson filter writes it
// (indent < 0: one line with ", " and ": " separators).
std::string to_json(const Value& v, int indent = -1);
// A string's characters as Python counts them (code points; each as its UTF-8 bytes): length,
// indices, slices and reversal work on these.
std::vector<std::string> utf8_chars(const std::string& s);
// The type's name in error messages ("string", "list", ...).
std::string kind_name(const Value& v);

}  // namespace rlhf::jinja
