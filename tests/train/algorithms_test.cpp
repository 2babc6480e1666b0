// Step-0 losses and metrics of the sft, dpo and orpo algorithms, run end to end on a tiny
// model through the SDK Trainer, against the formulas of docs/algorithms.md computed here from
// log-probs of each row taken separately (no padding, no concatenation, double precision).
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "cpo/cpo_algorithm.hpp"
#include "dpo/dpo_algorithm.hpp"
#include "jsonl/jsonl_source.hpp"
#include "kto/kto_algorithm.hpp"
#include "orpo/orpo_algorithm.hpp"
#include "rlhf/config.hpp"
#include "rlhf/metrics.hpp"
#include "rlhf/stage_context.hpp"
#include "rlhf/toolkit/preference_data.hpp"
#include "rlhf/toolkit/safetensors.hpp"
#include "rlhf/trainer.hpp"
#include "rlhf/training_config.hpp"
#include "sft/sft_algorithm.hpp"
#include "simpo/simpo_algorithm.hpp"
#include "temp_dir.hpp"
#include "test_model.hpp"

using namespace rlhf;
using namespace rlhf::test;

namespace {

double log_sigma(double z) {
  return z >= 0 ? -std::log1p(std::exp(-z)) : z - std::log1p(std::exp(z));
}

fs::path preference_file() {
  fs::path p = rlhf::test::process_temp_path("alg") / "prefs.jsonl";
  fs::create_directories(p.parent_path());
  std::ofstream out(p);
  for (int a = 1; a <= 12; ++a) {
    int b = (a * 7) % 10;
    out << "{\"prompt\": \"What is " << a << " + " << b << "?\", \"chosen\": \"" << a + b
        << "\", \"rejected\": \"" << a + b + 1 + a % 3 << " is the answer\"}\n";
  }
  return p;
}

// One algorithm run on a fresh tiny model with the test adapter; keeps what the independent
// computation needs.
struct AlgoRun {
  std::shared_ptr<Tokenizer> tok = tiny_tokenizer();
  std::shared_ptr<CausalLM> model = tiny_model(tok->vocab_size());
  TestAdapter adapter;
  std::unique_ptr<jsonl::JsonlSource> data;
  fs::path dir;
  std::vector<std::size_t> first_batch;
  nlohmann::json metrics;  // first logged line
  std::vector<nlohmann::json> lines;

  template <class Algo>
  void go(const std::string& name, const std::string& toml, bool with_adapter = true,
          const std::string& data_extra = "") {
    dir = rlhf::test::process_temp_path("alg") / name;
    fs::remove_all(dir);
    fs::create_directories(dir);
    torch::manual_seed(1);
    if (with_adapter) adapter.attach(*model);
    Config data_config =
        Config::parse("path = \"" + preference_file().string() + "\"\n" + data_extra, "d.toml");
    data = std::make_unique<jsonl::JsonlSource>(data_config);
    data->load(11);
    {
      MetricsSink sink(dir);
      StageContext ctx;
      ctx.stage_name = name;
      ctx.seed = 11;
      ctx.stage_dir = dir / name;
      ctx.metrics = &sink;
      ctx.data = data.get();
      auto m = model;
      auto t = tok;
      ctx.model = [m] { return m; };
      ctx.tokenizer = [t] { return t; };
      ctx.chat_template = "zephyr";
      ctx.adapter = with_adapter ? &adapter : nullptr;
      Config config = Config::parse(toml, "stage.toml");
      Algo algorithm(config);
      EXPECT_TRUE(config.unknown_keys().empty());
      algorithm.run(ctx);
    }
    std::ifstream in(dir / "metrics.jsonl");
    std::string line;
    while (std::getline(in, line)) lines.push_back(nlohmann::json::parse(line));
    if (!lines.empty()) metrics = lines[0];
    auto order = epoch_permutation(data->size(), 11, 0);
    first_batch.assign(order.begin(), order.begin() + 4);
  }

