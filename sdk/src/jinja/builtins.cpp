// Jinja2's filters and tests and Python's str/dict methods, as far as chat templates use them
// (sdk/src/jinja/builtins.hpp).
#include "builtins.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <set>
#include <stdexcept>

namespace rlhf::jinja {

namespace {

using std::runtime_error;

const std::set<std::string> kFilters = {
    "trim", "length",  "count", "tojson", "list",       "selectattr", "rejectattr",
    "map",  "join",    "upper", "lower",  "default",    "d",          "first",
    "last", "string",  "int",   "float",  "capitalize", "title",      "replace",
    "safe", "reverse", "items", "abs"};
const std::set<std::string> kTests = {"defined",  "undefined", "none",    "string",      "number",
                                      "integer",  "float",     "boolean", "mapping",     "iterable",
                                      "sequence", "true",      "false",   "equalto",     "eq",
                                      "ne",       "odd",       "even",    "divisibleby", "in"};
const std::set<std::string> kMethods = {
    "strip",   "lstrip", "rstrip",     "startswith", "endswith", "split", "upper",  "lower",
    "replace", "title",  "capitalize", "find",       "items",    "keys",  "values", "get"};
const std::set<std::string> kGlobals = {"raise_exception", "namespace", "range", "dict"};

const char* const kWhitespace = " \t\n\r\f\v\x1c\x1d\x1e\x1f";

const std::string& str(const Value& v, const char* what) {
  if (v.kind != Value::Kind::string)
    throw runtime_error(std::string(what) + " expects a string, got " + kind_name(v));
  return v.s;
}

std::string strip(const std::string& s, const std::vector<Value>& args, bool left, bool right) {
  const std::string chars =
      args.empty() || args[0].kind == Value::Kind::none ? kWhitespace : str(args[0], "strip");
  std::size_t b = 0, e = s.size();
  if (left)
    while (b < e && chars.find(s[b]) != std::string::npos) ++b;
  if (right)
    while (e > b && chars.find(s[e - 1]) != std::string::npos) --e;
  return s.substr(b, e - b);
}

std::string map_chars(std::string s, int (*f)(int)) {
  for (char& c : s) c = static_cast<char>(f(static_cast<unsigned char>(c)));
  return s;
}

// Jinja2's title filter: a word starts after whitespace, "-", "(", "{", "[" or "<"; Python's
// str.title(): after any non-letter (bytes of non-ASCII characters count as letters).
std::string title(std::string s, bool jinja_filter) {
  bool start = true;
  for (char& c : s) {
    const auto u = static_cast<unsigned char>(c);
    c = static_cast<char>(start ? std::toupper(u) : std::tolower(u));
    start = jinja_filter ? (std::isspace(u) || std::strchr("-({[<", c) != nullptr)
                         : !(std::isalpha(u) || u >= 0x80);
  }
  return s;
}

std::string replace(std::string s, const std::string& from, const std::string& to) {
  if (from.empty()) return s;
  for (std::size_t at = 0; (at = s.find(from, at)) != std::string::npos; at += to.size())
    s.replace(at, from.size(), to);
  return s;
}

// Items a for loop or a filter walks: a list's elements, a dict's keys, a string's characters.
List items_of(const Value& v) {
  switch (v.kind) {
    case Value::Kind::list:
      return *v.list;
    case Value::Kind::dict: {
      List keys;
      for (const auto& kv : *v.dict) keys.push_back(Value::string(kv.first));
      return keys;
    }
    case Value::Kind::string: {
      List chars;
      for (auto& c : utf8_chars(v.s)) chars.push_back(Value::string(std::move(c)));
      return chars;
    }
    case Value::Kind::undefined:
      return {};
    default:
      throw runtime_error(kind_name(v) + " is not iterable");
  }
}

Value dict_items(const Value& v) {
  List out;
  for (const auto& [k, x] : *v.dict) out.push_back(Value::of_list({Value::string(k), x}));
  return Value::of_list(out);
}

const Value* kwarg(const Kwargs& kwargs, const char* name) {
  for (const auto& [k, v] : kwargs)
    if (k == name) return &v;
  return nullptr;
}

std::int64_t as_int(const Value& v, const char* what) {
  if (v.kind == Value::Kind::integer) return v.i;
  if (v.kind == Value::Kind::boolean) return v.b;
  throw runtime_error(std::string(what) + " expects an integer, got " + kind_name(v));
}

}  // namespace

List iterate(const Value& v) { return items_of(v); }

bool is_filter(const std::string& name) { return kFilters.count(name) != 0; }
bool is_test(const std::string& name) { return kTests.count(name) != 0; }
bool is_method(const std::string& name) { return kMethods.count(name) != 0; }
bool is_global_function(const std::string& name) { return kGlobals.count(name) != 0; }

Value get_attr(const Value& object, const std::string& name) {
  if (const Value* v = object.find(name)) return *v;
  if (object.is_undefined()) throw runtime_error("'" + name + "' of an undefined value");
  return Value();
}

Value get_item(const Value& object, const Value& key) {
  if (object.kind == Value::Kind::dict || object.kind == Value::Kind::ns) {
    if (key.kind == Value::Kind::string)
      if (const Value* v = object.find(key.s)) return *v;
    return Value();
  }
  if (object.kind == Value::Kind::list || object.kind == Value::Kind::string) {
    if (key.kind != Value::Kind::integer) return Value();
    const List items = items_of(object);
    const auto n = static_cast<std::int64_t>(items.size());
    const std::int64_t k = key.i < 0 ? key.i + n : key.i;
    if (k < 0 || k >= n) return Value();
    return items[static_cast<std::size_t>(k)];
  }
  if (object.is_undefined()) throw runtime_error("indexing an undefined value");
  return Value();
}

bool apply_test(const std::string& name, const Value& v, const std::vector<Value>& args) {
  using K = Value::Kind;
  if (name == "defined") return !v.is_undefined();
  if (name == "undefined") return v.is_undefined();
  if (name == "none") return v.kind == K::none;
  if (name == "string") return v.kind == K::string;
  if (name == "number") return v.is_number();
  if (name == "integer") return v.kind == K::integer;
  if (name == "float") return v.kind == K::floating;
  if (name == "boolean") return v.kind == K::boolean;
  if (name == "mapping") return v.kind == K::dict;
  if (name == "iterable") return v.kind == K::list || v.kind == K::dict || v.kind == K::string;
  if (name == "sequence") return v.kind == K::list || v.kind == K::dict || v.kind == K::string;
  if (name == "true") return v.kind == K::boolean && v.b;
  if (name == "false") return v.kind == K::boolean && !v.b;
  if (name == "odd") return as_int(v, "odd") % 2 != 0;
  if (name == "even") return as_int(v, "even") % 2 == 0;
  if (args.size() != 1) throw runtime_error("test '" + name + "' takes one argument");
  if (name == "equalto" || name == "eq") return equal(v, args[0]);
  if (name == "ne") return !equal(v, args[0]);
  if (name == "in") {
    for (const Value& x : items_of(args[0]))
      if (equal(x, v)) return true;
    return false;
  }
  if (name == "divisibleby") return as_int(v, "divisibleby") % as_int(args[0], "divisibleby") == 0;
  throw runtime_error("unsupported test '" + name + "'");
}

Value apply_filter(const std::string& name, const Value& v, const std::vector<Value>& args,
                   const Kwargs& kwargs) {
  using K = Value::Kind;
  if (name == "trim") return Value::string(strip(str(v, "trim"), args, true, true));
  if (name == "length" || name == "count") {
    if (v.kind == K::string)
      return Value::integer(static_cast<std::int64_t>(utf8_chars(v.s).size()));
    return Value::integer(static_cast<std::int64_t>(items_of(v).size()));
  }
  if (name == "tojson") {
    const Value* indent = kwarg(kwargs, "indent");
    if (!indent && !args.empty()) indent = &args[0];
    return Value::string(to_json(v, indent && indent->kind != K::none
                                        ? static_cast<int>(as_int(*indent, "tojson indent"))
                                        : -1));
  }
  if (name == "list") return Value::of_list(items_of(v));
  if (name == "items") return v.is_undefined() ? Value::of_list({}) : dict_items(v);
  if (name == "selectattr" || name == "rejectattr") {
    if (args.empty() || args[0].kind != K::string)
      throw runtime_error(name + " needs an attribute name");
    const std::vector<Value> test_args(args.size() > 2 ? args.begin() + 2 : args.end(), args.end());
    List out;
    for (const Value& x : items_of(v)) {
      const Value a = get_attr(x, args[0].s);
      bool pass =
          args.size() < 2 ? truthy(a) : apply_test(str(args[1], name.c_str()), a, test_args);
      if (pass == (name == "selectattr")) out.push_back(x);
    }
    return Value::of_list(out);
  }
  if (name == "map") {
    List out;
    const Value* attribute = kwarg(kwargs, "attribute");
    for (const Value& x : items_of(v)) {
      if (attribute) {
        Value a = get_attr(x, str(*attribute, "map"));
        if (a.is_undefined())
          if (const Value* d = kwarg(kwargs, "default")) a = *d;
        out.push_back(a);
      } else if (!args.empty()) {
        out.push_back(apply_filter(str(args[0], "map"), x,
                                   std::vector<Value>(args.begin() + 1, args.end()), {}));
      } else {
        throw runtime_error("map needs a filter name or attribute=");
      }
    }
    return Value::of_list(out);
  }
  if (name == "join") {
    const std::string sep = args.empty() ? "" : str(args[0], "join");
    std::string out;
    bool first = true;
    for (const Value& x : items_of(v)) {
      if (!first) out += sep;
      out += to_output(x);
      first = false;
    }
    return Value::string(out);
  }
  if (name == "upper")
    return Value::string(map_chars(str(v, "upper"), [](int c) { return std::toupper(c); }));
  if (name == "lower")
    return Value::string(map_chars(str(v, "lower"), [](int c) { return std::tolower(c); }));
  if (name == "capitalize") {
    std::string s = map_chars(str(v, "capitalize"), [](int c) { return std::tolower(c); });
    if (!s.empty()) s[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(s[0])));
    return Value::string(s);
  }
  if (name == "title") return Value::string(title(str(v, "title"), true));
  if (name == "replace") {
    if (args.size() < 2) throw runtime_error("replace needs two arguments");
    return Value::string(replace(to_output(v), str(args[0], "replace"), str(args[1], "replace")));
  }
  if (name == "default" || name == "d") {
    const bool boolean = (args.size() > 1 && truthy(args[1])) ||
                         (kwarg(kwargs, "boolean") && truthy(*kwarg(kwargs, "boolean")));
    const bool use_default = v.is_undefined() || (boolean && !truthy(v));
    return use_default ? (args.empty() ? Value::string("") : args[0]) : v;
  }
  if (name == "first" || name == "last") {
    const List xs = items_of(v);
    if (xs.empty()) return Value();
    return name == "first" ? xs.front() : xs.back();
  }
  if (name == "reverse") {
    if (v.kind == K::string) {
      std::vector<std::string> chars = utf8_chars(v.s);
      std::string out;
      for (auto c = chars.rbegin(); c != chars.rend(); ++c) out += *c;
      return Value::string(out);
    }
    List xs = items_of(v);
    std::reverse(xs.begin(), xs.end());
    return Value::of_list(xs);
  }
  if (name == "string") return Value::string(to_output(v));
  if (name == "safe") return v;
  if (name == "int") {
    if (v.kind == K::floating) return Value::integer(static_cast<std::int64_t>(v.f));
    if (v.kind == K::string) {
      try {
        return Value::integer(std::stoll(v.s));
      } catch (const std::exception&) {
        return Value::integer(0);
      }
    }
    return Value::integer(v.kind == K::integer ? v.i : v.kind == K::boolean ? v.b : 0);
  }
  if (name == "float") {
    if (v.kind == K::string) {
      try {
        return Value::floating(std::stod(v.s));
      } catch (const std::exception&) {
        return Value::floating(0);
      }
    }
    return Value::floating(v.is_number() ? v.number() : v.kind == K::boolean ? v.b : 0);
  }
  if (name == "abs") {
    if (v.kind == K::integer) return Value::integer(v.i < 0 ? -v.i : v.i);
    if (v.kind == K::floating) return Value::floating(std::fabs(v.f));
    throw runtime_error("abs expects a number, got " + kind_name(v));
  }
  throw runtime_error("unsupported filter '" + name + "'");
}

