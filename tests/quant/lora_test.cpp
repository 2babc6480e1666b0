// The lora adapter: options, targeting, init, B = 0 and disabled equal the base model, merge,
// PEFT layout (keys, shapes, adapter_config.json), load errors, and composition with an NF4
// base (gradients reach only LoRA parameters; an adapter trained on NF4 loads onto dense).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "lora/lora_adapter.hpp"
#include "quant_nf4/nf4_quantizer.hpp"
#include "rlhf/toolkit/causal_lm.hpp"
#include "rlhf/toolkit/safetensors.hpp"
#include "temp_dir.hpp"

using rlhf::Config;
using rlhf::lora::LoraAdapter;
namespace fs = std::filesystem;

namespace {

rlhf::ModelConfig tiny_config(std::int64_t hidden = 32) {
  rlhf::ModelConfig c;
  c.vocab_size = 128;
  c.hidden_size = hidden;
  c.intermediate_size = 2 * hidden;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = hidden / 4;
  c.max_position_embeddings = 64;
  return c;
}

std::shared_ptr<rlhf::CausalLM> tiny_model(std::uint64_t seed, std::int64_t hidden = 32) {
  torch::manual_seed(seed);
  return std::make_shared<rlhf::CausalLM>(tiny_config(hidden), torch::kFloat32);
}

struct Batch {
  torch::Tensor ids, mask;
};
Batch batch() {
  torch::manual_seed(99);
  return {torch::randint(0, 128, {2, 7}), torch::ones({2, 7}, torch::kLong)};
}

torch::Tensor logits(rlhf::CausalLM& m) {
  const Batch b = batch();
  torch::NoGradGuard no_grad;
  return m.forward(b.ids, b.mask);
}

void randomise_B(LoraAdapter& a, std::uint64_t seed) {
  torch::manual_seed(seed);
  torch::NoGradGuard no_grad;
  for (auto& [name, t] : a.named_parameters())
    if (name.find("lora_B") != std::string::npos) t.normal_(0.0, 0.05);
}

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const rlhf::Error& e) {
    return e.what();
  }
  return "<no error>";
}

fs::path temp_dir(const std::string& name) {
  const fs::path dir = rlhf::test::process_temp_path("lora_" + name);
  fs::remove_all(dir);
  return dir;
}

std::shared_ptr<rlhf::LinearWeight> base_of(rlhf::CausalLM& m, const std::string& path) {
  for (auto& [name, linear] : m.named_linears())
    if (name == path) return linear->weight();
  return nullptr;
}

}  // namespace

TEST(LoraOptions, DefaultsAliasesAndBadValues) {
  LoraAdapter a(Config::parse(""));
  EXPECT_EQ(a.options().r, 8);
  EXPECT_EQ(a.options().alpha, 8.0);
  EXPECT_EQ(a.options().target_modules, (std::vector<std::string>{"q_proj", "v_proj"}));
  EXPECT_EQ(LoraAdapter(Config::parse("lora_alpha = 32")).options().alpha, 32.0);
  EXPECT_TRUE(LoraAdapter(Config::parse("target_modules = \"all-linear\"")).options().all_linear);
  EXPECT_DOUBLE_EQ(
      LoraAdapter(Config::parse("r = 16\nalpha = 32\nuse_rslora = true")).options().scaling(), 8.0);
  const auto bad = [](const std::string& toml) {
    return message_of([&] { LoraAdapter x(Config::parse(toml, "p.toml")); });
  };
  EXPECT_NE(bad("alpha = 8\nlora_alpha = 8").find("not both"), std::string::npos);
  EXPECT_NE(bad("bias = \"all\"").find("'bias': only \"none\" is supported"), std::string::npos);
  EXPECT_NE(bad("r = 0").find("'r': must be a positive integer"), std::string::npos);
  EXPECT_NE(bad("init = \"pissa\"").find("'init'"), std::string::npos);
  EXPECT_NE(bad("target_modules = \"all\"").find("\"all-linear\""), std::string::npos);
  EXPECT_NE(bad("dropout = 1.5").find("'dropout'"), std::string::npos);
}

