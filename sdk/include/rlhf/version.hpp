// Versions and the ABI tag.
#pragma once

#include <torch/version.h>

// Bump rule: increment RLHF_SDK_ABI_VERSION whenever a public SDK header changes the layout or
// virtual table of a class a plugin sees (an interface gains/loses/reorders a virtual function,
// a struct passed across the boundary gains a field). Plugins built against another value are
// refused by the host with a message printing both tags.
// 2: Algorithm::check() and Quantizer::trainable() (virtual functions appended).
#define RLHF_SDK_ABI_VERSION 2
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

// e.g. "sdk1-torch1.13-gcc12-cxx11abi1". Only the torch major.minor counts: patch releases
// keep the C++ ABI.
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
}  // namespace rlhf
