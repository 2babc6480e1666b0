// data_bench: reading and tokenising an UltraFeedback-sized preference file, as a DPO stage does
// before its first step.
//
//   build/bench/data_bench [--rows 100000] [--tokenizer DIR | --vocab 1000] [--no-baseline]
//                          [--keep]
//
// Writes `rows` pairs in the UltraFeedback-binarized layout (prompt ~600 characters, chosen and
// rejected ~1,300 each, as whole conversations, plus prompt_id, messages and scores: ~6.4 KB a
// line) of English-like text to a temporary folder, then times
//   (a) the jsonl source: JsonlSource(config) + load(seed), every line parsed into an Example;
//   (b) tokenisation: tokenize_pairs (what tokenize_stage_pairs runs for the DPO and ORPO
//       stages) with the zephyr chat template and TRL's default max_length/max_prompt_length,
//       twice: first with plain sentencepiece encoding (the baseline, the tokenizer without its
//       word cache; --no-baseline skips it), then as Tokenizer::load gives it (with the word
//       cache when the model allows it); the two must give the same ids.
// The text: sentences of words drawn with Zipf frequencies from the words of the shipped corpora
// (examples/tokenizer/corpus.txt, examples/data/polite_corpus.txt). The tokenizer: DIR when
// given (e.g. examples/models/tiny of scripts/quickstart.sh, or any Llama tokenizer folder),
// else a BPE tokenizer trained as `rlhf-host init-model` trains one (vocab 1000) on 20,000
// generated sentences: the text has only ~850 word types, and vocab 1000 splits the rarer ones,
// giving ~4 characters a token, as Llama's tokenizer gives on English.
// Both parts run on every hardware thread (rlhf::parallel_for); `taskset -c 0` gives one.
#include <sched.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "jsonl/jsonl_source.hpp"
#include "rlhf/config.hpp"
#include "rlhf/sentencepiece_tokenizer.hpp"
#include "rlhf/toolkit/chat_template.hpp"
#include "rlhf/toolkit/parallel_for.hpp"
#include "rlhf/toolkit/preference_data.hpp"
#include "rlhf/toolkit/tokenizer.hpp"
#include "rlhf/training_config.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// CPU seconds (user + system, every thread) this process has used.
double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

double peak_rss_mib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

// English-like text: Zipf-distributed words of the shipped corpora in sentences of 6–22 words,
// capitalised, with commas, numbers now and then, and paragraph breaks.
class TextGenerator {
 public:
  explicit TextGenerator(std::uint64_t seed) : rng_(seed) {
    std::set<std::string> seen;
    for (const char* file : {"examples/tokenizer/corpus.txt", "examples/data/polite_corpus.txt"}) {
      std::ifstream in(fs::path(RLHF_SOURCE_DIR) / file);
      for (std::string w; in >> w;) {
        std::string word;
        for (char c : w)
          if (std::isalpha(static_cast<unsigned char>(c)))
            word += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (!word.empty() && seen.insert(word).second) words_.push_back(word);
      }
    }
    std::shuffle(words_.begin(), words_.end(), rng_);  // rank = frequency order
    std::vector<double> weights;
    for (std::size_t r = 0; r < words_.size(); ++r) weights.push_back(1.0 / double(r + 1));
    zipf_ = std::discrete_distribution<std::size_t>(weights.begin(), weights.end());
  }

  std::size_t vocabulary() const { return words_.size(); }

  std::string sentence() {
    std::string s;
    const int n = std::uniform_int_distribution<int>(6, 22)(rng_);
    for (int i = 0; i < n; ++i) {
      std::string w = rng_() % 40 == 0 ? std::to_string(rng_() % 2000) : words_[zipf_(rng_)];
      if (i == 0) w[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(w[0])));
      s += (i ? " " : "") + w;
      if (i + 1 < n && rng_() % 9 == 0) s += ",";
    }
    static const char* kEnds[] = {".", ".", ".", "?", "!"};
    return s + kEnds[rng_() % 5];
  }

  // About `chars` characters of sentences, with a paragraph break now and then.
  std::string text(std::size_t chars) {
    std::string t;
    while (t.size() < chars) {
      if (!t.empty()) t += rng_() % 5 == 0 ? "\n\n" : " ";
      t += sentence();
    }
    return t;
  }

 private:
  std::mt19937_64 rng_;
  std::vector<std::string> words_;
  std::discrete_distribution<std::size_t> zipf_;
};

json turn(const char* role, const std::string& content) {
  return {{"role", role}, {"content", content}};
}

// The UltraFeedback-binarized layout, one pair a line.
std::size_t write_ultrafeedback(const fs::path& path, std::size_t rows, TextGenerator& gen) {
  std::ofstream out(path, std::ios::binary);
  char id[17];
  for (std::size_t i = 0; i < rows; ++i) {
    const std::string prompt = gen.text(600), chosen = gen.text(1300), rejected = gen.text(1300);
    std::snprintf(id, sizeof id, "%016llx",
                  static_cast<unsigned long long>(i) * 0x9E3779B97F4A7C15ull);
    json row = {{"prompt", prompt},
                {"prompt_id", id},
                {"chosen", {turn("user", prompt), turn("assistant", chosen)}},
                {"rejected", {turn("user", prompt), turn("assistant", rejected)}},
                {"messages", {turn("user", prompt), turn("assistant", chosen)}},
                {"score_chosen", 8.0},
                {"score_rejected", 5.5}};
    out << row.dump() << '\n';
  }
  out.close();
  return fs::file_size(path);
}

}  // namespace