TEST(Lora, AttachWrapsTargetsWithPeftNamesAndShapesAndFreezesBase) {
  auto model = tiny_model(1);
  LoraAdapter a(Config::parse("r = 4\nalpha = 8\ntarget_modules = [\"q_proj\", \"v_proj\"]"));
  a.attach(*model);
  const auto named = a.named_parameters();
  ASSERT_EQ(named.size(), 8u);
  EXPECT_EQ(named[0].first, "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight");
  EXPECT_EQ(named[1].first, "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight");
  EXPECT_EQ(named[2].first, "base_model.model.model.layers.0.self_attn.v_proj.lora_A.weight");
  EXPECT_EQ(named[7].first, "base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight");
  EXPECT_EQ(named[0].second.sizes(), (std::vector<std::int64_t>{4, 32}));  // A [r, in]
  EXPECT_EQ(named[1].second.sizes(), (std::vector<std::int64_t>{32, 4}));  // B [nh*hd, r]
  EXPECT_EQ(named[3].second.sizes(), (std::vector<std::int64_t>{16, 4}));  // B [nkv*hd, r]
  for (const auto& [n, t] : named) {
    EXPECT_TRUE(t.requires_grad()) << n;
    EXPECT_EQ(t.scalar_type(), torch::kFloat32);
  }
  for (const auto& p : model->named_parameters())
    EXPECT_FALSE(p.value().requires_grad()) << p.key();

  LoraAdapter all(Config::parse("target_modules = \"all-linear\""));
  all.attach(*model);
  EXPECT_EQ(all.parameters().size(), 2u * 7u * 2u);  // 7 projections per layer, 2 layers
}

TEST(Lora, UnknownTargetIsAnErrorNamingIt) {
  auto model = tiny_model(1);
  LoraAdapter a(Config::parse("target_modules = [\"q_prj\"]"));
  const std::string msg = message_of([&] { a.attach(*model); });
  EXPECT_NE(msg.find("target module 'q_prj' matches no module"), std::string::npos) << msg;
  EXPECT_NE(msg.find("model.layers.0.self_attn.q_proj"), std::string::npos) << msg;
}

TEST(Lora, DefaultAndGaussianInit) {
  auto model = tiny_model(2);
  LoraAdapter a(Config::parse("r = 4\ntarget_modules = \"all-linear\""));
  a.attach(*model);
  for (const auto& [n, t] : a.named_parameters()) {
    if (n.find("lora_B") != std::string::npos) {
      EXPECT_EQ(t.abs().max().item<float>(), 0.0f) << n;
    } else {
      const double bound = 1.0 / std::sqrt(static_cast<double>(t.size(1)));  // U(±1/sqrt(in))
      EXPECT_LE(t.abs().max().item<double>(), bound) << n;
      EXPECT_GT(t.abs().max().item<double>(), 0.5 * bound) << n;
    }
  }
  LoraAdapter g(Config::parse("r = 4\ninit = \"gaussian\"\ntarget_modules = \"all-linear\""));
  g.attach(*model);
  std::vector<torch::Tensor> as;
  for (const auto& [n, t] : g.named_parameters())
    if (n.find("lora_A") != std::string::npos) as.push_back(t.detach().view(-1));
  const double std = torch::cat(as).std().item<double>();
  EXPECT_NEAR(std, 0.25, 0.02);  // 1/r; about 2300 samples
}

TEST(Lora, ZeroBEqualsBaseAndDisabledEqualsBase) {
  auto model = tiny_model(3);
  const torch::Tensor base = logits(*model);
  LoraAdapter a(Config::parse("r = 4\ntarget_modules = \"all-linear\""));
  a.attach(*model);
  EXPECT_TRUE(torch::equal(logits(*model), base));  // B = 0
  randomise_B(a, 4);
  const torch::Tensor adapted = logits(*model);
  EXPECT_GT((adapted - base).abs().max().item<float>(), 1e-3);
  a.set_enabled(false);
  EXPECT_FALSE(a.enabled());
  EXPECT_TRUE(torch::equal(logits(*model), base));
  a.set_enabled(true);
  EXPECT_TRUE(torch::equal(logits(*model), adapted));
}

TEST(Lora, LayerComputesScaledLowRankDelta) {
  auto model = tiny_model(5);
  LoraAdapter a(
      Config::parse("r = 4\nalpha = 6\nuse_rslora = true\ntarget_modules = [\"o_proj\"]"));
  a.attach(*model);
  randomise_B(a, 6);
  auto linear = model->named_linears()[3].second;  // model.layers.0.self_attn.o_proj
  ASSERT_EQ(model->named_linears()[3].first, "model.layers.0.self_attn.o_proj");
  const auto named = a.named_parameters();
  const torch::Tensor A = named[0].second.detach(), B = named[1].second.detach();
  const torch::Tensor x = torch::randn({3, 32});
  torch::NoGradGuard no_grad;
  const torch::Tensor expected =
      torch::matmul(x, linear->weight()->dense().t()) + (6.0 / 2.0) * x.matmul(A.t()).matmul(B.t());
  EXPECT_TRUE(torch::allclose(linear->forward(x), expected, 1e-5, 1e-6));
}

