// Exports the "simpo" algorithm (kept apart so tests can link the implementation directly).
#include "rlhf/config.hpp"
#include "simpo_algorithm.hpp"

RLHF_PLUGIN(rlhf::PluginKind::algorithm, rlhf::simpo::SimpoAlgorithm, "simpo", "0.1.0",
            "SimPO: reference-free, length-normalised margin loss")