Value call_method(const Value& o, const std::string& name, const std::vector<Value>& args) {
  if (o.kind == Value::Kind::string) {
    const std::string& s = o.s;
    if (name == "strip") return Value::string(strip(s, args, true, true));
    if (name == "lstrip") return Value::string(strip(s, args, true, false));
    if (name == "rstrip") return Value::string(strip(s, args, false, true));
    if (name == "upper") return apply_filter("upper", o, {}, {});
    if (name == "lower") return apply_filter("lower", o, {}, {});
    if (name == "title") return Value::string(title(s, false));
    if (name == "capitalize") return apply_filter("capitalize", o, {}, {});
    if (name == "startswith" || name == "endswith") {
      if (args.size() != 1) throw runtime_error(name + " takes one argument");
      List candidates = args[0].kind == Value::Kind::list ? *args[0].list : List{args[0]};
      for (const Value& c : candidates) {
        const std::string& p = str(c, name.c_str());
        if (p.size() <= s.size() &&
            (name == "startswith" ? s.compare(0, p.size(), p) == 0
                                  : s.compare(s.size() - p.size(), p.size(), p) == 0))
          return Value::boolean(true);
      }
      return Value::boolean(false);
    }
    if (name == "replace") {
      if (args.size() != 2) throw runtime_error("replace takes two arguments");
      return Value::string(replace(s, str(args[0], "replace"), str(args[1], "replace")));
    }
    if (name == "find") {
      if (args.size() != 1) throw runtime_error("find takes one argument");
      const std::size_t at = s.find(str(args[0], "find"));
      if (at == std::string::npos) return Value::integer(-1);
      return Value::integer(static_cast<std::int64_t>(utf8_chars(s.substr(0, at)).size()));
    }
    if (name == "split") {
      List out;
      if (args.empty() || args[0].kind == Value::Kind::none) {
        std::size_t k = 0;
        for (;;) {
          k = s.find_first_not_of(kWhitespace, k);
          if (k == std::string::npos) break;
          const std::size_t e = std::min(s.find_first_of(kWhitespace, k), s.size());
          out.push_back(Value::string(s.substr(k, e - k)));
          k = e;
        }
      } else {
        const std::string& sep = str(args[0], "split");
        if (sep.empty()) throw runtime_error("split: empty separator");
        std::size_t k = 0;
        for (std::size_t at; (at = s.find(sep, k)) != std::string::npos; k = at + sep.size())
          out.push_back(Value::string(s.substr(k, at - k)));
        out.push_back(Value::string(s.substr(k)));
      }
      return Value::of_list(out);
    }
  }
  if (o.kind == Value::Kind::dict) {
    if (name == "items") return dict_items(o);
    if (name == "keys") return Value::of_list(items_of(o));
    if (name == "values") {
      List out;
      for (const auto& kv : *o.dict) out.push_back(kv.second);
      return Value::of_list(out);
    }
    if (name == "get") {
      if (args.empty() || args[0].kind != Value::Kind::string)
        throw runtime_error("get needs a key");
      if (const Value* v = o.find(args[0].s)) return *v;
      return args.size() > 1 ? args[1] : Value::none();
    }
  }
  throw runtime_error(kind_name(o) + " has no method '" + name + "'");
}

Value call_global(const std::string& name, const std::vector<Value>& args, const Kwargs& kwargs) {
  if (name == "raise_exception")
    throw runtime_error("the template raised an exception: " +
                        (args.empty() ? std::string() : to_output(args[0])));
  if (name == "namespace" || name == "dict") {
    Dict d;
    for (const auto& kv : kwargs) d.push_back(kv);
    return Value::of_dict(d, name == "namespace" ? Value::Kind::ns : Value::Kind::dict);
  }
  if (name == "range") {
    if (args.empty() || args.size() > 3) throw runtime_error("range takes 1 to 3 arguments");
    std::int64_t start = 0, stop = 0, step = 1;
    if (args.size() == 1) {
      stop = as_int(args[0], "range");
    } else {
      start = as_int(args[0], "range");
      stop = as_int(args[1], "range");
      if (args.size() == 3) step = as_int(args[2], "range");
    }
    if (step == 0) throw runtime_error("range: step is zero");
    List out;
    for (std::int64_t k = start; step > 0 ? k < stop : k > stop; k += step)
      out.push_back(Value::integer(k));
    return Value::of_list(out);
  }
  throw runtime_error("unsupported function '" + name + "'");
}

}  // namespace rlhf::jinja