  PromptCompletionIds encode(const Example& e, const std::vector<Message>& completion) const {
    return ChatTemplate::get("zephyr").encode(*tok, e.prompt, completion);
  }
};

// Policy (adapter on) and reference (adapter off) log-probs of pair i, row by row.
struct PairRows {
  RowLogp chosen, rejected, ref_chosen, ref_rejected;
};
PairRows pair_rows(AlgoRun& r, std::size_t i) {
  Example e = r.data->at(i);
  auto c = r.encode(e, e.chosen), l = r.encode(e, e.rejected);
  PairRows p;
  p.chosen = row_logp(*r.model, c);
  p.rejected = row_logp(*r.model, l);
  r.adapter.set_enabled(false);
  p.ref_chosen = row_logp(*r.model, c);
  p.ref_rejected = row_logp(*r.model, l);
  r.adapter.set_enabled(true);
  return p;
}

void expect_close(const nlohmann::json& metrics, const std::string& name, double expected) {
  ASSERT_TRUE(metrics.contains(name)) << name << " missing in " << metrics.dump();
  double got = metrics[name].get<double>();
  EXPECT_NEAR(got, expected, 2e-4 * std::max(1.0, std::abs(expected))) << name;
}

const char* kStep0 =
    "max_steps = 1\nper_device_train_batch_size = 4\nlogging_steps = 1\nlearning_rate = 0.0\n";

}  // namespace

class DpoStep0 : public ::testing::TestWithParam<std::string> {};

TEST_P(DpoStep0, LossAndMetricsEqualTheFormulas) {
  const std::string loss_type = GetParam();
  const double beta = 0.2;
  const double eps = loss_type == "sigmoid" || loss_type == "robust" ? 0.1 : 0.0;
  AlgoRun r;
  r.go<dpo::DpoAlgorithm>("dpo_" + loss_type,
                          std::string(kStep0) + "beta = 0.2\nloss_type = \"" + loss_type +
                              "\"\nlabel_smoothing = " + std::to_string(eps) + "\n");
  double loss = 0, r_w = 0, r_l = 0, acc = 0, lp_w = 0, lp_l = 0, lg_w = 0, lg_l = 0;
  for (auto i : r.first_batch) {
    PairRows p = pair_rows(r, i);
    const bool ipo = loss_type == "ipo";
    double pi_logratios = ipo ? p.chosen.mean() - p.rejected.mean() : p.chosen.sum - p.rejected.sum;
    double ref_logratios =
        ipo ? p.ref_chosen.mean() - p.ref_rejected.mean() : p.ref_chosen.sum - p.ref_rejected.sum;
    double h = pi_logratios - ref_logratios;
    if (loss_type == "sigmoid")
      loss += -(1 - eps) * log_sigma(beta * h) - eps * log_sigma(-beta * h);
    else if (loss_type == "robust")
      loss += (-(1 - eps) * log_sigma(beta * h) + eps * log_sigma(-beta * h)) / (1 - 2 * eps);
    else if (loss_type == "hinge")
      loss += std::max(0.0, 1 - beta * h);
    else
      loss += std::pow(h - 1 / (2 * beta), 2);
    double rw = beta * (p.chosen.sum - p.ref_chosen.sum);
    double rl = beta * (p.rejected.sum - p.ref_rejected.sum);
    r_w += rw;
    r_l += rl;
    acc += rw > rl ? 1 : 0;
    lp_w += p.chosen.sum;
    lp_l += p.rejected.sum;
    lg_w += p.chosen.logits_mean;
    lg_l += p.rejected.logits_mean;
  }
  ASSERT_FALSE(r.lines.empty());
  const auto& m = r.metrics;
  EXPECT_EQ(m["step"].get<int>(), 1);
  expect_close(m, "loss", loss / 4);
  expect_close(m, "rewards/chosen", r_w / 4);
  expect_close(m, "rewards/rejected", r_l / 4);
  expect_close(m, "rewards/margins", (r_w - r_l) / 4);
  expect_close(m, "rewards/accuracies", acc / 4);
  expect_close(m, "logps/chosen", lp_w / 4);
  expect_close(m, "logps/rejected", lp_l / 4);
  expect_close(m, "logits/chosen", lg_w / 4);
  expect_close(m, "logits/rejected", lg_l / 4);
  EXPECT_NE(r_w, r_l);  // the test adapter really makes policy and reference differ
  EXPECT_TRUE(fs::exists(r.dir / ("dpo_" + loss_type) / "adapter" / "adapter_config.json"));
}

INSTANTIATE_TEST_SUITE_P(LossTypes, DpoStep0,
                         ::testing::Values("sigmoid", "robust", "hinge", "ipo"));

