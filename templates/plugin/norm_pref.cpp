// A training algorithm for rlhf-host, built outside its source tree against the installed SDK:
// "norm_pref", a preference loss on length-normalised log-probs without a reference model —
// SimPO with its margin γ set to 0:
//
//   loss = −log σ(β · (avg log π(y_w|x) − avg log π(y_l|x)))
//
// Everything else — loading the policy, tokenising the pairs with the chat template, batching,
// the training loop, checkpoints, --resume, eval_only, --check — is the SDK's pair-preference
// stage (rlhf/pair_preference.hpp). A loss that needs a reference policy sets
// `spec_.reference = rlhf::ReferenceOptions::read(config)` and reads `reference.sum` below.
//
//   [[stage]]
//   name = "pref"
//   algorithm = "norm_pref"
//   beta = 2.0
//   data = { plugin = "jsonl", path = "pairs.jsonl" }   # {"prompt", "chosen", "rejected"}
//   # + every training key: learning_rate, max_steps, per_device_train_batch_size, …
#include <torch/nn/functional/activation.h>

#include "rlhf/config.hpp"
#include "rlhf/pair_preference.hpp"

namespace {

class NormPref : public rlhf::PairPreferenceAlgorithm {
 public:
  // Read (and so declare) every key here: a key the constructor never reads is reported as a
  // typo before anything runs. Throw through config.fail() so the message names the key.
  explicit NormPref(const rlhf::Config& config) {
    rlhf::TrainingConfig defaults = rlhf::preference_training_defaults();  // TRL's; change any
    spec_.training = rlhf::TrainingConfig::read(config, defaults);
    spec_.reference.reference_free = true;
    const double beta = config.get<double>("beta", 2.0);
    if (!(beta > 0)) config.fail("beta", "must be > 0");

    // Policy log-probs of a batch of P pairs → loss and metrics. Each field of `policy.chosen`
    // and `policy.rejected` is [P]: sum, mean (per token), tokens, logits_mean.
    spec_.loss = [beta](const rlhf::PairLogps& policy, const rlhf::PairLogps& /*reference*/) {
      const at::Tensor r_w = beta * policy.chosen.mean;
      const at::Tensor r_l = beta * policy.rejected.mean;
      rlhf::PairLoss loss;
      loss.loss = -torch::nn::functional::logsigmoid(r_w - r_l).mean();
      // TRL's metric names: rewards/chosen, rewards/margins, logps/chosen, …
      loss.metrics = rlhf::pair_reward_metrics(r_w.detach(), r_l.detach(), policy.chosen.mean,
                                               policy.rejected.mean, policy);
      // eval_only: extra per-pair columns of eval_predictions.jsonl.
      loss.predictions = {{"chosen_reward", r_w.detach()}, {"rejected_reward", r_l.detach()}};
      return loss;
    };
  }
  // run() and check() (`rlhf-host --check`, the same path checking instead of training) are the
  // SDK's: PairPreferenceAlgorithm runs run_pair_preference(ctx, spec_).
};

}  // namespace

RLHF_PLUGIN(rlhf::PluginKind::algorithm, NormPref, "norm_pref", "0.1.0",
            "example: reference-free preference loss on length-normalised log-probs")
