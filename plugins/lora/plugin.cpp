// The library's one exported entry point (kept apart so tests can link the other sources).
#include "lora_adapter.hpp"

RLHF_PLUGIN(rlhf::PluginKind::adapter, rlhf::lora::LoraAdapter, "lora", "1.0.0",
            "LoRA adapters in Hugging Face PEFT's layout (rsLoRA, gaussian init, merge)")