TEST(Lora, MergedEqualsUnmerged) {
  auto model = tiny_model(7);
  LoraAdapter a(Config::parse("r = 4\nalpha = 16\ntarget_modules = \"all-linear\""));
  a.attach(*model);
  randomise_B(a, 8);
  const torch::Tensor unmerged = logits(*model);
  a.merge();
  for (auto& [name, linear] : model->named_linears()) {
    EXPECT_EQ(linear->adapter(), nullptr) << name;
    EXPECT_EQ(linear->weight()->format(), "dense") << name;
  }
  EXPECT_TRUE(a.parameters().empty());
  EXPECT_TRUE(torch::allclose(logits(*model), unmerged, 1e-5, 1e-5));
}

TEST(Lora, SavesPeftLayoutAndLoadsBack) {
  auto model = tiny_model(9);
  LoraAdapter a(Config::parse("r = 4\nalpha = 32\ndropout = 0.05"));
  a.attach(*model);
  randomise_B(a, 10);
  const fs::path dir = temp_dir("save");
  a.save(dir);
  rlhf::SafetensorsFile file(dir / "adapter_model.safetensors");
  std::vector<std::string> expected;
  for (int l = 0; l < 2; ++l)
    for (const char* m : {"q_proj", "v_proj"})
      for (const char* ab : {"lora_A", "lora_B"})
        expected.push_back("base_model.model.model.layers." + std::to_string(l) + ".self_attn." +
                           m + "." + ab + ".weight");
  auto names = file.names();
  std::sort(names.begin(), names.end());
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(names, expected);
  EXPECT_EQ(file.entry("base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight").shape,
            (std::vector<std::int64_t>{16, 4}));
  EXPECT_EQ(file.entry("base_model.model.model.layers.1.self_attn.v_proj.lora_A.weight").dtype,
            "F32");
  EXPECT_EQ(file.metadata().at("format"), "pt");

  std::ifstream in(dir / "adapter_config.json");
  const nlohmann::json cfg = nlohmann::json::parse(in);
  EXPECT_EQ(cfg["peft_type"], "LORA");
  EXPECT_EQ(cfg["task_type"], "CAUSAL_LM");
  EXPECT_EQ(cfg["r"], 4);
  EXPECT_EQ(cfg["lora_alpha"], 32);
  EXPECT_DOUBLE_EQ(cfg["lora_dropout"].get<double>(), 0.05);
  EXPECT_EQ(cfg["target_modules"], (std::vector<std::string>{"q_proj", "v_proj"}));
  EXPECT_EQ(cfg["bias"], "none");
  EXPECT_EQ(cfg["use_rslora"], false);
  EXPECT_EQ(cfg["init_lora_weights"], true);
  EXPECT_EQ(cfg["fan_in_fan_out"], false);
  EXPECT_EQ(cfg["use_dora"], false);

  auto other = tiny_model(9);
  LoraAdapter b(Config::parse("r = 4\nalpha = 32"));
  b.attach(*other);
  b.load(dir);
  const auto pa = a.named_parameters(), pb = b.named_parameters();
  for (std::size_t i = 0; i < pa.size(); ++i)
    EXPECT_TRUE(torch::equal(pa[i].second, pb[i].second)) << pa[i].first;
  // Dropout (0.05) acts only in training mode: two passes draw different masks.
  {
    const Batch in = batch();
    torch::NoGradGuard no_grad;
    EXPECT_FALSE(torch::equal(model->forward(in.ids, in.mask), model->forward(in.ids, in.mask)));
  }
  a.set_training(false);
  b.set_training(false);
  EXPECT_TRUE(torch::equal(logits(*model), logits(*other)))
      << (logits(*model) - logits(*other)).abs().max();
  fs::remove_all(dir);
}

TEST(Lora, LoadRejectsMismatchedRankTargetsAndShapes) {
  auto model = tiny_model(11);
  LoraAdapter a(Config::parse("r = 4\nalpha = 8"));
  a.attach(*model);
  const fs::path dir = temp_dir("mismatch");
  a.save(dir);

  LoraAdapter r8(Config::parse("r = 8\nalpha = 8"));
  r8.attach(*tiny_model(11));
  std::string msg = message_of([&] { r8.load(dir); });
  EXPECT_NE(msg.find("has r = 4 but the adapter is configured with r = 8"), std::string::npos)
      << msg;

  LoraAdapter q_only(Config::parse("r = 4\nalpha = 8\ntarget_modules = [\"q_proj\"]"));
  q_only.attach(*tiny_model(11));
  msg = message_of([&] { q_only.load(dir); });
  EXPECT_NE(msg.find("self_attn.v_proj.lora_A.weight' for a module this adapter does not wrap"),
            std::string::npos)
      << msg;

  LoraAdapter more(
      Config::parse("r = 4\nalpha = 8\ntarget_modules = [\"q_proj\", \"v_proj\", "
                    "\"k_proj\"]"));
  more.attach(*tiny_model(11));
  msg = message_of([&] { more.load(dir); });
  EXPECT_NE(msg.find("lacks tensor 'base_model.model.model.layers.0.self_attn.k_proj.lora_A"),
            std::string::npos)
      << msg;

  auto wider = tiny_model(11, 48);
  LoraAdapter w(Config::parse("r = 4\nalpha = 8"));
  w.attach(*wider);
  msg = message_of([&] { w.load(dir); });
  EXPECT_NE(msg.find("has shape [4, 32], the model needs [4, 48]"), std::string::npos) << msg;
  fs::remove_all(dir);
}