int run(int argc, char** argv) {
  std::size_t rows = 100000;
  int vocab = 1000;
  fs::path tokenizer_dir;
  bool keep = false, baseline = true;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--rows" && i + 1 < argc)
      rows = std::stoul(argv[++i]);
    else if (a == "--tokenizer" && i + 1 < argc)
      tokenizer_dir = argv[++i];
    else if (a == "--vocab" && i + 1 < argc)
      vocab = std::stoi(argv[++i]);
    else if (a == "--keep")
      keep = true;
    else if (a == "--no-baseline")
      baseline = false;
    else {
      std::fprintf(stderr,
                   "usage: data_bench [--rows N] [--tokenizer DIR | --vocab N] [--no-baseline] "
                   "[--keep]\n");
      return 2;
    }
  }
  const fs::path dir =
      fs::temp_directory_path() / ("rlhf-data-bench-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::size_t threads = rlhf::default_thread_count();

  auto t0 = std::chrono::steady_clock::now();
  TextGenerator gen(7);
  const fs::path data = dir / "ultrafeedback.jsonl";
  const std::size_t bytes = write_ultrafeedback(data, rows, gen);
  std::printf("data: %zu pairs, %.1f MiB (%.0f bytes/line, %zu word types), written in %.1f s\n",
              rows, double(bytes) / (1 << 20), double(bytes) / double(rows), gen.vocabulary(),
              seconds_since(t0));

  if (tokenizer_dir.empty()) {
    t0 = std::chrono::steady_clock::now();
    const fs::path corpus = dir / "corpus.txt";
    {
      std::ofstream out(corpus);
      for (int i = 0; i < 20000; ++i) out << gen.sentence() << '\n';
    }
    tokenizer_dir = dir / "tokenizer";
    rlhf::train_sentencepiece_tokenizer(
        corpus, tokenizer_dir, vocab,
        {"<|system|>", "<|user|>", "<|assistant|>", "<|im_start|>", "<|im_end|>"});
    std::printf("tokenizer: BPE, vocab %d, trained in %.1f s (not timed below)\n", vocab,
                seconds_since(t0));
  }
  const auto tokenizer = rlhf::Tokenizer::load(tokenizer_dir);
  const std::string refusal = rlhf::detail::word_cache_refusal(tokenizer_dir / "tokenizer.model");
  std::printf("word cache: %s\n", refusal.empty() ? "used" : ("not used: " + refusal).c_str());
  const auto chat_template = rlhf::ChatTemplate::get("zephyr");
  const rlhf::TrainingConfig training;  // max_length 1024, max_prompt_length 512 (TRL)

  t0 = std::chrono::steady_clock::now();
  double cpu0 = cpu_seconds();
  const rlhf::Config config = rlhf::Config::parse("path = \"" + data.string() + "\"\n", "bench");
  rlhf::jsonl::JsonlSource source(config);
  source.load(1);
  const double load_s = seconds_since(t0), load_cpu = cpu_seconds() - cpu0;
  std::printf(
      "(a) jsonl load:     %6.2f s  %7.1f MiB/s  %8.0f pairs/s  (%zu threads, %.2f s CPU)\n",
      load_s, double(bytes) / (1 << 20) / load_s, double(source.size()) / load_s, threads,
      load_cpu);

  auto tokenize = [&](const rlhf::Tokenizer& tok, const char* label, double& wall) {
    const auto start = std::chrono::steady_clock::now();
    const double cpu_start = cpu_seconds();
    auto pairs = rlhf::tokenize_pairs(source, rlhf::Split::train, tok, chat_template, training);
    wall = seconds_since(start);
    const double cpu = cpu_seconds() - cpu_start;
    std::size_t tokens = 0;
    for (const auto& p : pairs)
      tokens += p.chosen.prompt.size() + p.chosen.completion.size() + p.rejected.prompt.size() +
                p.rejected.completion.size();
    std::printf("%s: %6.2f s  %7.0f pairs/s  %.2fM tokens/s  (%.0f tokens/pair, %.2f s CPU)\n",
                label, wall, double(pairs.size()) / wall, double(tokens) / wall / 1e6,
                double(tokens) / double(pairs.size()), cpu);
    return pairs;
  };
  double plain_s = 0, tok_s = 0;
  std::size_t differ = 0;
  std::vector<rlhf::TokenizedPair> plain_pairs;
  if (baseline)
    plain_pairs = tokenize(*rlhf::detail::load_tokenizer(tokenizer_dir, /*word_cache=*/false),
                           "(b0) tokenize_pairs, plain sentencepiece", plain_s);
  const auto pairs = tokenize(*tokenizer, "(b) tokenize_pairs, Tokenizer::load", tok_s);
  if (baseline) {
    auto same = [](const rlhf::PromptCompletionIds& a, const rlhf::PromptCompletionIds& b) {
      return a.prompt == b.prompt && a.completion == b.completion;
    };
    differ = plain_pairs.size() == pairs.size() ? 0 : pairs.size();
    for (std::size_t i = 0; i < pairs.size() && i < plain_pairs.size(); ++i)
      differ += !(same(pairs[i].chosen, plain_pairs[i].chosen) &&
                  same(pairs[i].rejected, plain_pairs[i].rejected));
    std::printf("(b) vs (b0): %.1fx faster; %zu of %zu pairs with different ids\n", plain_s / tok_s,
                differ, pairs.size());
  }
  std::printf("total %.2f s for %zu pairs; peak RSS %.0f MiB\n", load_s + tok_s, pairs.size(),
              peak_rss_mib());
  if (!keep)
    fs::remove_all(dir);
  else
    std::printf("kept %s\n", dir.c_str());
  return differ ? 1 : 0;
}

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "data_bench: %s\n", e.what());
    return 1;
  }
}
