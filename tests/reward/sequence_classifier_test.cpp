// The score-head toolkit (rlhf/toolkit/sequence_classifier.hpp): the last real token under
// left and right padding, scores against unpadded rows, the SequenceClassification folder it
// writes (with an adapter folded in) read back by the loader, and the loader's errors.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "rlhf/error.hpp"
#include "rlhf/toolkit/safetensors.hpp"
#include "rlhf/toolkit/sequence_classifier.hpp"
#include "temp_dir.hpp"
#include "test_model.hpp"

using namespace rlhf;
using namespace rlhf::test;

namespace {

std::vector<PromptCompletionIds> rows() {
  return {{{1, 5, 9, 12}, {7, 8, 2}}, {{1, 4}, {2}}, {{1, 30, 31, 32, 33, 34}, {40, 41, 42, 2}}};
}

// Row i alone, unpadded: hidden state at its last token · head, in double.
double unpadded_score(CausalLM& model, const torch::Tensor& head, const PromptCompletionIds& row) {
  torch::NoGradGuard no_grad;
  std::vector<std::int64_t> ids = row.prompt;
  ids.insert(ids.end(), row.completion.begin(), row.completion.end());
  auto input = torch::tensor(ids, torch::kInt64).unsqueeze(0);
  auto h = model.hidden_states(input, torch::ones_like(input))[0][input.size(1) - 1];
  return (h.to(torch::kDouble) * head[0].to(torch::kDouble)).sum().item<double>();
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

TEST(SequenceClassifier, LastTokenIndexUnderEitherPadding) {
  auto mask = torch::tensor({1, 1, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0}, torch::kInt64).view({3, 4});
  auto idx = last_token_index(mask);
  EXPECT_EQ(idx[0].item<std::int64_t>(), 1);  // right padding
  EXPECT_EQ(idx[1].item<std::int64_t>(), 3);  // left padding
  EXPECT_EQ(idx[2].item<std::int64_t>(), 0);
  EXPECT_THROW(last_token_index(torch::zeros({1, 3}, torch::kInt64)), Error);
}

TEST(SequenceClassifier, ScoresEqualUnpaddedRowsWithLeftOrRightPadding) {
  auto model = tiny_model(64);
  torch::manual_seed(3);
  torch::Tensor head = init_score_head(*model);
  EXPECT_EQ(score_head(*model).data_ptr(), head.data_ptr());
  for (auto side : {Padding::right, Padding::left}) {
    Batch batch = collate(rows(), 0, side);
    torch::NoGradGuard no_grad;
    auto scores = last_token_scores(*model, head, batch);
    ASSERT_EQ(scores.sizes(), (std::vector<std::int64_t>{3}));
    EXPECT_EQ(scores.scalar_type(), torch::kFloat32);
    for (std::int64_t i = 0; i < 3; ++i)
      EXPECT_NEAR(scores[i].item<double>(), unpadded_score(*model, head, rows()[i]), 1e-5)
          << "row " << i << (side == Padding::left ? " left" : " right");
  }
}

TEST(SequenceClassifier, AttachReplacesValuesAndChecksTheShape) {
  auto model = tiny_model(64);
  auto head = attach_score_head(*model, torch::full({1, 32}, 0.5));
  EXPECT_TRUE(head.requires_grad());
  auto again = attach_score_head(*model, torch::full({1, 32}, 0.25));
  EXPECT_EQ(again.data_ptr(), head.data_ptr());  // one head, values replaced
  EXPECT_EQ(head[0][3].item<float>(), 0.25f);
  EXPECT_TRUE(model->named_parameters(true).contains("score.weight"));
  EXPECT_THROW(attach_score_head(*model, torch::zeros({2, 32})), Error);
}

TEST(SequenceClassifier, SavedFolderLoadsBackWithTheAdapterFoldedIn) {
  auto model = tiny_model(64);
  TestAdapter adapter;
  torch::manual_seed(4);
  adapter.attach(*model);
  torch::Tensor head = init_score_head(*model);
  Batch batch = collate(rows(), 0);
  torch::Tensor live;
  {
    torch::NoGradGuard no_grad;
    live = last_token_scores(*model, head, batch);
  }
  TempDir tmp;
  const fs::path dir = tmp.path() / "rm";
  save_sequence_classifier(*model, head, dir);

  // config.json as transformers writes a one-label LlamaForSequenceClassification.
  auto config = nlohmann::json::parse(slurp(dir / "config.json"));
  EXPECT_EQ(config["architectures"], nlohmann::json::array({"LlamaForSequenceClassification"}));
  EXPECT_EQ(config["num_labels"], 1);
  EXPECT_EQ(config["id2label"], nlohmann::json({{"0", "LABEL_0"}}));
  EXPECT_EQ(config["label2id"], nlohmann::json({{"LABEL_0", 0}}));
  SafetensorsCheckpoint weights(dir);
  EXPECT_FALSE(weights.contains("lm_head.weight"));
  EXPECT_EQ(weights.entry("score.weight").shape, (std::vector<std::int64_t>{1, 32}));
  EXPECT_EQ(weights.entry("score.weight").dtype, "F32");
  // q_proj carries the adapter's delta: W + B A (TestLayer: y += x Aᵀ Bᵀ).
  const auto linears = model->named_linears();
  const auto& q = linears[0];
  auto* layer = dynamic_cast<TestLayer*>(q.second->adapter().get());
  ASSERT_NE(layer, nullptr);
  auto expected = q.second->weight()->dense() + layer->B.matmul(layer->A).detach();
  EXPECT_TRUE(torch::allclose(weights.load(q.first + ".weight"), expected, 1e-5, 1e-6));

  auto loaded = load_sequence_classifier(dir);
  torch::Tensor loaded_head = score_head(*loaded);
  ASSERT_TRUE(loaded_head.defined());
  EXPECT_TRUE(torch::equal(loaded_head, head.detach()));
  torch::NoGradGuard no_grad;
  auto reloaded = last_token_scores(*loaded, loaded_head, batch);
  EXPECT_TRUE(torch::allclose(reloaded, live, 1e-5, 1e-5)) << reloaded << live;
}

TEST(SequenceClassifier, LoaderErrorsNameTheFolder) {
  TempDir tmp;
  auto model = tiny_model(64);
  // A causal LM folder: no score.weight.
  const fs::path plain = tmp.path() / "plain";
  model->save_pretrained(plain);
  try {
    load_sequence_classifier(plain);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(plain.string()), std::string::npos) << msg;
    EXPECT_NE(msg.find("score.weight"), std::string::npos) << msg;
  }
  // Two labels: score.weight [2, H].
  const fs::path two = tmp.path() / "two";
  save_sequence_classifier(*model, torch::zeros({1, 32}), two);
  auto tensors = sequence_classifier_state_dict(*model, torch::zeros({1, 32}));
  tensors.back().second = torch::zeros({2, 32});
  save_safetensors(two / "model.safetensors", tensors);
  try {
    load_sequence_classifier(two);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(two.string()), std::string::npos) << msg;
    EXPECT_NE(msg.find("[2, 32]"), std::string::npos) << msg;
  }
}
