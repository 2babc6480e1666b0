// The real policy loader: the SDK's model and tokenizer readers.
#include "rlhf/toolkit/tokenizer.hpp"
#include "stage_runner.hpp"

namespace rlhf::host {

PolicyLoader default_policy_loader() {
  return PolicyLoader{[](const std::filesystem::path& dir, const rlhf::LoadOptions& options) {
                        return rlhf::load_causal_lm(dir, options);
                      },
                      [](const std::filesystem::path& dir) { return rlhf::Tokenizer::load(dir); }};
}

}  // namespace rlhf::host