TEST(Lora, NF4BaseForwardBackwardGradientsOnlyOnLora) {
  auto model = tiny_model(12);
  rlhf::nf4::NF4Quantizer quantizer(Config::parse("blocksize = 32\ndouble_quant = true"));
  for (auto& [name, linear] : model->named_linears())
    linear->set_weight(quantizer.quantize(linear->weight()->dense(), name, torch::kFloat32));
  LoraAdapter a(Config::parse("r = 4\ntarget_modules = \"all-linear\""));
  a.attach(*model);
  randomise_B(a, 13);
  const Batch b = batch();
  const torch::Tensor loss = model->forward(b.ids, b.mask).logsumexp(-1).mean();
  loss.backward();
  for (const auto& [n, t] : a.named_parameters()) {
    ASSERT_TRUE(t.grad().defined()) << n;
    EXPECT_GT(t.grad().abs().sum().item<float>(), 0.0f) << n;
  }
  for (const auto& p : model->named_parameters())
    EXPECT_FALSE(p.value().grad().defined()) << p.key();
  for (auto& [name, linear] : model->named_linears()) EXPECT_EQ(linear->weight()->format(), "nf4");
}

TEST(Lora, AdapterTrainedOnNF4BaseLoadsOntoDenseBase) {
  auto dense = tiny_model(14);
  auto quantized = tiny_model(14);  // same weights, then quantized
  rlhf::nf4::NF4Quantizer quantizer(Config::parse("double_quant = true"));
  for (auto& [name, linear] : quantized->named_linears())
    linear->set_weight(quantizer.quantize(linear->weight()->dense(), name, torch::kFloat32));
  LoraAdapter trained(Config::parse("r = 4\nalpha = 8\ntarget_modules = \"all-linear\""));
  trained.attach(*quantized);
  torch::optim::SGD opt(trained.parameters(), torch::optim::SGDOptions(0.5));
  const Batch b = batch();
  for (int step = 0; step < 3; ++step) {
    opt.zero_grad();
    quantized->forward(b.ids, b.mask).pow(2).mean().backward();
    opt.step();
  }
  const fs::path dir = temp_dir("nf4_to_dense");
  trained.save(dir);

  const torch::Tensor dense_base = logits(*dense);
  LoraAdapter onto_dense(Config::parse("r = 4\nalpha = 8\ntarget_modules = \"all-linear\""));
  onto_dense.attach(*dense);
  onto_dense.load(dir);
  const auto pt = trained.named_parameters(), pd = onto_dense.named_parameters();
  ASSERT_EQ(pt.size(), pd.size());
  for (std::size_t i = 0; i < pt.size(); ++i) {
    EXPECT_EQ(pt[i].first, pd[i].first);
    EXPECT_TRUE(torch::equal(pt[i].second, pd[i].second)) << pt[i].first;
  }
  // The trained delta applies on the dense base; the dense and NF4 models differ only by the
  // base's quantization error.
  const torch::Tensor adapted = logits(*dense);
  EXPECT_GT((adapted - dense_base).abs().max().item<float>(), 1e-4);
  EXPECT_TRUE(torch::equal(base_of(*dense, "model.layers.0.mlp.up_proj")->dense(),
                           tiny_model(14)->named_linears()[5].second->weight()->dense()));
  fs::remove_all(dir);
}

TEST(Lora, MergeIntoNF4BaseDequantizesAndMatchesUnmerged) {
  auto model = tiny_model(15);
  rlhf::nf4::NF4Quantizer quantizer(Config::parse("double_quant = true"));
  for (auto& [name, linear] : model->named_linears())
    linear->set_weight(quantizer.quantize(linear->weight()->dense(), name, torch::kFloat32));
  LoraAdapter a(Config::parse("r = 4\nalpha = 8\ntarget_modules = [\"q_proj\", \"down_proj\"]"));
  a.attach(*model);
  randomise_B(a, 16);
  const torch::Tensor unmerged = logits(*model);
  a.merge();
  for (auto& [name, linear] : model->named_linears()) {
    const bool targeted =
        name.find("q_proj") != std::string::npos || name.find("down_proj") != std::string::npos;
    EXPECT_EQ(linear->weight()->format(), targeted ? "dense" : "nf4") << name;
  }
  EXPECT_TRUE(torch::allclose(logits(*model), unmerged, 1e-5, 1e-5));
}
