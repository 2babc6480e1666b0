// NF4Weight and the nf4 quantizer: transformers' 4-bit keys and quant-state JSON, loading a
// pre-quantized checkpoint as-is, errors for incomplete checkpoints, storage size, and the
// custom autograd function (gradient for x only).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <map>

#include "plugin_registry.hpp"
#include "quant_nf4/double_quant.hpp"
#include "quant_nf4/nf4_quantizer.hpp"
#include "quant_nf4/nf4_weight.hpp"
#include "quant_nf4/quant_state.hpp"
#include "rlhf/config.hpp"
#include "rlhf/toolkit/safetensors.hpp"
#include "temp_dir.hpp"

using namespace rlhf::nf4;
namespace fs = std::filesystem;

namespace {

const std::string kP = "model.layers.0.self_attn.q_proj";

std::shared_ptr<NF4Weight> quantize(const torch::Tensor& w, const std::string& toml,
                                    torch::ScalarType dtype = torch::kFloat32) {
  NF4Quantizer q(rlhf::Config::parse(toml));
  return std::dynamic_pointer_cast<NF4Weight>(q.quantize(w, kP, dtype));
}

// A checkpoint held in memory.
class MapSource : public rlhf::TensorSource {
 public:
  explicit MapSource(std::vector<std::pair<std::string, torch::Tensor>> tensors) {
    for (auto& [k, v] : tensors) tensors_[k] = v;
  }
  bool contains(const std::string& name) const override { return tensors_.count(name) > 0; }
  torch::Tensor load(const std::string& name) const override { return tensors_.at(name).clone(); }
  std::map<std::string, torch::Tensor> tensors_;
};

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const rlhf::Error& e) {
    return e.what();
  }
  return "<no error>";
}

