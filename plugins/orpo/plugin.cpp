// Exports the "orpo" algorithm (kept apart so tests can link the implementation directly).
#include "orpo_algorithm.hpp"
#include "rlhf/config.hpp"

RLHF_PLUGIN(rlhf::PluginKind::algorithm, rlhf::orpo::OrpoAlgorithm, "orpo", "0.1.0",
            "Odds Ratio Preference Optimization (SFT + odds-ratio penalty, no reference model)")
