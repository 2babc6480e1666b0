// The library's one exported entry point (kept apart so tests can link the other sources).
#include "nf4_quantizer.hpp"

RLHF_PLUGIN(rlhf::PluginKind::quantizer, rlhf::nf4::NF4Quantizer, "nf4", "1.0.0",
            "bitsandbytes-compatible NF4 4-bit base weights (blockwise, optional double quant)")
