// Column mapping: which JSON field of a record plays which part (role) of an Example.
//
//   data = { plugin = "jsonl", path = "x.jsonl",
//            columns = { prompt = "question", chosen = "answer_good", rejected = "answer_bad" } }
//
// Roles: prompt, chosen, rejected, completion, messages, text, label, margin. An unmapped role is
// read from the field of its own name. A mapped field must be present in every record (a record
// without it is an error naming the field and file:line), and a field is read for one role
// only: mapping a role onto another role's name ("prompt = \"text\"") stops that other role
// being read unless it is mapped too (so swapping, chosen = "rejected" and rejected = "chosen",
// works). A field that no role reads is an extra field (Example::fields when it is a scalar).
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace rlhf {
class Config;
}

namespace rlhf::jsonl {

struct Columns {
  // The field read for each role; empty: the role is not read (its name went to another role).
  std::string prompt = "prompt", chosen = "chosen", rejected = "rejected",
              completion = "completion", messages = "messages", text = "text", label = "label",
              margin = "margin";
  // The roles given in `columns`, as (role, field), in the table's order.
  std::vector<std::pair<std::string, std::string>> mapped;

  // Whether `field` is read for some role (and so is not an extra field).
  bool reads(const std::string& field) const;
};

// The role names, in the order above.
const std::vector<std::string>& column_roles();

// The `columns` table of `table` (the data table or one `datasets` entry); `fallback` when the
// table has none. An unknown role, a value that is not a non-empty string or two roles mapped
// onto one field fail naming the key ("columns.promt": … did you mean 'prompt'?).
Columns read_columns(const Config& table, const Columns& fallback = {});

}  // namespace rlhf::jsonl
