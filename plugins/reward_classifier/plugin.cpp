// Exports the "classifier" reward model (kept apart so tests can link the implementation
// directly).
#include "classifier_reward_model.hpp"
#include "rlhf/config.hpp"

RLHF_PLUGIN(rlhf::PluginKind::reward_model, rlhf::reward_classifier::ClassifierRewardModel,
            "classifier", "0.1.0",
            "Scores completions with a sequence-classification reward model folder")
