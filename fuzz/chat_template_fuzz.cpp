// Fuzzes the chat templates (sdk/src/chat_template.cpp) with the sentencepiece tokenizer
// (sdk/src/tokenizer.cpp): render_prompt, render_completion and encode, the split of a rendered
// conversation into prompt and completion ids that every algorithm trains on.
//
// Input: byte 0 picks the template (bits 0-2, modulo the 5 templates) and the tokenizer (bit 3:
// add_bos_token + non-legacy, as init-model writes it, or no BOS + legacy); byte 1 is the number
// of prompt messages; the rest are messages separated by '\0', each a role byte (modulo 4:
// system, user, assistant, tool) followed by its content. Messages after the prompt are the
// completion.
// Oracle, besides ASan/UBSan and "only rlhf::Error": a non-empty completion never encodes to
// zero completion ids (a row with nothing to train on), and for one completion message the ids
// are those of render_prompt + render_completion; the tokenizer's word cache
// (sdk/src/wordwise_encoder.hpp) gives the ids of plain sentencepiece encoding.
#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>

#include "fuzz_util.hpp"
#include "rlhf/sentencepiece_tokenizer.hpp"
#include "rlhf/toolkit/chat_template.hpp"
#include "rlhf/toolkit/tokenizer.hpp"

namespace fs = std::filesystem;
using rlhf::Message;
using rlhf::fuzz::check;

namespace {

fs::path work_dir;
std::shared_ptr<rlhf::Tokenizer> tokenizers[2];
std::shared_ptr<rlhf::Tokenizer> plain_tokenizers[2];  // the same without the word cache

void remove_work_dir() {
  std::error_code ec;
  fs::remove_all(work_dir, ec);
}

// The tiny tokenizer init-model makes (chat markers as single tokens), and a copy of it that
// adds no BOS and runs in legacy mode.
void make_tokenizers() {
  std::string dir = (fs::temp_directory_path() / "rlhf-fuzz-tokenizer-XXXXXX").string();
  if (!::mkdtemp(dir.data())) rlhf::fuzz::finding("mkdtemp failed");
  work_dir = dir;
  std::atexit(remove_work_dir);
  rlhf::train_sentencepiece_tokenizer(
      fs::path(RLHF_SOURCE_DIR) / "examples/tokenizer/corpus.txt", work_dir / "a", 512,
      {"<|system|>", "<|user|>", "<|assistant|>", "<|im_start|>", "<|im_end|>"});
  fs::create_directories(work_dir / "b");
  fs::copy_file(work_dir / "a/tokenizer.model", work_dir / "b/tokenizer.model");
  std::ofstream(work_dir / "b/tokenizer_config.json") << R"({"add_bos_token": false})";
  tokenizers[0] = rlhf::Tokenizer::load(work_dir / "a");
  tokenizers[1] = rlhf::Tokenizer::load(work_dir / "b");
  plain_tokenizers[0] = rlhf::detail::load_tokenizer(work_dir / "a", /*word_cache=*/false);
  plain_tokenizers[1] = rlhf::detail::load_tokenizer(work_dir / "b", /*word_cache=*/false);
}

std::vector<Message> parse_messages(const std::uint8_t* data, std::size_t size) {
  static const char* const kRoles[] = {"system", "user", "assistant", "tool"};
  std::vector<Message> out;
  std::size_t pos = 0;
  while (pos < size) {
    std::size_t end = pos;
    while (end < size && data[end] != 0) ++end;
    if (end > pos) {
      const char* content = reinterpret_cast<const char*>(data + pos + 1);
      out.push_back({kRoles[data[pos] % 4], std::string(content, end - pos - 1)});
    }
    pos = end + 1;
  }
  return out;
}

}  // namespace

// sentencepiece is loaded with RTLD_DEEPBIND (sdk/src/sentencepiece_shim.cpp), so its news reach
// libstdc++'s operator new (ASan records a malloc) and its deletes ASan's operator delete: one
// allocator, reported as a new/delete mismatch inside the (uninstrumented) library.
extern "C" const char* __asan_default_options() { return "alloc_dealloc_mismatch=0"; }

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);
  ::setenv("RLHF_SENTENCEPIECE_SHIM", RLHF_SENTENCEPIECE_SHIM_FILE, 0);
  make_tokenizers();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const auto names = rlhf::ChatTemplate::names();
  const rlhf::ChatTemplate chat = rlhf::ChatTemplate::get(names[(data[0] & 7) % names.size()]);
  const rlhf::Tokenizer& tokenizer = *tokenizers[(data[0] >> 3) & 1];
  const rlhf::Tokenizer& plain = *plain_tokenizers[(data[0] >> 3) & 1];
  std::vector<Message> all = parse_messages(data + 2, size - 2);
  const std::size_t k = std::min<std::size_t>(data[1], all.size());
  const std::vector<Message> prompt(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(k));
  const std::vector<Message> completion(all.begin() + static_cast<std::ptrdiff_t>(k), all.end());

  rlhf::fuzz::only_rlhf_errors([&] {
    const std::string prompt_text = chat.render_prompt(prompt);
    check(tokenizer.encode(prompt_text, false, false) == plain.encode(prompt_text, false, false),
          "the word cache changes the ids of a text");
    if (!completion.empty()) (void)chat.render_completion(completion.front());
    const rlhf::PromptCompletionIds ids = chat.encode(tokenizer, prompt, completion);
    if (completion.empty()) return;
    check(!ids.completion.empty(), "a completion that encodes to no ids");
    if (completion.size() != 1) return;
    // render_prompt + render_completion is the text encode() trains on (BOS added the way
    // encode() adds it).
    std::vector<std::int64_t> joined = ids.prompt;
    joined.insert(joined.end(), ids.completion.begin(), ids.completion.end());
    std::vector<std::int64_t> expected = tokenizer.encode(
        chat.render_prompt(prompt) + chat.render_completion(completion.front()), false, false);
    if (tokenizer.add_bos_token() && (expected.empty() || expected[0] != tokenizer.bos_id()))
      expected.insert(expected.begin(), tokenizer.bos_id());
    // "none" ends the completion with EOS unless the completion wrote one itself.
    if (chat.name() == "none" && joined.size() == expected.size() + 1)
      expected.push_back(tokenizer.eos_id());
    check(joined == expected, "render_prompt + render_completion is not what encode() trains on");
    if (chat.name() == "none") check(ids.completion.back() == tokenizer.eos_id(), "no final EOS");
  });
  return 0;
}
