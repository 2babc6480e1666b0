// librlhf_sentencepiece: a C API over sentencepiece, loaded at run time by librlhf_sdk.
//
// Why a separate library: Debian's libsentencepiece bundles and exports its own protobuf-lite
// (3.14) while LibTorch loads libprotobuf 3.21; linking both into one image makes protobuf's
// static initialisers resolve into the wrong copy (crash or version abort at start-up). The SDK
// dlopen()s this shim with RTLD_LOCAL | RTLD_DEEPBIND, so sentencepiece binds to its own
// protobuf and nothing of it leaks into the process's global symbol scope. Only C types cross.
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

char* copy_string(const std::string& s) {
  char* out = static_cast<char*>(std::malloc(s.size() + 1));
  if (out) std::memcpy(out, s.c_str(), s.size() + 1);
  return out;
}

void set_error(char** error, const std::string& message) {
  if (error) *error = copy_string(message);
}

}  // namespace

extern "C" {

// Every function returning char* or int* hands over malloc'd memory: free it with rlhf_sp_free.
void rlhf_sp_free(void* p) { std::free(p); }

void* rlhf_sp_load(const char* path, char** error) {
  try {
    auto* sp = new sentencepiece::SentencePieceProcessor();
    const auto status = sp->Load(path);
    if (!status.ok()) {
      set_error(error, status.ToString());
      delete sp;
      return nullptr;
    }
    return sp;
  } catch (const std::exception& e) {
    set_error(error, e.what());
    return nullptr;
  }
}

void rlhf_sp_destroy(void* handle) {
  delete static_cast<sentencepiece::SentencePieceProcessor*>(handle);
}

// Encodes `len` bytes of `text` into ids (*ids malloc'd, *count set). Returns 0 on success.
int rlhf_sp_encode(void* handle, const char* text, size_t len, int** ids, size_t* count) {
  try {
    std::vector<int> out;
    const auto status = static_cast<sentencepiece::SentencePieceProcessor*>(handle)->Encode(
        std::string(text, len), &out);
    if (!status.ok()) return -1;
    *count = out.size();
    *ids = static_cast<int*>(std::malloc(sizeof(int) * (out.empty() ? 1 : out.size())));
    if (!*ids) return -1;
    if (!out.empty()) std::memcpy(*ids, out.data(), sizeof(int) * out.size());
    return 0;
  } catch (...) {
    return -1;
  }
}

char* rlhf_sp_decode(void* handle, const int* ids, size_t count) {
  try {
    std::string out;
    const auto status = static_cast<sentencepiece::SentencePieceProcessor*>(handle)->Decode(
        std::vector<int>(ids, ids + count), &out);
    if (!status.ok()) return nullptr;
    return copy_string(out);
  } catch (...) {
    return nullptr;
  }
}

int rlhf_sp_piece_to_id(void* handle, const char* piece) {
  return static_cast<sentencepiece::SentencePieceProcessor*>(handle)->PieceToId(piece);
}

char* rlhf_sp_id_to_piece(void* handle, int id) {
  auto* sp = static_cast<sentencepiece::SentencePieceProcessor*>(handle);
  if (id < 0 || id >= sp->GetPieceSize()) return nullptr;
  return copy_string(sp->IdToPiece(id));
}

int rlhf_sp_vocab_size(void* handle) {
  return static_cast<sentencepiece::SentencePieceProcessor*>(handle)->GetPieceSize();
}

// 1 when `id` is a control symbol (<s>, </s>, …), 2 when unknown, 3 when byte, 0 otherwise.
int rlhf_sp_id_kind(void* handle, int id) {
  auto* sp = static_cast<sentencepiece::SentencePieceProcessor*>(handle);
  if (id < 0 || id >= sp->GetPieceSize()) return -1;
  if (sp->IsControl(id)) return 1;
  if (sp->IsUnknown(id)) return 2;
  if (sp->IsByte(id)) return 3;
  return 0;
}

// Trains a model from a sentencepiece_trainer argument string ("--input=… --model_prefix=…").
int rlhf_sp_train(const char* args, char** error) {
  try {
    const auto status = sentencepiece::SentencePieceTrainer::Train(args);
    if (!status.ok()) {
      set_error(error, status.ToString());
      return -1;
    }
    return 0;
  } catch (const std::exception& e) {
    set_error(error, e.what());
    return -1;
  }
}

}  // extern "C"
