#include "quant_state.hpp"

#include <nlohmann/json.hpp>

#include <charconv>
#include <cmath>

#include "rlhf/error.hpp"

namespace rlhf::nf4 {

std::string python_float_repr(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "Infinity" : "-Infinity";
  if (value == 0.0) return std::signbit(value) ? "-0.0" : "0.0";
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::scientific);
  std::string sci(buf, res.ptr);  // "-1.2345e-02"
  std::string sign;
  if (sci[0] == '-') {
    sign = "-";
    sci.erase(0, 1);
  }
  const auto e_pos = sci.find('e');
  const int exponent = std::stoi(sci.substr(e_pos + 1));
  std::string digits = sci.substr(0, e_pos);
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  const int ndigits = static_cast<int>(digits.size());
  const int decpt = exponent + 1;  // digits d1 d2 … with the decimal point after decpt of them
  std::string out;
  if (decpt > -4 && decpt <= 16) {
    if (decpt <= 0) {
      out = "0." + std::string(static_cast<std::size_t>(-decpt), '0') + digits;
    } else if (decpt >= ndigits) {
      out = digits + std::string(static_cast<std::size_t>(decpt - ndigits), '0') + ".0";
    } else {
      out = digits.substr(0, decpt) + "." + digits.substr(decpt);
    }
  } else {
    out = digits.substr(0, 1);
    if (ndigits > 1) out += "." + digits.substr(1);
    const int mag = std::abs(exponent);
    out +=
        std::string("e") + (exponent < 0 ? "-" : "+") + (mag < 10 ? "0" : "") + std::to_string(mag);
  }
  return sign + out;
}

std::string to_json(const QuantStateInfo& info) {
  std::string shape;
  for (std::size_t i = 0; i < info.shape.size(); ++i)
    shape += (i ? ", " : "") + std::to_string(info.shape[i]);
  std::string out = "{\"quant_type\": \"" + info.quant_type +
                    "\", \"blocksize\": " + std::to_string(info.blocksize) + ", \"dtype\": \"" +
                    info.dtype + "\", \"shape\": [" + shape + "]";
  if (info.nested)
    out += ", \"nested_blocksize\": " + std::to_string(info.nested_blocksize) +
           ", \"nested_dtype\": \"" + info.nested_dtype +
           "\", \"nested_offset\": " + python_float_repr(info.nested_offset);
  return out + "}";
}

QuantStateInfo parse_quant_state(const std::string& json, const std::string& tensor_name) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(json);
  } catch (const std::exception& e) {
    throw Error("nf4: tensor '" + tensor_name + "' is not valid quant-state JSON: " + e.what());
  }
  QuantStateInfo info;
  auto field = [&](const char* key) -> const nlohmann::json& {
    if (!j.is_object() || !j.contains(key))
      throw Error("nf4: quant state '" + tensor_name + "' lacks the field \"" + key + "\"");
    return j.at(key);
  };
  try {
    info.quant_type = field("quant_type").get<std::string>();
    info.blocksize = field("blocksize").get<std::int64_t>();
    info.dtype = field("dtype").get<std::string>();
    info.shape = field("shape").get<std::vector<std::int64_t>>();
    info.nested = j.contains("nested_offset") || j.contains("nested_blocksize");
    if (info.nested) {
      info.nested_blocksize = field("nested_blocksize").get<std::int64_t>();
      info.nested_dtype = field("nested_dtype").get<std::string>();
      info.nested_offset = field("nested_offset").get<double>();
    }
  } catch (const nlohmann::json::exception& e) {
    throw Error("nf4: quant state '" + tensor_name + "' has a mistyped field: " + e.what());
  }
  return info;
}

torch::Tensor json_to_uint8_tensor(const std::string& json) {
  torch::Tensor t = torch::empty({static_cast<std::int64_t>(json.size())}, torch::kUInt8);
  std::copy(json.begin(), json.end(), t.data_ptr<std::uint8_t>());
  return t;
}

std::string uint8_tensor_to_string(const torch::Tensor& bytes) {
  const torch::Tensor b = bytes.to(torch::kCPU).contiguous().view(-1);
  const auto* p = reinterpret_cast<const char*>(b.data_ptr<std::uint8_t>());
  return std::string(p, p + b.numel());
}

std::string dtype_name(torch::ScalarType dtype) {
  switch (dtype) {
    case torch::kFloat32:
      return "float32";
    case torch::kBFloat16:
      return "bfloat16";
    case torch::kFloat16:
      return "float16";
    default:
      throw Error(std::string("nf4: unsupported compute dtype ") + c10::toString(dtype) +
                  " (float32, bfloat16 or float16)");
  }
}

torch::ScalarType dtype_from_name(const std::string& name, const std::string& context) {
  if (name == "float32") return torch::kFloat32;
  if (name == "bfloat16") return torch::kBFloat16;
  if (name == "float16") return torch::kFloat16;
  throw Error("nf4: " + context + ": unsupported dtype \"" + name +
              "\" (float32, bfloat16 or float16)");
}

}  // namespace rlhf::nf4
