// Whether a stage's policy can be set up the way its training keys ask, decided before any
// weight is read. prepare_policy() (the run) and the algorithms' check() (`rlhf-host --check`)
// both call it, so both refuse with the same message.
#pragma once

namespace rlhf {

struct StageContext;
struct TrainingConfig;

// Throws rlhf::ConfigError located at the stage's table when
//  - a stage that trains (not eval_only) has a quantizer whose weights cannot be trained
//    (Quantizer::trainable() is false) and no adapter: a full fine-tune would train only the
//    embeddings, norms and lm_head and save packed base weights that do not reload;
//  - merge_adapter_before = true without an adapter.
void check_policy_setup(const StageContext& ctx, const TrainingConfig& config);

}  // namespace rlhf
