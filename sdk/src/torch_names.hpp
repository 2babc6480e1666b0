// How LibTorch values are spelled for users, inside the SDK: a dtype as config.json's
// `torch_dtype` and the pipeline's `model.dtype` write it, a LibTorch error as one line.
#pragma once

#include <c10/util/Exception.h>
#include <torch/types.h>

#include <string>

namespace rlhf {

// "bfloat16", "float16", or "float32" (every other dtype).
inline std::string dtype_name(torch::ScalarType t) {
  switch (t) {
    case torch::kBFloat16:
      return "bfloat16";
    case torch::kFloat16:
      return "float16";
    default:
      return "float32";
  }
}

// The first line of a LibTorch message, without its C++ backtrace.
inline std::string torch_error_line(const c10::Error& e) {
  const std::string msg = e.what_without_backtrace();
  return msg.substr(0, msg.find('\n'));
}

}  // namespace rlhf
