// Exports the "ppo" algorithm (kept apart so tests can link the implementation directly).
#include "ppo_algorithm.hpp"
#include "rlhf/config.hpp"

RLHF_PLUGIN(rlhf::PluginKind::algorithm, rlhf::ppo::PpoAlgorithm, "ppo", "0.1.0",
            "PPO: generate, score with a reward model, clipped policy and value updates")