TEST(DpoPrecompute, PrecomputedReferenceGivesTheSameMetrics) {
  AlgoRun a, b;
  a.go<dpo::DpoAlgorithm>("dpo_live", kStep0);
  b.go<dpo::DpoAlgorithm>("dpo_pre", std::string(kStep0) + "precompute_ref_log_probs = true\n");
  for (const char* name : {"loss", "rewards/chosen", "rewards/margins", "logps/rejected"})
    expect_close(b.metrics, name, a.metrics[name].get<double>());
}

TEST(OrpoStep0, LossAndMetricsEqualThePaper) {
  AlgoRun r;
  const double lambda = 0.3;
  r.go<orpo::OrpoAlgorithm>("orpo", std::string(kStep0) + "beta = 0.3\n");
  double nll_num = 0, nll_den = 0, ratio = 0, z_sum = 0, r_w = 0, r_l = 0, acc = 0;
  for (auto i : r.first_batch) {
    PairRows p = pair_rows(r, i);
    double a_w = p.chosen.mean(), a_l = p.rejected.mean();
    double z = std::log(std::exp(a_w) / (1 - std::exp(a_w))) -
               std::log(std::exp(a_l) / (1 - std::exp(a_l)));
    ratio += log_sigma(z);
    z_sum += z;
    nll_num -= p.chosen.sum;
    nll_den += p.chosen.tokens;
    r_w += lambda * a_w;
    r_l += lambda * a_l;
    acc += a_w > a_l ? 1 : 0;
  }
  const auto& m = r.metrics;
  expect_close(m, "nll_loss", nll_num / nll_den);
  expect_close(m, "loss", nll_num / nll_den - lambda * ratio / 4);
  expect_close(m, "log_odds_ratio", ratio / 4);
  expect_close(m, "log_odds_chosen", z_sum / 4);
  expect_close(m, "rewards/chosen", r_w / 4);
  expect_close(m, "rewards/rejected", r_l / 4);
  expect_close(m, "rewards/accuracies", acc / 4);
  expect_close(m, "logps/chosen", r_w / lambda / 4);
}

TEST(SftStep0, CompletionOnlyNllEqualsTheFormula) {
  AlgoRun r;
  r.go<sft::SftAlgorithm>("sft", kStep0, /*with_adapter=*/false);
  double nll = 0, tokens = 0;
  for (auto i : r.first_batch) {
    Example e = r.data->at(i);
    RowLogp row = row_logp(*r.model, r.encode(e, e.chosen));
    nll -= row.sum;
    tokens += row.tokens;
  }
  expect_close(r.metrics, "loss", nll / tokens);
  ASSERT_TRUE(r.metrics.contains("mean_token_accuracy"));
  // No adapter: the full model trained and was saved in Hugging Face layout.
  EXPECT_TRUE(fs::exists(r.dir / "sft" / "model" / "config.json"));
}

TEST(Checkpoints, HoldTheAdapterInPeftLayoutAtEachSave) {
  AlgoRun r;
  r.go<orpo::OrpoAlgorithm>("ckpt",
                            "max_steps = 2\nper_device_train_batch_size = 4\nsave_steps = 1\n"
                            "learning_rate = 1e-3\n");
  for (const char* step : {"checkpoint-1", "checkpoint-2"}) {
    EXPECT_TRUE(fs::exists(r.dir / "ckpt" / step / "trainable.pt")) << step;
    EXPECT_TRUE(fs::exists(r.dir / "ckpt" / step / "adapter" / "adapter_config.json")) << step;
  }
  EXPECT_TRUE(fs::exists(r.dir / "ckpt" / "adapter" / "adapter_config.json"));  // the result

  AlgoRun full;  // no adapter: the checkpoint holds the full weights in trainable.pt only
  full.go<sft::SftAlgorithm>("ckpt_full",
                             "max_steps = 1\nper_device_train_batch_size = 4\nsave_steps = 1\n",
                             /*with_adapter=*/false);
  EXPECT_TRUE(fs::exists(full.dir / "ckpt_full" / "checkpoint-1" / "trainable.pt"));
  EXPECT_FALSE(fs::exists(full.dir / "ckpt_full" / "checkpoint-1" / "adapter"));
}

