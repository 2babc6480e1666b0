// Exports the "rule" reward model (kept apart so tests can link the implementation directly).
#include "rlhf/config.hpp"
#include "rule_reward_model.hpp"

RLHF_PLUGIN(rlhf::PluginKind::reward_model, rlhf::rule::RuleRewardModel, "rule", "0.1.0",
            "Rewards from rules on the completion text: exact match, regex, length")
