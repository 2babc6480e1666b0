#include "prompt_file.hpp"

#include <cstdio>

#include "plugin_path.hpp"
#include "plugin_registry.hpp"
#include "rlhf/config.hpp"
#include "rlhf/data_source.hpp"
#include "rlhf/error.hpp"

namespace fs = std::filesystem;

namespace rlhf::host {
namespace {

// A TOML basic string holding `text` exactly (the file name handed to the plugin's table).
std::string toml_string(const std::string& text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7F) {
      char escaped[8];
      std::snprintf(escaped, sizeof(escaped), "\\u%04X", c);
      out += escaped;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

}  // namespace

std::vector<GenerationPrompt> read_prompt_file(const fs::path& file) {
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) throw Error(file.string() + ": no such file");
  PluginRegistry registry(plugin_search_path({}));
  const Config config = Config::parse("path = " + toml_string(file.string()) + "\n", "--data");
  auto source = registry.create<DataSource>(PluginKind::data, "jsonl", config);
  source->load(/*seed=*/0);  // no eval split, no sampling: every record, in file order
  std::vector<GenerationPrompt> prompts;
  for (std::size_t i = 0; i < source->size(Split::train); ++i) {
    Example example = source->at(i, Split::train);
    if (example.prompt.empty())
      throw Error(example.source +
                  ": no prompt (generate reads 'prompt', or 'messages' before the last "
                  "assistant turn)");
    prompts.push_back({std::move(example.prompt), example.conversational, example.source});
  }
  return prompts;
}

nlohmann::ordered_json prompt_json(const GenerationPrompt& prompt) {
  if (!prompt.conversational && prompt.messages.size() == 1) return prompt.messages[0].content;
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (const auto& m : prompt.messages) list.push_back({{"role", m.role}, {"content", m.content}});
  return list;
}

}  // namespace rlhf::host