TEST(EvalOnly, WritesPerPairPredictions) {
  AlgoRun r;
  r.go<dpo::DpoAlgorithm>("dpo_eval", "eval_only = true\nper_device_eval_batch_size = 5\n", true,
                          "eval_fraction = 0.25\n");
  std::ifstream in(r.dir / "dpo_eval" / "eval_predictions.jsonl");
  std::vector<nlohmann::json> rows;
  std::string line;
  while (std::getline(in, line)) rows.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(rows.size(), 3u);  // ceil(0.25 · 12)
  for (std::size_t i = 0; i < rows.size(); ++i) {
    Example e = r.data->at(i, Split::eval);
    EXPECT_EQ(rows[i]["source"], e.source);
    RowLogp c = row_logp(*r.model, r.encode(e, e.chosen));
    EXPECT_NEAR(rows[i]["chosen_logps"].get<double>(), c.sum, 1e-3);
    r.adapter.set_enabled(false);
    RowLogp ref = row_logp(*r.model, r.encode(e, e.chosen));
    r.adapter.set_enabled(true);
    EXPECT_NEAR(rows[i]["ref_chosen_logps"].get<double>(), ref.sum, 1e-3);
  }
  ASSERT_EQ(r.lines.size(), 1u);
  EXPECT_TRUE(r.metrics.contains("eval_loss"));
  EXPECT_TRUE(r.metrics.contains("eval_rewards/accuracies"));
  EXPECT_TRUE(r.metrics.contains("eval_preference_accuracy"));
}

TEST(Truncation, PromptKeepsItsEndAndCompletionItsStart) {
  auto tok = tiny_tokenizer();
  Example e;
  e.prompt = {{"user", "What is the sum of seven and eight and nine and ten?"}};
  e.chosen = {{"assistant", "The answer is thirty four, of course."}};
  e.rejected = {{"assistant", "No."}};
  auto tmpl = ChatTemplate::get("zephyr");
  auto full = tmpl.encode(*tok, e.prompt, e.chosen);
  ASSERT_GT(full.prompt.size(), 8u);
  ASSERT_GT(full.completion.size(), 6u);
  TrainingConfig config;
  config.max_prompt_length = 8;
  config.max_length = 14;
  TokenizedPair pair = tokenize_pair(e, *tok, tmpl, config);
  EXPECT_EQ(pair.chosen.prompt,
            std::vector<std::int64_t>(full.prompt.end() - 8, full.prompt.end()));  // keep_end
  EXPECT_EQ(pair.chosen.completion,
            std::vector<std::int64_t>(full.completion.begin(), full.completion.begin() + 6));
  config.truncation_mode = "keep_start";
  pair = tokenize_pair(e, *tok, tmpl, config);
  EXPECT_EQ(pair.chosen.prompt,
            std::vector<std::int64_t>(full.prompt.begin(), full.prompt.begin() + 8));
  Example sft_only;
  sft_only.source = "x.jsonl:3";
  sft_only.prompt = e.prompt;
  sft_only.completion = e.chosen;
  try {
    tokenize_pair(sft_only, *tok, tmpl, config);
    FAIL();
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("x.jsonl:3: not a preference record"),
              std::string::npos);
  }
}

namespace {

// A tokenizer that emits an id beyond its own vocabulary (a fault of the tokenizer files).
class OutOfRangeTokenizer : public Tokenizer {
 public:
  explicit OutOfRangeTokenizer(std::shared_ptr<Tokenizer> inner) : inner_(std::move(inner)) {}
  std::vector<std::int64_t> encode(const std::string& text, bool bos, bool eos) const override {
    auto ids = inner_->encode(text, bos, eos);
    ids.push_back(vocab_size());
    return ids;
  }
  std::string decode(const std::vector<std::int64_t>& ids, bool skip) const override {
    return inner_->decode(ids, skip);
  }
  std::int64_t vocab_size() const override { return inner_->vocab_size(); }
  std::int64_t bos_id() const override { return inner_->bos_id(); }
  std::int64_t eos_id() const override { return inner_->eos_id(); }
  std::int64_t pad_id() const override { return inner_->pad_id(); }
  bool add_bos_token() const override { return inner_->add_bos_token(); }
  bool add_eos_token() const override { return inner_->add_eos_token(); }
  std::int64_t token_to_id(const std::string& token) const override {
    return inner_->token_to_id(token);
  }

 private:
  std::shared_ptr<Tokenizer> inner_;
};

}  // namespace

