// Exports the "kto" algorithm (kept apart so tests can link the implementation directly).
#include "kto_algorithm.hpp"
#include "rlhf/config.hpp"

RLHF_PLUGIN(rlhf::PluginKind::algorithm, rlhf::kto::KtoAlgorithm, "kto", "0.1.0",
            "KTO: Kahneman-Tversky optimisation on unpaired desirable/undesirable completions")
