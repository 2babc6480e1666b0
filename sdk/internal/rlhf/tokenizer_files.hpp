// The files next to the weights that make a saved folder load with transformers'
// AutoTokenizer / AutoModelForCausalLM and PEFT, and serve as `[model].path` of a next pipeline
// — what TRL leaves in its output_dir after `trainer.save_model()` (the model's or PEFT's
// save_pretrained plus the tokenizer's save_pretrained).
#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace rlhf {

// What was saved in the folder: full weights (CausalLM::save_pretrained) or an adapter
// (Adapter::save, PEFT layout).
enum class SavedFolder { model, adapter };

// Completes `dir` from `source_model`, the model folder its weights started from (it may be
// `dir` itself, as for init-model):
//  - tokenizer.model, tokenizer.json and added_tokens.json, those the source has;
//  - tokenizer_config.json: the source's, with `chat_template` set to the Jinja text of the named
//    template (nullopt keeps the source's own), add_bos_token / add_eos_token, bos / eos / unk /
//    pad tokens (pad = eos when the source has none: what the tokenizer pads with, and what TRL
//    sets), model_max_length (else the source's max_position_embeddings), tokenizer_class;
//  - special_tokens_map.json with the same tokens;
//  - for a model: generation_config.json — the source's (else what save_pretrained wrote) with
//    bos_token_id, eos_token_id (+ the tokenizer's EOS and the template's end-of-turn token, so
//    generation stops where a turn ends) and pad_token_id;
//  - for an adapter: adapter_config.json's base_model_name_or_path = `source_model` as given.
// Tokenizer files are skipped when the source has no tokenizer.model (or is empty). Each file is
// written under a temporary name and renamed; a failure throws rlhf::Error naming the file.
void complete_saved_folder(const std::filesystem::path& dir, SavedFolder kind,
                           const std::filesystem::path& source_model,
                           const std::optional<std::string>& chat_template);

}  // namespace rlhf