TEST(Tokenization, OutOfRangeTokenIdNamesTheExample) {
  OutOfRangeTokenizer tok(tiny_tokenizer());
  Example e;
  e.source = "prefs.jsonl:7";
  e.prompt = {{"user", "Hi"}};
  e.chosen = {{"assistant", "Hello."}};
  e.rejected = {{"assistant", "No."}};
  const auto tmpl = ChatTemplate::get("zephyr");
  const std::string expected = "prefs.jsonl:7: token id " + std::to_string(tok.vocab_size()) +
                               " is outside the vocabulary (0.." +
                               std::to_string(tok.vocab_size() - 1) + ")";
  for (bool pairs : {true, false}) {
    try {
      if (pairs)
        tokenize_pair(e, tok, tmpl, TrainingConfig());
      else
        tokenize_completion(e, tok, tmpl, TrainingConfig());
      ADD_FAILURE() << "an out-of-range id was accepted";
    } catch (const Error& err) {
      EXPECT_EQ(std::string(err.what()), expected);
    }
  }
}

// ---- Algorithms written on the SDK's stage helpers (simpo, cpo, kto, rpo_alpha, ref_adapter):
// the first logged step against the formulas of docs/algorithms.md, from row-by-row log-probs.

namespace {
double sigma(double z) { return 1 / (1 + std::exp(-z)); }
// −Σ s_w / Σ tokens_w over the first batch: the chosen completions' mean token NLL.
double chosen_nll(AlgoRun& r) {
  double s = 0, t = 0;
  for (auto i : r.first_batch) {
    PairRows p = pair_rows(r, i);
    s += p.chosen.sum;
    t += p.chosen.tokens;
  }
  return -s / t;
}
}  // namespace

TEST(SimpoStep0, LossRewardsAndNllEqualTheFormulas) {
  AlgoRun r;
  r.go<simpo::SimpoAlgorithm>("simpo", std::string(kStep0) + "beta = 2.0\nsimpo_gamma = 0.5\n");
  double loss = 0, r_w = 0, lp_l = 0;
  for (auto i : r.first_batch) {
    PairRows p = pair_rows(r, i);
    loss += -log_sigma(2.0 * p.chosen.mean() - 2.0 * p.rejected.mean() - 0.5);
    r_w += 2.0 * p.chosen.mean();
    lp_l += p.rejected.mean();
  }
  expect_close(r.metrics, "loss", loss / 4);  // cpo_alpha defaults to 0: plain SimPO
  expect_close(r.metrics, "rewards/chosen", r_w / 4);
  expect_close(r.metrics, "logps/rejected", lp_l / 4);
  expect_close(r.metrics, "nll_loss", chosen_nll(r));
}

TEST(CpoStep0, LossEqualsSigmoidOnSumsPlusNll) {
  AlgoRun r;
  r.go<cpo::CpoAlgorithm>("cpo", std::string(kStep0) + "beta = 0.2\ncpo_alpha = 0.7\n");
  double pref = 0, r_l = 0;
  for (auto i : r.first_batch) {
    PairRows p = pair_rows(r, i);
    pref += -log_sigma(0.2 * (p.chosen.sum - p.rejected.sum));
    r_l += 0.2 * p.rejected.sum;
  }
  expect_close(r.metrics, "loss", pref / 4 + 0.7 * chosen_nll(r));
  expect_close(r.metrics, "rewards/rejected", r_l / 4);
}

TEST(RpoStep0, DpoLossPlusAlphaTimesNll) {
  AlgoRun r;
  r.go<dpo::DpoAlgorithm>("rpo", std::string(kStep0) + "beta = 0.2\nrpo_alpha = 0.5\n");
  double dpo = 0;
  for (auto i : r.first_batch) {
    PairRows p = pair_rows(r, i);
    dpo += -log_sigma(0.2 *
                      ((p.chosen.sum - p.rejected.sum) - (p.ref_chosen.sum - p.ref_rejected.sum)));
  }
  const double nll = chosen_nll(r);
  expect_close(r.metrics, "loss", dpo / 4 + 0.5 * nll);
  expect_close(r.metrics, "nll_loss", nll);
}

