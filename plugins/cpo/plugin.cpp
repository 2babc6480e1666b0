// Exports the "cpo" algorithm (kept apart so tests can link the implementation directly).
#include "cpo_algorithm.hpp"
#include "rlhf/config.hpp"

RLHF_PLUGIN(rlhf::PluginKind::algorithm, rlhf::cpo::CpoAlgorithm, "cpo", "0.1.0",
            "CPO: reference-free DPO-style loss plus NLL on the chosen completions")