fs::path temp_dir(const std::string& name) {
  const fs::path dir = rlhf::test::process_temp_path("quant_" + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

}  // namespace

TEST(NF4Quantizer, ConfigDefaultsAndBadBlocksize) {
  NF4Quantizer q(rlhf::Config::parse(""));
  EXPECT_EQ(q.blocksize(), 64);
  EXPECT_FALSE(q.double_quant());
  const std::string msg =
      message_of([] { NF4Quantizer bad(rlhf::Config::parse("blocksize = 48", "p.toml")); });
  EXPECT_NE(msg.find("p.toml:1"), std::string::npos) << msg;
  EXPECT_NE(msg.find("blocksize"), std::string::npos) << msg;
  EXPECT_NE(msg.find("unsupported blocksize 48"), std::string::npos) << msg;
}

TEST(NF4Quantizer, RejectsUnsupportedDtypes) {
  NF4Quantizer q(rlhf::Config::parse(""));
  EXPECT_NE(message_of([&] {
              q.quantize(torch::ones({4, 64}, torch::kLong), kP, torch::kFloat32);
            }).find("'" + kP + "' has dtype Long"),
            std::string::npos);
  EXPECT_NE(message_of([&] {
              q.quantize(torch::randn({4, 64}), kP, torch::kFloat64);
            }).find("unsupported compute dtype Double"),
            std::string::npos);
  auto w = q.quantize(torch::randn({4, 64}), kP, torch::kFloat32);
  EXPECT_NE(message_of([&] {
              w->forward(torch::randn({2, 64}, torch::kFloat64));
            }).find("unsupported compute dtype Double"),
            std::string::npos);
}

TEST(NF4QuantState, PythonFloatRepr) {
  EXPECT_EQ(python_float_repr(0.0123), "0.0123");
  EXPECT_EQ(python_float_repr(1e-5), "1e-05");
  EXPECT_EQ(python_float_repr(0.0001), "0.0001");
  EXPECT_EQ(python_float_repr(1.5e-7), "1.5e-07");
  EXPECT_EQ(python_float_repr(1.0), "1.0");
  EXPECT_EQ(python_float_repr(123456.0), "123456.0");
  EXPECT_EQ(python_float_repr(1e16), "1e+16");
  EXPECT_EQ(python_float_repr(-2.5), "-2.5");
  EXPECT_EQ(python_float_repr(static_cast<double>(0.1f)), "0.10000000149011612");
}

TEST(NF4Weight, StateDictHasTransformersKeysShapesAndQuantStateJson) {
  torch::manual_seed(6);
  const torch::Tensor dense = torch::randn({48, 40});
  auto w = quantize(dense, "double_quant = true", torch::kBFloat16);
  const auto sd = w->state_dict(kP);
  std::vector<std::string> keys;
  for (const auto& [k, v] : sd) keys.push_back(k);
  const std::string p = kP + ".weight";
  EXPECT_EQ(keys, (std::vector<std::string>{p, p + ".absmax", p + ".quant_map",
                                            p + ".nested_absmax", p + ".nested_quant_map",
                                            p + ".quant_state.bitsandbytes__nf4"}));
  std::map<std::string, torch::Tensor> m(sd.begin(), sd.end());
  EXPECT_EQ(m[p].sizes(), (std::vector<std::int64_t>{960, 1}));
  EXPECT_EQ(m[p].scalar_type(), torch::kUInt8);
  EXPECT_EQ(m[p + ".absmax"].sizes(), (std::vector<std::int64_t>{30}));
  EXPECT_EQ(m[p + ".absmax"].scalar_type(), torch::kUInt8);
  EXPECT_EQ(m[p + ".quant_map"].sizes(), (std::vector<std::int64_t>{16}));
  EXPECT_EQ(m[p + ".nested_absmax"].sizes(), (std::vector<std::int64_t>{1}));
  EXPECT_EQ(m[p + ".nested_absmax"].scalar_type(), torch::kFloat32);
  EXPECT_TRUE(torch::equal(m[p + ".nested_quant_map"], signed_dynamic_map()));
  EXPECT_TRUE(torch::equal(m[p], nf4_quantize(dense, 64).packed));
  // nested_offset is the mean of the float32 block absmax, written as Python's repr.
  const float offset = nf4_quantize(dense, 64).absmax.mean().item<float>();
  EXPECT_EQ(uint8_tensor_to_string(m[p + ".quant_state.bitsandbytes__nf4"]),
            "{\"quant_type\": \"nf4\", \"blocksize\": 64, \"dtype\": \"bfloat16\", \"shape\": "
            "[48, 40], \"nested_blocksize\": 256, \"nested_dtype\": \"float32\", "
            "\"nested_offset\": " +
                python_float_repr(offset) + "}");
}

TEST(NF4Weight, WithoutDoubleQuantAbsmaxIsFloat32) {
  torch::manual_seed(7);
  auto w = quantize(torch::randn({8, 16}), "blocksize = 32");
  const auto sd = w->state_dict("P");
  ASSERT_EQ(sd.size(), 4u);
  EXPECT_EQ(sd[1].first, "P.weight.absmax");
  EXPECT_EQ(sd[1].second.scalar_type(), torch::kFloat32);
  EXPECT_EQ(sd[1].second.numel(), 4);
  EXPECT_EQ(uint8_tensor_to_string(sd[3].second),
            "{\"quant_type\": \"nf4\", \"blocksize\": 32, \"dtype\": \"float32\", \"shape\": [8, "
            "16]}");
}

TEST(NF4Weight, QuantizationConfigJson) {
  NF4Quantizer q(rlhf::Config::parse("double_quant = true"));
  q.quantize(torch::randn({4, 64}), kP, torch::kBFloat16);
  EXPECT_EQ(q.quantization_config_json(),
            "{\"quant_method\": \"bitsandbytes\", \"load_in_4bit\": true, \"load_in_8bit\": "
            "false, \"bnb_4bit_quant_type\": \"nf4\", \"bnb_4bit_use_double_quant\": true, "
            "\"bnb_4bit_compute_dtype\": \"bfloat16\", \"bnb_4bit_quant_storage\": \"uint8\", "
            "\"llm_int8_skip_modules\": null}");
}

TEST(NF4Weight, StorageWithDoubleQuantIsAtMost052BytesPerParameter) {
  torch::manual_seed(8);
  const torch::Tensor dense = torch::randn({1024, 1024}) * 0.02;
  const auto dq = quantize(dense, "double_quant = true");
  const auto plain = quantize(dense, "");
  const double n = static_cast<double>(dense.numel());
  EXPECT_LE(dq->storage_bytes() / n, 0.52);
  // 4 bits + a float32 absmax per 64 values.
  EXPECT_EQ(plain->storage_bytes(), dense.numel() / 2 + dense.numel() / 64 * 4 + 16 * 4);
  // 4 bits + one byte per 64 values + nested absmax + the two maps.
  EXPECT_EQ(dq->storage_bytes(), dense.numel() / 2 + dense.numel() / 64 +
                                     (dense.numel() / 64 / 256) * 4 + 16 * 4 + 256 * 4);
}

TEST(NF4Weight, SavedCheckpointLoadsAsIsWithoutRequantizing) {
  torch::manual_seed(9);
  for (bool dq : {true, false}) {
    auto w = quantize(torch::randn({24, 40}), dq ? "double_quant = true" : "", torch::kBFloat16);
    const fs::path dir = temp_dir("nf4_roundtrip");
    rlhf::save_safetensors(dir / "model.safetensors", w->state_dict(kP));
    rlhf::SafetensorsFile file(dir / "model.safetensors");
    NF4Quantizer q(rlhf::Config::parse(""));  // its own settings do not matter for loading
    auto loaded =
        std::dynamic_pointer_cast<NF4Weight>(q.load_prequantized(file, kP, torch::kBFloat16));
    ASSERT_TRUE(loaded);
    EXPECT_EQ(loaded->double_quant(), dq);
    EXPECT_EQ(loaded->out_features(), 24);
    EXPECT_EQ(loaded->in_features(), 40);
    EXPECT_TRUE(torch::equal(loaded->dense(), w->dense()));
    const auto a = w->state_dict(kP), b = loaded->state_dict(kP);
    ASSERT_EQ(a.size(), b.size());
    for (std::size_t i = 0; i < a.size(); ++i) {
      EXPECT_EQ(a[i].first, b[i].first);
      EXPECT_TRUE(torch::equal(a[i].second, b[i].second)) << a[i].first;
    }
    fs::remove_all(dir);
  }
}

TEST(NF4Weight, DenseCheckpointIsNotPrequantized) {
  NF4Quantizer q(rlhf::Config::parse(""));
  MapSource source({{kP + ".weight", torch::randn({4, 64})}});
  EXPECT_EQ(q.load_prequantized(source, kP, torch::kFloat32), nullptr);
}

TEST(NF4Weight, CheckpointMissingAQuantStateTensorIsAnErrorNamingIt) {
  torch::manual_seed(10);
  auto w = quantize(torch::randn({16, 64}), "double_quant = true");
  NF4Quantizer q(rlhf::Config::parse(""));
  const std::string p = kP + ".weight";
  for (const std::string& missing :
       {p + ".absmax", p + ".quant_map", p + ".nested_absmax", p + ".nested_quant_map", p,
        p + ".quant_state.bitsandbytes__nf4"}) {
    MapSource source(w->state_dict(kP));
    source.tensors_.erase(missing);
    const std::string msg = message_of([&] { q.load_prequantized(source, kP, torch::kFloat32); });
    EXPECT_NE(msg.find("missing tensor '" + missing + "'"), std::string::npos) << msg;
  }
  // A wrong-sized tensor is refused with the expected size.
  MapSource source(w->state_dict(kP));
  source.tensors_[p + ".absmax"] = torch::zeros({3}, torch::kUInt8);
  const std::string msg = message_of([&] { q.load_prequantized(source, kP, torch::kFloat32); });
  EXPECT_NE(msg.find("absmax must be uint8 codes with 16 elements"), std::string::npos) << msg;
}

TEST(NF4Weight, ForwardAndBackwardGiveGradientForXOnly) {
  torch::manual_seed(11);
  auto w = quantize(torch::randn({24, 40}) * 0.05, "double_quant = true");
  EXPECT_TRUE(w->parameters().empty());
  for (const auto& b : w->buffers()) EXPECT_FALSE(b.requires_grad());
  const torch::Tensor W = w->dense(torch::kFloat32);
  const torch::Tensor x = torch::randn({3, 5, 40}, torch::requires_grad());
  const torch::Tensor y = w->forward(x);
  ASSERT_EQ(y.sizes(), (std::vector<std::int64_t>{3, 5, 24}));
  EXPECT_TRUE(torch::allclose(y, torch::matmul(x.detach(), W.t()), 1e-5, 1e-6));
  const torch::Tensor g = torch::randn({3, 5, 24});
  (y * g).sum().backward();
  ASSERT_TRUE(x.grad().defined());
  EXPECT_TRUE(torch::allclose(x.grad(), torch::matmul(g, W), 1e-5, 1e-6));
  // bfloat16 compute: the output keeps x's dtype.
  const torch::Tensor xb = torch::randn({2, 40}).to(torch::kBFloat16);
  const torch::Tensor yb = w->forward(xb);
  EXPECT_EQ(yb.scalar_type(), torch::kBFloat16);
  EXPECT_TRUE(torch::allclose(yb.to(torch::kFloat32), torch::matmul(xb.to(torch::kFloat32), W.t()),
                              2e-2, 2e-2));
}

TEST(NF4Weight, RegistryInstantiatesTheBuiltPlugin) {
  rlhf::host::PluginRegistry reg({RLHF_PLUGIN_DIR});
  auto q = reg.create<rlhf::Quantizer>(rlhf::PluginKind::quantizer, "nf4",
                                       rlhf::Config::parse("blocksize = 128"));
  torch::manual_seed(12);
  const torch::Tensor dense = torch::randn({8, 128});
  auto w = q->quantize(dense, kP, torch::kFloat32);
  EXPECT_EQ(w->format(), "nf4");
  const auto sd = w->state_dict(kP);
  EXPECT_TRUE(torch::equal(sd[0].second, nf4_quantize(dense, 128).packed));
}
