// Exports the "jsonl" data source (kept apart so tests can link the implementation directly).
#include "jsonl_source.hpp"
#include "rlhf/config.hpp"

RLHF_PLUGIN(rlhf::PluginKind::data, rlhf::jsonl::JsonlSource, "jsonl", "0.1.0",
            "JSON-lines datasets in TRL's standard and conversational formats")
