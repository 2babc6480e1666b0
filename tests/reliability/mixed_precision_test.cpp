// A bfloat16 full fine-tune through the binary: the model computes in bfloat16 and AdamW updates
// float32 master weights (sdk/include/rlhf/toolkit/master_weights.hpp). Its checkpoints hold the
// masters, so --resume continues exactly where a checkpoint of the rounded weights could not.
#include <torch/serialize.h>

#include "reliability_util.hpp"
#include "rlhf/toolkit/safetensors.hpp"

using namespace rlhf::reliability;

namespace {

// The projection's name in the checkpoint (the module tree) and in model.safetensors (HF's).
const std::string kCheckpointName = "model.layers.0.self_attn.q_proj.base.weight";
const std::string kWeight = "model.layers.0.self_attn.q_proj.weight";

torch::Tensor checkpointed(const fs::path& checkpoint, const std::string& name) {
  torch::serialize::InputArchive archive;
  archive.load_from((checkpoint / "trainable.pt").string());
  torch::Tensor t;
  if (!archive.try_read(name, t)) {
    std::string keys;
    for (const auto& k : archive.keys()) keys += k + " ";
    ADD_FAILURE() << checkpoint << " lacks " << name << "; it has " << keys;
  }
  return t;
}

}  // namespace

TEST(MixedPrecision, Bfloat16FullFineTuneCheckpointsFloat32MastersAndResumesExactly) {
  const std::string stage = sft_stage(sft_data().string(), 4) +
                            "\nsave_steps = 2\nlearning_rate = 1e-5\nsave_total_limit = 0\n";
  TempDir whole;
  const fs::path pipeline = write_pipeline(whole.path(), tiny_model(), stage);
  const auto r = run_host({pipeline.string(), "--set", "model.dtype=bfloat16"}, whole.path());
  ASSERT_EQ(r.exit_code, 0) << r.describe();

  const fs::path sft = whole / "run/sft";
  const torch::Tensor master = checkpointed(sft / "checkpoint-4", kCheckpointName);
  EXPECT_EQ(master.scalar_type(), torch::kFloat) << "a checkpoint holds the float32 masters";
  // The saved model is bfloat16 and is the last masters rounded to nearest.
  rlhf::SafetensorsFile model(sft / "model/model.safetensors");
  const torch::Tensor saved = model.load(kWeight);
  EXPECT_EQ(saved.scalar_type(), torch::kBFloat16);
  EXPECT_TRUE(saved.equal(master.to(torch::kBFloat16)));
  // The masters hold what bfloat16 cannot: updates of ~1e-5 on weights of ~0.1.
  EXPECT_FALSE(master.equal(master.to(torch::kBFloat16).to(torch::kFloat)));

  // The same run interrupted after checkpoint-2: --resume ends at the same weights, bit for bit.
  TempDir part;
  const fs::path again = write_pipeline(part.path(), tiny_model(), stage);
  fs::copy(whole / "run", part / "run", fs::copy_options::recursive);
  for (const char* later : {"checkpoint-4", "model", "stage_complete.json"})
    fs::remove_all(part / "run/sft" / later);
  const auto resumed =
      run_host({again.string(), "--set", "model.dtype=bfloat16", "--resume"}, part.path());
  ASSERT_EQ(resumed.exit_code, 0) << resumed.describe();
  ASSERT_NE(resumed.output.find("resumed from " + (part / "run/sft/checkpoint-2").string()),
            std::string::npos)
      << resumed.output;
  EXPECT_TRUE(checkpointed(part / "run/sft/checkpoint-4", kCheckpointName).equal(master));
  rlhf::SafetensorsFile resumed_model(part / "run/sft/model/model.safetensors");
  for (const auto& name : model.names())
    EXPECT_TRUE(resumed_model.load(name).equal(model.load(name))) << name;
}
