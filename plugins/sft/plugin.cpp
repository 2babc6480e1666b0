// Exports the "sft" algorithm (kept apart so tests can link the implementation directly).
#include "rlhf/config.hpp"
#include "sft_algorithm.hpp"

RLHF_PLUGIN(rlhf::PluginKind::algorithm, rlhf::sft::SftAlgorithm, "sft", "0.1.0",
            "Supervised fine-tuning on completions (prompt tokens masked)")
