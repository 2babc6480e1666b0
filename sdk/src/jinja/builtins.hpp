// The filters, tests, methods and global functions chat templates call, with Jinja2's and
// Python's meaning (sdk/src/jinja/builtins.cpp). The parser refuses every other name.
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "value.hpp"

namespace rlhf::jinja {

using Kwargs = std::vector<std::pair<std::string, Value>>;

bool is_filter(const std::string& name);
bool is_test(const std::string& name);
bool is_method(const std::string& name);
bool is_global_function(const std::string& name);

// Each throws std::runtime_error with the reason; render.cpp adds the template's line.
Value apply_filter(const std::string& name, const Value& subject, const std::vector<Value>& args,
                   const Kwargs& kwargs);
bool apply_test(const std::string& name, const Value& subject, const std::vector<Value>& args);
Value call_method(const Value& object, const std::string& name, const std::vector<Value>& args);
Value call_global(const std::string& name, const std::vector<Value>& args, const Kwargs& kwargs);

// What a for loop walks: a list's items, a dict's keys, a string's characters; Undefined: none.
List iterate(const Value& v);
// The attribute `name` of `object` (a dict's key first, as Jinja2's getattr does).
Value get_attr(const Value& object, const std::string& name);
// object[key] (negative list and string indices count from the end); Undefined when absent.
Value get_item(const Value& object, const Value& key);

}  // namespace rlhf::jinja
