#include "set_override.hpp"

#include <toml++/toml.h>

#include "rlhf/config.hpp"
#include "rlhf/error.hpp"

namespace rlhf::host {
namespace {

std::vector<std::string> split(const std::string& path, char sep) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (true) {
    auto end = path.find(sep, start);
    parts.push_back(path.substr(start, end - start));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return parts;
}

// The text as a TOML value, or nullopt if it is not one.
std::optional<toml::table> parse_value(const std::string& text) {
  try {
    return toml::parse("v = " + text);
  } catch (const toml::parse_error&) {
    return std::nullopt;
  }
}

std::string unquote(const std::string& text) {
  if (text.size() >= 2 && (text.front() == '"' || text.front() == '\'') &&
      text.back() == text.front())
    if (auto parsed = parse_value(text); parsed && (*parsed)["v"].is_string())
      return *(*parsed)["v"].value<std::string>();
  return text;
}

// Finds the [[stage]] named `name`.
toml::table& stage_named(toml::table& document, const std::string& name, const std::string& what) {
  std::vector<std::string> names;
  if (auto* stages = document["stage"].as_array())
    for (auto& element : *stages)
      if (auto* stage = element.as_table()) {
        auto stage_name = (*stage)["name"].value<std::string>();
        if (stage_name && *stage_name == name) return *stage;
        if (stage_name) names.push_back(*stage_name);
      }
  std::string known;
  for (const auto& n : names) known += (known.empty() ? "" : ", ") + n;
  throw Error("--set " + what + ": no [[stage]] named '" + name +
              "' (stages: " + (known.empty() ? "none" : known) + ")");
}

}  // namespace

void apply_override(toml::table& document, const std::string& assignment) {
  auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    throw Error("--set " + assignment + ": expected table.key=value");
  const std::string path = assignment.substr(0, eq);
  const std::string text = assignment.substr(eq + 1);
  auto parts = split(path, '.');
  for (const auto& p : parts)
    if (p.empty()) throw Error("--set " + assignment + ": empty name in key path '" + path + "'");
  if (parts.size() < 2)
    throw Error("--set " + assignment + ": expected table.key=value (e.g. run.seed=7)");

  toml::table* table = &document;
  std::size_t i = 0;
  if (parts[0] == "stage") {
    if (parts.size() < 3)
      throw Error("--set " + assignment + ": stage keys are set as stage.<name>.<key>=value");
    table = &stage_named(document, parts[1], assignment);
    i = 2;
  }
  for (; i + 1 < parts.size(); ++i) {
    toml::node* next = table->get(parts[i]);
    if (!next) {
      table->insert(parts[i], toml::table{});
      next = table->get(parts[i]);
    }
    if (!next->is_table())
      throw Error("--set " + assignment + ": '" + parts[i] + "' is a " + toml_type_name(*next) +
                  ", not a table");
    table = next->as_table();
  }
  const std::string& key = parts.back();
  toml::node* existing = table->get(key);
  auto fail_type = [&](const char* expected) {
    throw Error("--set " + assignment + ": expected " + expected +
                " (the type of the value it replaces), got '" + text + "'");
  };

  if (!existing) {
    auto parsed = parse_value(text);
    if (parsed && !(*parsed)["v"].is_table())
      parsed->get("v")->visit([&](const auto& value) { table->insert(key, value); });
    else
      table->insert(key, text);
    return;
  }
  switch (existing->type()) {
    case toml::node_type::string:
      table->insert_or_assign(key, unquote(text));
      break;
    case toml::node_type::integer: {
      auto parsed = parse_value(text);
      if (!parsed || !(*parsed)["v"].is_integer()) fail_type("integer");
      table->insert_or_assign(key, *(*parsed)["v"].value<std::int64_t>());
      break;
    }
    case toml::node_type::floating_point: {
      auto parsed = parse_value(text);
      if (!parsed || !(*parsed)["v"].is_number()) fail_type("float");
      table->insert_or_assign(key, *(*parsed)["v"].value<double>());
      break;
    }
    case toml::node_type::boolean: {
      if (text != "true" && text != "false") fail_type("boolean (true or false)");
      table->insert_or_assign(key, text == "true");
      break;
    }
    case toml::node_type::array: {
      auto parsed = parse_value(text);
      if (!parsed || !(*parsed)["v"].is_array()) fail_type("array (e.g. [\"a\", \"b\"])");
      table->insert_or_assign(key, *(*parsed)["v"].as_array());
      break;
    }
    default:
      throw Error("--set " + assignment + ": '" + path + "' is a " + toml_type_name(*existing) +
                  "; set its keys one by one (" + path + ".<key>=value)");
  }
}

}  // namespace rlhf::host
