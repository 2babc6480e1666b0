// tokenizer.json byte-level BPE encode/decode speed on one core (issue 16: ≥ 1 MB/s).
//   build/bench/tokenizer_json_bench [tokenizer-dir]   (default tests/tokenizer_json/llama3)
// Texts: "stress" is the round-trip test's mixture (multilingual, emoji, code, whitespace)
// repeated to 4 MiB, so words repeat as in real text and the word cache serves most of them;
// "fresh words" is 4 MiB of random words never seen before (each goes through the merges).
#include <chrono>
#include <cstdio>
#include <random>
#include <string>

#include "rlhf/toolkit/tokenizer.hpp"

namespace {

const char* const kStress[] = {
    "Hello world! The quick brown fox jumps over the lazy dog. ",
    "I'm sure she's right, they'RE late and we'VE gone; it'LL be what I'D say, don't. ",
    "Call 1234567 or 12.5% of 2024-11-30 at 3:45pm, pi=3.14159265\n",
    "Gr\u00fc\u00dfe aus M\u00fcnchen, \u00e7a co\u00fbte tr\u00e8s cher \u00e0 l'\u00e9t\u00e9. ",
    "\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440! "
    "\u4f60\u597d\uff0c\u4e16\u754c\u3002 ",
    "I \u2764\ufe0f it \U0001f600\U0001f44d\U0001f3fd \U0001f468\u200d\U0001f469\u200d\U0001f467 ",
    "def f(x):\n    return {'a': [x**2, \"s\"]}  # done\n\tif x != 0:\n\t\tpass\n",
    "a  b\t\tc \n d\r\n\r\ne   \n\n  f    ",
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void measure(const rlhf::Tokenizer& tok, const char* name, const std::string& text) {
  const double mb = static_cast<double>(text.size()) / 1e6;
  auto t0 = std::chrono::steady_clock::now();
  const auto ids = tok.encode(text, false, false);
  const double enc = seconds_since(t0);
  t0 = std::chrono::steady_clock::now();
  const std::string back = tok.decode(ids, false);
  const double dec = seconds_since(t0);
  std::printf("%-12s %6.2f MB  %8zu ids  encode %7.2f MB/s  decode %8.2f MB/s  round trip %s\n",
              name, mb, ids.size(), mb / enc, mb / dec, back == text ? "ok" : "DIFFERS");
}

}  // namespace

int main(int argc, char** argv) {
  const std::string dir =
      argc > 1 ? argv[1] : std::string(RLHF_SOURCE_DIR) + "/tests/tokenizer_json/llama3";
  const auto tok = rlhf::Tokenizer::load(dir);
  std::string stress;
  for (std::size_t i = 0; stress.size() < (4u << 20); ++i)
    stress += kStress[(i * 3) % (sizeof kStress / sizeof *kStress)];
  std::mt19937 rng(16);
  const std::string letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  std::string fresh;
  while (fresh.size() < (4u << 20)) {
    fresh += ' ';
    for (int n = 3 + static_cast<int>(rng() % 8); n > 0; --n) fresh += letters[rng() % 52];
    if (rng() % 10 == 0) fresh += ".,!?;:"[rng() % 6];
  }
  std::printf("tokenizer %s: %lld tokens\n", dir.c_str(),
              static_cast<long long>(tok->vocab_size()));
  measure(*tok, "stress", stress);
  measure(*tok, "fresh words", fresh);
  measure(*tok, "stress again", stress);
  return 0;
}
