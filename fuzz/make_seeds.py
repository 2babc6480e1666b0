#!/usr/bin/env python3
"""Seed corpora of the fuzz targets, generated from the repository's fixtures.

    python3 fuzz/make_seeds.py OUT_DIR

writes OUT_DIR/<target>/<name> for every target of fuzz/CMakeLists.txt:
  safetensors    tiny Llama-layout checkpoints (every dtype, metadata, empty and scalar tensors,
                 NF4 quant-state names) and shard indexes naming the shards safetensors_fuzz makes
  jsonl          lines and line groups of examples/data/*.jsonl
  pipeline       examples/*.toml and tests/host/bad_pipelines/*.toml, as they are and with their
                 model and data paths pointed at pipeline_fuzz's fixtures
  chat_template  records of examples/data/*.jsonl in chat_template_fuzz's input format, for every
                 template and both tokenizers
The hand-written seeds (fuzz/corpus/<target>/, including findings) are added by scripts/fuzz.sh.
"""
import json
import pathlib
import re
import struct
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent

# dtype → (struct format, bytes per element)
DTYPES = {"F64": ("d", 8), "F32": ("f", 4), "F16": ("e", 2), "BF16": ("H", 2), "I64": ("q", 8),
          "I32": ("i", 4), "I16": ("h", 2), "I8": ("b", 1), "U8": ("B", 1), "BOOL": ("?", 1)}


def safetensors(tensors, metadata=None):
    """tensors: [(name, dtype, shape)] → bytes of a .safetensors file (values 0, 1, 2, …)."""
    header, payload = {}, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape in tensors:
        fmt, size = DTYPES[dtype]
        n = 1
        for d in shape:
            n *= d
        if dtype == "BOOL":
            values = [i % 2 == 1 for i in range(n)]
        elif dtype in ("F64", "F32", "F16"):
            values = [float(i) for i in range(n)]
        else:
            values = [i % 100 for i in range(n)]
        data = struct.pack("<%d%s" % (n, fmt), *values)
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [len(payload), len(payload) + len(data)]}
        payload += data
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)  # transformers pads to 8 bytes
    return struct.pack("<Q", len(text)) + text + payload


def tiny_llama(dtype="F32", layers=1, hidden=4, inter=8, vocab=8, tie=False):
    t = [("model.embed_tokens.weight", dtype, [vocab, hidden])]
    for i in range(layers):
        p = "model.layers.%d." % i
        t += [(p + "self_attn.%s_proj.weight" % m, dtype, [hidden, hidden]) for m in "qkvo"]
        t += [(p + "mlp.gate_proj.weight", dtype, [inter, hidden]),
              (p + "mlp.up_proj.weight", dtype, [inter, hidden]),
              (p + "mlp.down_proj.weight", dtype, [hidden, inter]),
              (p + "input_layernorm.weight", dtype, [hidden]),
              (p + "post_attention_layernorm.weight", dtype, [hidden])]
    t.append(("model.norm.weight", dtype, [hidden]))
    if not tie:
        t.append(("lm_head.weight", dtype, [vocab, hidden]))
    return t


def safetensors_seeds():
    seeds = {
        "tiny_llama_f32": safetensors(tiny_llama(), {"format": "pt"}),
        "tiny_llama_bf16_2_layers": safetensors(tiny_llama("BF16", layers=2, tie=True)),
        "every_dtype": safetensors([("t_" + d.lower(), d, [2, 2]) for d in DTYPES],
                                   {"format": "pt", "note": "every dtype"}),
        "empty_and_scalar": safetensors([("empty", "F32", [0, 3]), ("scalar", "I64", []),
                                         ("one", "U8", [1])]),
        "no_tensors": safetensors([], {"format": "pt"}),
        "nf4_quant_state": safetensors([
            ("model.layers.0.self_attn.q_proj.weight", "U8", [8, 1]),
            ("model.layers.0.self_attn.q_proj.weight.absmax", "F32", [1]),
            ("model.layers.0.self_attn.q_proj.weight.quant_map", "F32", [16]),
            ("model.layers.0.self_attn.q_proj.weight.quant_state.bitsandbytes__nf4", "U8", [8])]),
        "lora_adapter": safetensors([
            ("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight", "F32", [2, 4]),
            ("base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight", "F32", [4, 2])]),
    }
    # safetensors_fuzz's shards: a [2,3] F32 and b [4] BF16 in the first, c [2,2] I64 in the second.
    shard1, shard2 = "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"
    index = {"metadata": {"total_size": 64}, "weight_map": {"a": shard1, "b": shard1, "c": shard2}}
    seeds["index"] = json.dumps(index, indent=2).encode()
    seeds["index_one_shard"] = json.dumps({"weight_map": {"c": shard2}}).encode()
    seeds["index_missing_tensor"] = json.dumps({"weight_map": {"a": shard1, "z": shard2}}).encode()
    return seeds