TEST(KtoStep0, LossAndKlEqualTheFormulasOnPairsSplitIntoRows) {
  AlgoRun r;
  r.go<kto::KtoAlgorithm>("kto", std::string(kStep0) +
                                     "beta = 0.3\ndesirable_weight = 1.0\n"
                                     "undesirable_weight = 0.8\n");
  // Pair p gives row 2p (chosen, desirable) and 2p+1 (rejected); KL partners are fixed per
  // block of per_device_train_batch_size rows in dataset order (TRL's KL dataset).
  const std::size_t n = 2 * r.data->size();
  auto encode_row = [&](std::size_t j) {
    Example e = r.data->at(j / 2);
    return r.encode(e, j % 2 == 0 ? e.chosen : e.rejected);
  };
  auto logp = [&](const PromptCompletionIds& ids, bool policy) {
    r.adapter.set_enabled(policy);
    double s = row_logp(*r.model, ids).sum;
    r.adapter.set_enabled(true);
    return s;
  };
  auto order = epoch_permutation(n, 11, 0);
  std::vector<std::size_t> batch(order.begin(), order.begin() + 4);
  double kl = 0;
  std::vector<double> rewards;
  for (auto j : batch) {
    const std::size_t begin = j / 4 * 4;
    const std::size_t partner = j == begin ? std::min(n, begin + 4) - 1 : j - 1;
    PromptCompletionIds mismatched{encode_row(j).prompt, encode_row(partner).completion};
    kl += logp(mismatched, true) - logp(mismatched, false);
    rewards.push_back(logp(encode_row(j), true) - logp(encode_row(j), false));
  }
  kl = std::max(0.0, kl / 4);
  double loss = 0;
  for (std::size_t k = 0; k < 4; ++k)
    loss += batch[k] % 2 == 0 ? 1.0 * (1 - sigma(0.3 * (rewards[k] - kl)))
                              : 0.8 * (1 - sigma(0.3 * (kl - rewards[k])));
  expect_close(r.metrics, "loss", loss / 4);
  expect_close(r.metrics, "kl", kl);
}

TEST(ReferenceAdapter, StageStartIsThePolicyAtStep0AndStaysFrozen) {
  AlgoRun r;
  r.go<dpo::DpoAlgorithm>(
      "ref_start",
      "max_steps = 3\nper_device_train_batch_size = 4\nlogging_steps = 1\n"
      "learning_rate = 0.05\nwarmup_ratio = 0.0\nref_adapter = \"stage_start\"\n");
  ASSERT_EQ(r.lines.size(), 3u);
  // Step 1: reference = policy, so every reward is 0 and the loss is log 2.
  expect_close(r.lines[0], "loss", std::log(2.0));
  expect_close(r.lines[0], "rewards/chosen", 0.0);
  // Later steps: the policy moved, the reference did not (rewards no longer 0).
  EXPECT_GT(std::abs(r.lines[2]["rewards/margins"].get<double>()), 1e-6);
}

TEST(DpoPrecompute, CachesReferenceLogpsPerPairInTheStageFolder) {
  AlgoRun r;
  r.go<dpo::DpoAlgorithm>("dpo_cache", std::string(kStep0) + "precompute_ref_log_probs = true\n");
  SafetensorsFile cache(r.dir / "dpo_cache" / "reference_logps.safetensors");
  at::Tensor sums = cache.load("train.sum");
  ASSERT_EQ(sums.sizes(), (at::IntArrayRef{12, 2}));
  for (std::size_t i : {0u, 5u, 11u}) {
    PairRows p = pair_rows(r, i);  // after training; the reference (adapter off) is unchanged
    EXPECT_NEAR(sums[static_cast<std::int64_t>(i)][0].item<double>(), p.ref_chosen.sum, 1e-3);
    EXPECT_NEAR(sums[static_cast<std::int64_t>(i)][1].item<double>(), p.ref_rejected.sum, 1e-3);
  }
}

TEST(GradientCheckpointing, TrainsTheAdapterExactlyAsWithout) {
  // The adapter's gradients flow through checkpointed layers although the embeddings are frozen:
  // after one update at a large learning rate the second step logs the same loss either way.
  const std::string keys =
      "max_steps = 2\nper_device_train_batch_size = 4\nlogging_steps = 1\nlearning_rate = 0.05\n";
  AlgoRun plain, checkpointed;
  plain.go<dpo::DpoAlgorithm>("gc_off", keys);
  checkpointed.go<dpo::DpoAlgorithm>("gc_on", keys + "gradient_checkpointing = true\n");
  ASSERT_EQ(plain.lines.size(), 2u);
  ASSERT_EQ(checkpointed.lines.size(), 2u);
  EXPECT_NE(plain.lines[0]["loss"].get<double>(), plain.lines[1]["loss"].get<double>());
  for (const char* name : {"loss", "rewards/margins", "grad_norm"})
    expect_close(checkpointed.lines[1], name, plain.lines[1][name].get<double>());
}
