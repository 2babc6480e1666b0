// Exports the "dpo" algorithm (kept apart so tests can link the implementation directly).
#include "dpo_algorithm.hpp"
#include "rlhf/config.hpp"

RLHF_PLUGIN(rlhf::PluginKind::algorithm, rlhf::dpo::DpoAlgorithm, "dpo", "0.1.0",
            "Direct Preference Optimization (sigmoid, robust, hinge, ipo losses)")
