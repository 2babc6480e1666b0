// Python semantics of the chat-template values (sdk/src/jinja/value.hpp).
#include "value.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace rlhf::jinja {

const Value* Value::find(const std::string& key) const {
  if (!dict) return nullptr;
  for (const auto& [k, v] : *dict)
    if (k == key) return &v;
  return nullptr;
}

bool truthy(const Value& v) {
  switch (v.kind) {
    case Value::Kind::undefined:
    case Value::Kind::none:
      return false;
    case Value::Kind::boolean:
      return v.b;
    case Value::Kind::integer:
      return v.i != 0;
    case Value::Kind::floating:
      return v.f != 0;
    case Value::Kind::string:
      return !v.s.empty();
    case Value::Kind::list:
      return !v.list->empty();
    case Value::Kind::dict:
      return !v.dict->empty();
    case Value::Kind::ns:
      return true;
  }
  return false;
}

bool equal(const Value& a, const Value& b) {
  const bool a_num = a.is_number() || a.kind == Value::Kind::boolean;
  const bool b_num = b.is_number() || b.kind == Value::Kind::boolean;
  if (a_num && b_num) {
    auto n = [](const Value& v) {
      return v.kind == Value::Kind::boolean ? (v.b ? 1.0 : 0.0) : v.number();
    };
    return n(a) == n(b);
  }
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case Value::Kind::string:
      return a.s == b.s;
    case Value::Kind::list:
      if (a.list->size() != b.list->size()) return false;
      for (std::size_t k = 0; k < a.list->size(); ++k)
        if (!equal((*a.list)[k], (*b.list)[k])) return false;
      return true;
    case Value::Kind::dict:
      if (a.dict->size() != b.dict->size()) return false;
      for (const auto& [k, v] : *a.dict) {
        const Value* other = b.find(k);
        if (!other || !equal(v, *other)) return false;
      }
      return true;
    case Value::Kind::ns:
      return a.dict == b.dict;
    default:
      return true;  // None == None, Undefined == Undefined
  }
}

namespace {

// Python's repr(float): the shortest digits that read back as the same double.
std::string float_repr(double x) {
  if (std::isnan(x)) return "nan";
  if (std::isinf(x)) return x > 0 ? "inf" : "-inf";
  char buf[40];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, x);
    if (std::strtod(buf, nullptr) == x) break;
  }
  std::string s = buf;
  if (s.find_first_of(".en") == std::string::npos) s += ".0";
  return s;
}

std::string quote_python(const std::string& s) {
  const char q = s.find('\'') != std::string::npos && s.find('"') == std::string::npos ? '"' : '\'';
  std::string out(1, q);
  for (char c : s) {
    if (c == '\\' || c == q) {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else {
      out += c;
    }
  }
  return out + q;
}

std::string quote_json(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

void json_into(std::string& out, const Value& v, int indent, int depth) {
  const auto newline = [&](int d) {
    if (indent >= 0) out += "\n" + std::string(static_cast<std::size_t>(indent * d), ' ');
  };
  const char* item_sep = indent >= 0 ? "," : ", ";
  switch (v.kind) {
    case Value::Kind::undefined:
    case Value::Kind::none:
      out += "null";
      return;
    case Value::Kind::boolean:
      out += v.b ? "true" : "false";
      return;
    case Value::Kind::integer:
      out += std::to_string(v.i);
      return;
    case Value::Kind::floating:
      out += std::isnan(v.f)   ? "NaN"
             : std::isinf(v.f) ? (v.f > 0 ? "Infinity" : "-Infinity")
                               : float_repr(v.f);
      return;
    case Value::Kind::string:
      out += quote_json(v.s);
      return;
    case Value::Kind::list:
      if (v.list->empty()) {
        out += "[]";
        return;
      }
      out += "[";
      for (std::size_t k = 0; k < v.list->size(); ++k) {
        if (k) out += item_sep;
        newline(depth + 1);
        json_into(out, (*v.list)[k], indent, depth + 1);
      }
      newline(depth);
      out += "]";
      return;
    case Value::Kind::dict:
    case Value::Kind::ns:
      if (v.dict->empty()) {
        out += "{}";
        return;
      }
      out += "{";
      for (std::size_t k = 0; k < v.dict->size(); ++k) {
        if (k) out += item_sep;
        newline(depth + 1);
        out += quote_json((*v.dict)[k].first) + ": ";
        json_into(out, (*v.dict)[k].second, indent, depth + 1);
      }
      newline(depth);
      out += "}";
      return;
  }
}

}  // namespace

std::string repr(const Value& v) {
  switch (v.kind) {
    case Value::Kind::string:
      return quote_python(v.s);
    case Value::Kind::list: {
      std::string out = "[";
      for (std::size_t k = 0; k < v.list->size(); ++k) out += (k ? ", " : "") + repr((*v.list)[k]);
      return out + "]";
    }
    case Value::Kind::dict: {
      std::string out = "{";
      for (std::size_t k = 0; k < v.dict->size(); ++k)
        out +=
            (k ? ", " : "") + quote_python((*v.dict)[k].first) + ": " + repr((*v.dict)[k].second);
      return out + "}";
    }
    default:
      return to_output(v);
  }
}

std::string to_output(const Value& v) {
  switch (v.kind) {
    case Value::Kind::undefined:
      return "";
    case Value::Kind::none:
      return "None";
    case Value::Kind::boolean:
      return v.b ? "True" : "False";
    case Value::Kind::integer:
      return std::to_string(v.i);
    case Value::Kind::floating:
      return float_repr(v.f);
    case Value::Kind::string:
      return v.s;
    case Value::Kind::ns:
      return "<Namespace>";
    default:
      return repr(v);
  }
}

std::string to_json(const Value& v, int indent) {
  std::string out;
  json_into(out, v, indent, 0);
  return out;
}

std::vector<std::string> utf8_chars(const std::string& s) {
  std::vector<std::string> out;
  for (std::size_t k = 0; k < s.size();) {
    const auto c = static_cast<unsigned char>(s[k]);
    std::size_t n = c < 0x80           ? 1
                    : (c >> 5) == 0x6  ? 2
                    : (c >> 4) == 0xE  ? 3
                    : (c >> 3) == 0x1E ? 4
                                       : 1;
    n = std::min(n, s.size() - k);
    out.push_back(s.substr(k, n));
    k += n;
  }
  return out;
}

std::string kind_name(const Value& v) {
  static const char* const names[] = {"undefined", "none", "boolean", "integer",  "float",
                                      "string",    "list", "dict",    "namespace"};
  return names[static_cast<int>(v.kind)];
}

}  // namespace rlhf::jinja
