#include "jsonl_columns.hpp"

#include "rlhf/config.hpp"

namespace rlhf::jsonl {

namespace {

std::string* field_of(Columns& c, const std::string& role) {
  if (role == "prompt") return &c.prompt;
  if (role == "chosen") return &c.chosen;
  if (role == "rejected") return &c.rejected;
  if (role == "completion") return &c.completion;
  if (role == "messages") return &c.messages;
  if (role == "text") return &c.text;
  if (role == "label") return &c.label;
  if (role == "margin") return &c.margin;
  return nullptr;
}

}  // namespace

const std::vector<std::string>& column_roles() {
  static const std::vector<std::string> kRoles = {"prompt",   "chosen", "rejected", "completion",
                                                  "messages", "text",   "label",    "margin"};
  return kRoles;
}

bool Columns::reads(const std::string& field) const {
  for (const auto* f :
       {&prompt, &chosen, &rejected, &completion, &messages, &text, &label, &margin})
    if (!f->empty() && *f == field) return true;
  return false;
}

Columns read_columns(const Config& table, const Columns& fallback) {
  if (!table.has("columns")) return fallback;
  const Config columns = table.table("columns");
  Columns out;
  std::string roles;
  for (const auto& r : column_roles()) roles += (roles.empty() ? "" : ", ") + r;
  for (const auto& role : columns.keys()) {
    std::string* field = field_of(out, role);
    if (!field) {
      const std::string near = closest_match(role, column_roles());
      columns.fail(role, "unknown role '" + role + "'" +
                             (near.empty() ? "" : " (did you mean '" + near + "'?)") +
                             "; roles: " + roles);
    }
    const auto name = columns.require<std::string>(role);
    if (name.empty()) columns.fail(role, "expected the name of a field, got an empty string");
    for (const auto& [other, other_field] : out.mapped)
      if (other_field == name)
        columns.fail(role, "field '" + name + "' is already read as '" + other + "'");
    out.mapped.emplace_back(role, name);
  }
  // A role whose own name is now another role's field is read only when mapped itself.
  for (const auto& role : column_roles()) {
    std::string* field = field_of(out, role);
    bool is_mapped = false;
    for (const auto& [r, f] : out.mapped) is_mapped |= r == role;
    if (is_mapped) continue;
    for (const auto& [r, f] : out.mapped)
      if (f == *field) field->clear();
  }
  for (const auto& [role, name] : out.mapped) *field_of(out, role) = name;
  return out;
}

}  // namespace rlhf::jsonl
