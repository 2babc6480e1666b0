// Versions and the ABI tag.
#pragma once

#include <torch/version.h>

// The SDK ABI is MAJOR.MINOR, like GStreamer's plugin versions. A plugin loads when it was
// built against the host's major and a minor no newer than the host's; otherwise the host lists
// it and refuses to create it, printing both versions.
//  - RLHF_SDK_ABI_VERSION (major): bump when a public header changes what an existing plugin
//    relies on: an interface gains/loses/reorders a virtual function, a struct or class that
//    crosses the boundary gains, loses or retypes a field, a function's signature changes.
//    Reset the minor to 0.
//  - RLHF_SDK_ABI_MINOR: bump for pure additions an older plugin never sees: a new function,
//    a new class or header, a new enum value no plugin receives.
// tests/sdk/contract_test.cpp pins a hash of the public headers (comments and whitespace aside)
// to MAJOR.MINOR in sdk/contract.lock, so a header change without a bump fails the suite.
// 2: Algorithm::check() and Quantizer::trainable() (virtual functions appended).
// 3: stage helpers (stage.hpp, pair_preference.hpp, reference_policy.hpp); StageContext lost
//    run_dir and gained check_only; StepOutput gained predictions; PluginManifest gained abi_minor.
// 4: TrainingTask gained begin_epoch (PPO's rollouts); ReferencePolicy gained with_reference and
//    a member; new: token_logps, stop_token_ids, completion_text, sequence_classifier.hpp,
//    sequence_classifier_result.hpp.
// 5: tokenizer.json tokenizers, model families, Jinja chat templates (chat_template.hpp,
//    model_config.hpp, tokenizer.hpp). 5.1: completion_logits, CompletionLogits,
//    sequence_logps(CompletionLogits), CausalLM::packed_hidden_states, data_parallel.hpp.
//    5.2: toolkit/master_weights.hpp (MasterWeights).
#define RLHF_SDK_ABI_VERSION 5
#ifndef RLHF_SDK_ABI_MINOR  // a test plugin overrides it to pose as built against a newer SDK
#define RLHF_SDK_ABI_MINOR 2
#endif
#define RLHF_SDK_VERSION "0.1.0"

#define RLHF_STRINGIFY_(x) #x
#define RLHF_STRINGIFY(x) RLHF_STRINGIFY_(x)

#if defined(__clang__)
#define RLHF_COMPILER_TAG "clang" RLHF_STRINGIFY(__clang_major__)
#elif defined(__GNUC__)
#define RLHF_COMPILER_TAG "gcc" RLHF_STRINGIFY(__GNUC__)
#else
#define RLHF_COMPILER_TAG "unknown"
#endif

#if defined(_GLIBCXX_USE_CXX11_ABI)
#define RLHF_CXXABI_TAG "cxx11abi" RLHF_STRINGIFY(_GLIBCXX_USE_CXX11_ABI)
#else
#define RLHF_CXXABI_TAG "cxxabi-unknown"
#endif

// e.g. "sdk4-torch1.13-gcc12-cxx11abi1": the SDK ABI major (the minor is checked on its own,
// see abi_compatible), the torch major.minor (patch releases keep the C++ ABI), the compiler.
#ifndef RLHF_ABI_TAG
// (kept by hand: clang-format would put one argument per line)
// clang-format off
#define RLHF_ABI_TAG                                                                        \
  "sdk" RLHF_STRINGIFY(RLHF_SDK_ABI_VERSION) "-torch" RLHF_STRINGIFY(TORCH_VERSION_MAJOR) "." \
      RLHF_STRINGIFY(TORCH_VERSION_MINOR) "-" RLHF_COMPILER_TAG "-" RLHF_CXXABI_TAG
// clang-format on
#endif

namespace rlhf {
// The tag the SDK (and so the host) was built with.
const char* sdk_abi_tag();

// Whether a plugin built against SDK ABI plugin_major.plugin_minor may be loaded by a host of
// host_major.host_minor: same major, plugin minor ≤ host minor.
constexpr bool abi_compatible(unsigned plugin_major, unsigned plugin_minor, unsigned host_major,
                              unsigned host_minor) {
  return plugin_major == host_major && plugin_minor <= host_minor;
}
}  // namespace rlhf
