// Exports the "reward" algorithm (kept apart so tests can link the implementation directly).
#include "reward_algorithm.hpp"
#include "rlhf/config.hpp"

RLHF_PLUGIN(rlhf::PluginKind::algorithm, rlhf::reward::RewardAlgorithm, "reward", "0.1.0",
            "Reward model: a scalar head trained on preference pairs (Bradley-Terry)")