def data_records():
    records = []
    for f in sorted((ROOT / "examples/data").glob("*.jsonl")):
        lines = [l for l in f.read_text().splitlines() if l.strip()]
        records.append((f.stem, lines))
    return records


def jsonl_seeds():
    seeds = {}
    for stem, lines in data_records():
        for i, line in enumerate(lines[:12]):
            seeds["%s_%d" % (stem, i)] = (line + "\n").encode()
        seeds[stem + "_head"] = ("\n".join(lines[:8]) + "\n").encode()
    return seeds


FIXTURE_MODEL = "/tmp/rlhf-fuzz-pipeline/model"
FIXTURE_DATA = "/tmp/rlhf-fuzz-pipeline/data.jsonl"


def pipeline_seeds():
    seeds = {}
    files = sorted(ROOT.glob("examples/*.toml")) + sorted(ROOT.glob("tests/host/bad_pipelines/*.toml"))
    for f in files:
        text = f.read_text()
        name = f.parent.name + "_" + f.stem
        seeds[name] = text.encode()
        # The same pipeline with paths that exist, so loading gets past the folder checks.
        fixed = re.sub(r'(?m)^path = "[^"]*"', 'path = "%s"' % FIXTURE_MODEL, text)
        fixed = re.sub(r'path = "[^"]*\.jsonl"', 'path = "%s"' % FIXTURE_DATA, fixed)
        fixed = re.sub(r'(?m)^output_dir = "[^"]*"', 'output_dir = "/tmp/rlhf-fuzz-pipeline/out"',
                       fixed)
        for plugin, real in (("test_recorder", "sft"), ("test_constant", "lora")):
            fixed = fixed.replace('"%s"' % plugin, '"%s"' % real)
        if fixed != text:
            seeds[name + "_fixtures"] = fixed.encode()
    return seeds


def chat_seeds():
    seeds = {}
    roles = {"system": 0, "user": 1, "assistant": 2}
    for stem, lines in data_records():
        for i, line in enumerate(lines[:2]):
            r = json.loads(line)
            prompt = [("user", r["prompt"])]
            completion = [("assistant", r.get("completion") or r.get("chosen") or "")]
            if i == 1:  # a system message and a second turn
                prompt = [("system", "Be polite.")] + prompt + completion + [("user", "Thanks!")]
            messages = prompt + completion
            body = b"\0".join(bytes([roles[role]]) + text.encode() for role, text in messages)
            for template in range(5):
                for tokenizer in range(2):
                    head = bytes([template | tokenizer << 3, len(prompt)])
                    seeds["%s_%d_t%d_k%d" % (stem, i, template, tokenizer)] = head + body
    return seeds


def main():
    out = pathlib.Path(sys.argv[1])
    for target, seeds in (("safetensors", safetensors_seeds()), ("jsonl", jsonl_seeds()),
                          ("pipeline", pipeline_seeds()), ("chat_template", chat_seeds())):
        d = out / target
        d.mkdir(parents=True, exist_ok=True)
        for name, data in seeds.items():
            (d / name).write_bytes(data)


if __name__ == "__main__":
    main()
