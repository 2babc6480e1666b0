// Run-time loading of librlhf_sentencepiece (see sentencepiece_shim.hpp).
#include "sentencepiece_shim.hpp"

#include <dlfcn.h>

#include <cstdlib>
#include <filesystem>
#include <mutex>

#include "rlhf/error.hpp"

namespace rlhf::detail {

namespace {

std::filesystem::path default_shim_path() {
  Dl_info info{};
  // Any symbol of librlhf_sdk tells us where the library itself was loaded from.
  if (dladdr(reinterpret_cast<void*>(&sentencepiece_api), &info) == 0 || !info.dli_fname)
    throw Error(
        "sentencepiece: cannot locate librlhf_sdk.so (dladdr failed); set "
        "RLHF_SENTENCEPIECE_SHIM to the path of librlhf_sentencepiece.so");
  return std::filesystem::path(info.dli_fname).parent_path() / "librlhf_sentencepiece.so";
}

// ASan's dlopen interceptor refuses RTLD_DEEPBIND outright (google/sanitizers#611), because a
// deep-bound library calls libc's malloc/free instead of ASan's. The shim needs DEEPBIND (see
// load_api) and frees everything it allocates itself, so sanitizer builds (RLHF_SANITIZE, fuzz/)
// ask libc's dlopen directly.
void* dlopen_deepbind(const char* path, int flags) {
#if defined(__SANITIZE_ADDRESS__)
  constexpr bool kAsan = true;
#elif defined(__has_feature)
  constexpr bool kAsan = __has_feature(address_sanitizer);
#else
  constexpr bool kAsan = false;
#endif
  if (kAsan)
    if (auto* libc_dlopen =
            reinterpret_cast<void* (*)(const char*, int)>(dlsym(RTLD_NEXT, "dlopen")))
      return libc_dlopen(path, flags | RTLD_DEEPBIND);
  return dlopen(path, flags | RTLD_DEEPBIND);
}

template <typename F>
void bind(void* lib, const std::string& path, const char* name, F& out) {
  void* sym = dlsym(lib, name);
  if (!sym) throw Error(path + ": missing symbol " + name + " (stale librlhf_sentencepiece?)");
  out = reinterpret_cast<F>(sym);
}

SentencePieceApi load_api() {
  const char* env = std::getenv("RLHF_SENTENCEPIECE_SHIM");
  const std::string path = env && *env ? std::string(env) : default_shim_path().string();
  // RTLD_DEEPBIND: sentencepiece resolves to its own bundled protobuf first; RTLD_LOCAL: its
  // symbols stay out of the global scope where LibTorch's protobuf lives. Never unloaded.
  void* lib = dlopen_deepbind(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib)
    throw Error("sentencepiece: cannot load " + path + ": " + dlerror() +
                " (it is built next to librlhf_sdk; set RLHF_SENTENCEPIECE_SHIM to override)");
  SentencePieceApi api{};
  bind(lib, path, "rlhf_sp_free", api.free);
  bind(lib, path, "rlhf_sp_load", api.load);
  bind(lib, path, "rlhf_sp_destroy", api.destroy);
  bind(lib, path, "rlhf_sp_encode", api.encode);
  bind(lib, path, "rlhf_sp_decode", api.decode);
  bind(lib, path, "rlhf_sp_piece_to_id", api.piece_to_id);
  bind(lib, path, "rlhf_sp_id_to_piece", api.id_to_piece);
  bind(lib, path, "rlhf_sp_vocab_size", api.vocab_size);
  bind(lib, path, "rlhf_sp_id_kind", api.id_kind);
  bind(lib, path, "rlhf_sp_train", api.train);
  return api;
}

}  // namespace

const SentencePieceApi& sentencepiece_api() {
  static std::once_flag once;
  static SentencePieceApi api{};
  std::call_once(once, [] { api = load_api(); });
  return api;
}

}  // namespace rlhf::detail
