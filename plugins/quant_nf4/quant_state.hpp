// The non-tensor part of a bitsandbytes 4-bit QuantState, as stored in a checkpoint under
// `<module>.weight.quant_state.bitsandbytes__nf4`: UTF-8 JSON bytes in a uint8 tensor.
//
// bitsandbytes writes it with Python's json.dumps (", " and ": " separators, keys in QuantState
// order, floats as Python's repr), so to_json() reproduces that text byte for byte:
//   {"quant_type": "nf4", "blocksize": 64, "dtype": "bfloat16", "shape": [out, in],
//    "nested_blocksize": 256, "nested_dtype": "float32", "nested_offset": 0.0123}
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace rlhf::nf4 {

struct QuantStateInfo {
  std::string quant_type = "nf4";
  std::int64_t blocksize = 64;
  std::string dtype = "float32";  // torch dtype name without "torch."
  std::vector<std::int64_t> shape;
  bool nested = false;  // double quantization: the nested_* fields below are present
  std::int64_t nested_blocksize = 256;
  std::string nested_dtype = "float32";
  double nested_offset = 0.0;
};

std::string to_json(const QuantStateInfo& info);
// Parses the JSON; a missing or mistyped field is an rlhf::Error naming `tensor_name`.
QuantStateInfo parse_quant_state(const std::string& json, const std::string& tensor_name);

torch::Tensor json_to_uint8_tensor(const std::string& json);
std::string uint8_tensor_to_string(const torch::Tensor& bytes);

// Python's repr(float) for a double: shortest round-trip digits, fixed notation for decimal
// exponents -4 ≤ e < 16 (with ".0" for integers), otherwise "1.5e-07" style.
std::string python_float_repr(double value);

// "float32" / "bfloat16" / "float16" ↔ ScalarType; other dtypes throw rlhf::Error.
std::string dtype_name(torch::ScalarType dtype);
torch::ScalarType dtype_from_name(const std::string& name, const std::string& context);

}  // namespace rlhf::nf4
