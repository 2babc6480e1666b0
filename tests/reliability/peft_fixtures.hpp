// Fixtures of the adapter-folder, quantized-checkpoint and export tests (test_reliability,
// test_train, test_quant, test_model), made through the rlhf-host binary once per build of the
// host and shared by every test process, like tiny_model(): a trained SFT adapter folder of the
// tiny model, the tiny model quantized to NF4, and `logprobs` output.
#pragma once

#include <nlohmann/json.hpp>

#include <functional>

#include "reliability_util.hpp"

namespace rlhf::reliability {

// A fixture folder under build/test-fixtures named `name` + the host's build stamp, made by
// `make(tmp)` into a private folder and renamed into place (a process that loses the race keeps
// the winner's copy).
inline fs::path shared_fixture(const std::string& name,
                               const std::function<void(const fs::path&)>& make) {
  const auto stamp = fs::last_write_time(kHost).time_since_epoch().count();
  const fs::path out =
      fs::path(RLHF_BINARY_DIR) / "test-fixtures" / (name + "-" + std::to_string(stamp));
  if (fs::exists(out)) return out;
  const fs::path mine = out.string() + ".tmp-" + std::to_string(::getpid());
  fs::remove_all(mine);
  fs::create_directories(mine);
  make(mine);
  std::error_code ec;
  fs::rename(mine, out, ec);
  if (ec) fs::remove_all(mine, ec);
  return out;
}

inline std::vector<nlohmann::json> read_jsonl(const fs::path& path) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  return out;
}

// The first `n` pairs of the shipped preference data, as `dir`/prefs.jsonl.
inline fs::path small_prefs(const fs::path& dir, int n = 4) {
  std::ifstream in(pref_data());
  std::string text, line;
  for (int i = 0; i < n && std::getline(in, line); ++i) text += line + "\n";
  write_file(dir / "prefs.jsonl", text);
  return dir / "prefs.jsonl";
}

// The LoRA adapter folder (PEFT layout: r 4, alpha 8, q_proj + v_proj) of a 3-step SFT run on
// tiny_model() at learning rate 1e-2, so its B matrices are far from zero.
inline fs::path sft_adapter() {
  static const fs::path dir = shared_fixture("sft-adapter", [](const fs::path& tmp) {
    const auto pipeline = write_pipeline(
        tmp, tiny_model(), sft_stage(sft_data().string(), 3) + "\nlearning_rate = 1e-2\n",
        "[adapter]\nplugin = \"lora\"\nr = 4\nalpha = 8\n");
    const auto r = run_host({pipeline.string()}, tmp, 300);
    if (r.exit_code != 0) ADD_FAILURE() << "SFT fixture failed: " << r.describe();
    fs::rename(tmp / "run/sft/adapter", tmp / "adapter");
    fs::remove_all(tmp / "run");
  });
  return dir / "adapter";
}

// tiny_model() quantized by `rlhf-host quantize` (nf4, double quantization, blocksize 64).
inline fs::path nf4_model() {
  static const fs::path dir = shared_fixture("tiny-nf4", [](const fs::path& tmp) {
    const auto r = run_host({"quantize", "--model", tiny_model().string(), "--quantizer", "nf4",
                             "--set", "double_quant=true", "--out", (tmp / "model").string()},
                            tmp, 120);
    if (r.exit_code != 0) ADD_FAILURE() << "quantize fixture failed: " << r.describe();
  });
  return dir / "model";
}

// `rlhf-host logprobs` of `model` (+ `adapter`) on `data` with the zephyr template, one JSON
// object per pair.
inline std::vector<nlohmann::json> logprobs(const fs::path& model, const fs::path& data,
                                            const fs::path& out, const fs::path& adapter = {}) {
  std::vector<std::string> args = {"logprobs",   "--model",         model.string(),
                                   "--data",     data.string(),     "--out",
                                   out.string(), "--chat-template", "zephyr"};
  if (!adapter.empty()) {
    args.push_back("--adapter");
    args.push_back(adapter.string());
  }
  const auto r = run_host(args, out.parent_path(), 120);
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  return read_jsonl(out);
}

// The line of file `path` an example came from (its "source", "file:line").
inline int source_line(const nlohmann::json& prediction) {
  const auto source = prediction.at("source").get<std::string>();
  return std::stoi(source.substr(source.rfind(':') + 1));
}

}  // namespace rlhf::reliability
