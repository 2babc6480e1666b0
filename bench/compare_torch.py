#!/usr/bin/python3
"""The PyTorch-eager side of bench/compare.sh (issue 18), and the summary of a whole run.

What a training step computes here mirrors Hugging Face transformers' LlamaForCausalLM (eager
attention) with TRL's trainers on top, written out in plain torch because this machine has
Debian's python3-torch 1.13 and nothing else (no transformers, TRL, PEFT or bitsandbytes, no
pip). Both sides read the same files that `compare_bench setup` wrote: the float32 checkpoint,
the LoRA adapter, the NF4 checkpoint and the batches.

    compare_torch.py matmul float32|bfloat16 [--threads N] [--iters N]
    compare_torch.py copy [--threads N] [--iters N]
    compare_torch.py run WORKLOAD float32|bfloat16 DIR [--threads N] [--steps N]
    compare_torch.py summarize RESULTS DIR

Output lines ("RESULT key=value ...", "CHECK key=value ...") have the same format as
compare_bench's; `summarize` reads both sides' lines from RESULTS and prints the tables.
"""

import json
import os
import resource
import statistics
import struct
import sys
import time

import torch
import torch.nn.functional as F

BETA = 0.1  # TRL's default beta for DPO and ORPO
LEARNING_RATE = 1e-5  # the same on both sides; it does not change the time
MAX_GRAD_NORM = 1.0  # TRL / HF Trainer default
IGNORE = -100
SIDE = "pytorch-eager"
WORKLOADS = ("logps", "sft", "dpo_live", "dpo_precomputed", "orpo", "dpo_nf4")

# ---------------------------------------------------------------------------------------------
# safetensors: 8-byte little-endian header length, a JSON header, then the raw bytes.

DTYPES = {"F32": torch.float32, "BF16": torch.bfloat16, "I64": torch.int64, "U8": torch.uint8}


def read_safetensors(path, convert=None):
    """Every tensor of `path`, each read into its own buffer one at a time (as transformers'
    loader reads a memory-mapped file tensor by tensor), so the peak is one copy of the model
    plus one tensor. `convert(name, tensor)` may change a tensor (e.g. to bfloat16) before the
    next is read."""
    out = {}
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        for name, entry in header.items():
            if name == "__metadata__":
                continue
            begin, end = entry["data_offsets"]
            f.seek(8 + n + begin)
            buf = bytearray(end - begin)
            f.readinto(buf)
            t = torch.frombuffer(buf, dtype=DTYPES[entry["dtype"]]) if buf else torch.empty(0)
            t = t.reshape(entry["shape"])
            out[name] = convert(name, t) if convert else t
    return out


# ---------------------------------------------------------------------------------------------
# NF4, as bitsandbytes dequantizes it: a 16-entry LUT gather of the 4-bit codes (first element
# in the high nibble), times the block's absmax; with double quantization the absmax itself is
# first rebuilt from 8-bit codes (nested_quant_map[code] * nested_absmax[block / 256] + offset).
# bitsandbytes does this in a CUDA/CPU kernel; here it is eager torch ops, run in every forward
# and again in backward (bitsandbytes' MatMul4Bit keeps no dense weight for backward).


def nf4_dequantize(w, dtype):
    absmax = w["absmax"]
    if "nested_absmax" in w:
        codes = absmax.long()
        scale = w["nested_absmax"].repeat_interleave(256)[: codes.numel()]
        absmax = w["nested_quant_map"][codes] * scale + w["nested_offset"]
    packed = w["packed"].reshape(-1)
    codes = torch.stack([packed >> 4, packed & 15], dim=-1).reshape(-1).long()
    values = w["quant_map"][codes].reshape(-1, w["blocksize"]) * absmax.unsqueeze(-1)
    return values.reshape(w["shape"]).to(dtype)


class NF4Matmul(torch.autograd.Function):
    """y = x @ W^T with W dequantized on the fly; the gradient flows to x only (frozen base)."""

    @staticmethod
    def forward(ctx, x, weight):
        ctx.weight = weight
        return F.linear(x, nf4_dequantize(weight, x.dtype))

    @staticmethod
    def backward(ctx, grad_y):
        return grad_y.matmul(nf4_dequantize(ctx.weight, grad_y.dtype)), None


# ---------------------------------------------------------------------------------------------
# The model: transformers' LlamaForCausalLM, eager attention.


class Projection(torch.nn.Module):
    """A Linear without bias whose weight is dense or NF4, with an optional LoRA delta
    (PEFT: y = base(x) + scaling * B(A(x))). The LoRA weights are float32 master weights cast to
    x's dtype in forward, as rlhf-host does; PEFT instead casts x up to float32 for the LoRA
    branch, a little more work than counted here."""

    def __init__(self, weight):
        super().__init__()
        self.nf4 = isinstance(weight, dict)
        if self.nf4:
            self.weight = weight
        else:
            self.weight = torch.nn.Parameter(weight)
        self.lora_A = self.lora_B = None
        self.scaling = 0.0
        self.lora_enabled = True

    def forward(self, x):
        y = NF4Matmul.apply(x, self.weight) if self.nf4 else F.linear(x, self.weight)
        if self.lora_A is not None and self.lora_enabled:
            a, b = self.lora_A.to(x.dtype), self.lora_B.to(x.dtype)
            y = y + F.linear(F.linear(x, a), b) * self.scaling
        return y


def rms_norm(x, weight, eps):
    # LlamaRMSNorm: the variance in float32, the result cast back before the weight.
    h = x.to(torch.float32)
    h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + eps)
    return weight * h.to(x.dtype)


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def repeat_kv(x, n_rep):
    b, nkv, t, hd = x.shape
    if n_rep == 1:
        return x
    return x[:, :, None, :, :].expand(b, nkv, n_rep, t, hd).reshape(b, nkv * n_rep, t, hd)


class Llama(torch.nn.Module):
    def __init__(self, config, tensors, dtype):
        super().__init__()
        self.c = config
        self.dtype = dtype
        self.embed = torch.nn.Parameter(tensors["model.embed_tokens.weight"])
        self.norm = torch.nn.Parameter(tensors["model.norm.weight"])
        self.layers = []
        for i in range(config["num_hidden_layers"]):
            p = f"model.layers.{i}."
            layer = torch.nn.Module()
            for name in ("q_proj", "k_proj", "v_proj", "o_proj"):
                setattr(layer, name, Projection(tensors[p + "self_attn." + name]))
            for name in ("gate_proj", "up_proj", "down_proj"):
                setattr(layer, name, Projection(tensors[p + "mlp." + name]))
            layer.input_layernorm = torch.nn.Parameter(tensors[p + "input_layernorm.weight"])
            layer.post_attention_layernorm = torch.nn.Parameter(
                tensors[p + "post_attention_layernorm.weight"]
            )
            self.add_module(f"layer{i}", layer)
            self.layers.append(layer)
        hd = config["head_dim"]
        # LlamaRotaryEmbedding: inverse frequencies in float32 from integer exponents.
        self.inv_freq = 1.0 / (
            config["rope_theta"] ** (torch.arange(0, hd, 2, dtype=torch.int64).float() / hd)
        )

    def projections(self):
        for i, layer in enumerate(self.layers):
            for name in ("q_proj", "k_proj", "v_proj", "o_proj"):
                yield f"model.layers.{i}.self_attn.{name}", getattr(layer, name)
            for name in ("gate_proj", "up_proj", "down_proj"):
                yield f"model.layers.{i}.mlp.{name}", getattr(layer, name)

    def set_lora_enabled(self, on):
        for _, proj in self.projections():
            proj.lora_enabled = on

    def forward(self, input_ids, attention_mask):
        c = self.c
        B, T = input_ids.shape
        nh, nkv, hd = c["num_attention_heads"], c["num_key_value_heads"], c["head_dim"]
        h = F.embedding(input_ids, self.embed)
        # Positions 0..T-1 (transformers' default without position_ids; equal to rlhf-host's
        # "real tokens only" count on every real token of a right-padded row).
        pos = torch.arange(T, dtype=torch.float32)
        freqs = pos[:, None] * self.inv_freq[None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos().to(self.dtype), emb.sin().to(self.dtype)
        # The 4-D additive mask of transformers' eager path: causal + padding, dtype's minimum.
        causal = torch.ones(T, T, dtype=torch.bool).tril()
        allowed = causal[None, None, :, :] & attention_mask.bool()[:, None, None, :]
        mask = torch.zeros(B, 1, T, T, dtype=self.dtype).masked_fill(
            ~allowed, torch.finfo(self.dtype).min
        )
        scaling = hd**-0.5
        for layer in self.layers:
            x = rms_norm(h, layer.input_layernorm, c["rms_norm_eps"])
            q = layer.q_proj(x).view(B, T, nh, hd).transpose(1, 2)
            k = layer.k_proj(x).view(B, T, nkv, hd).transpose(1, 2)
            v = layer.v_proj(x).view(B, T, nkv, hd).transpose(1, 2)
            q = q * cos + rotate_half(q) * sin
            k = k * cos + rotate_half(k) * sin
            k, v = repeat_kv(k, nh // nkv), repeat_kv(v, nh // nkv)
            scores = torch.matmul(q, k.transpose(2, 3)) * scaling + mask
            probs = F.softmax(scores, dim=-1, dtype=torch.float32).to(q.dtype)
            out = torch.matmul(probs, v).transpose(1, 2).reshape(B, T, nh * hd)
            h = h + layer.o_proj(out)
            x = rms_norm(h, layer.post_attention_layernorm, c["rms_norm_eps"])
            h = h + layer.down_proj(F.silu(layer.gate_proj(x)) * layer.up_proj(x))
        h = rms_norm(h, self.norm, c["rms_norm_eps"])
        return F.linear(h, self.embed)  # tied lm_head


def load_model(directory, dtype, nf4):
    """The checkpoint of `directory` in `dtype`; with `nf4`, its projections stay 4-bit
    (transformers' bitsandbytes keys: P.weight, P.weight.absmax, P.weight.quant_map, ...)."""
    config = json.load(open(os.path.join(directory, "config.json")))
    config.setdefault("head_dim", config["hidden_size"] // config["num_attention_heads"])
    # Dense tensors are converted as they are read (one copy of the model plus one tensor);
    # NF4 tensors are kept as stored.
    raw = read_safetensors(
        os.path.join(directory, "model.safetensors"),
        lambda name, t: t.to(dtype) if t.dtype == torch.float32 and ".weight." not in name else t,
    )
    tensors = {}
    for name, t in raw.items():
        if ".weight." in name:
            continue  # a part of an NF4 weight, gathered below
        module = name[: -len(".weight")]
        if not module.endswith("_proj"):
            tensors[name] = t  # embeddings and norms keep their names
        elif name + ".quant_map" not in raw:
            tensors[module] = t
        else:
            state = json.loads(bytes(raw[name + ".quant_state.bitsandbytes__nf4"].tolist()))
            w = {
                "packed": t,
                "absmax": raw[name + ".absmax"],
                "quant_map": raw[name + ".quant_map"],
                "blocksize": state["blocksize"],
                "shape": state["shape"],
            }
            if "nested_offset" in state:
                w["nested_absmax"] = raw[name + ".nested_absmax"]
                w["nested_quant_map"] = raw[name + ".nested_quant_map"]
                w["nested_offset"] = state["nested_offset"]
            tensors[module] = w
    if nf4 and not any(isinstance(v, dict) for v in tensors.values()):
        sys.exit(f"compare_torch.py: {directory} holds no NF4 weights")
    return Llama(config, tensors, dtype)


def attach_lora(model, directory):
    """The PEFT adapter of `directory` on q_proj/v_proj, float32, frozen base."""
    cfg = json.load(open(os.path.join(directory, "adapter_config.json")))
    tensors = read_safetensors(os.path.join(directory, "adapter_model.safetensors"))
    for p in model.parameters():
        p.requires_grad_(False)
    params = []
    for path, proj in model.projections():
        key = "base_model.model." + path
        if key + ".lora_A.weight" not in tensors:
            continue
        proj.lora_A = torch.nn.Parameter(tensors[key + ".lora_A.weight"].float())
        proj.lora_B = torch.nn.Parameter(tensors[key + ".lora_B.weight"].float())
        proj.scaling = cfg["lora_alpha"] / cfg["r"]
        params += [proj.lora_A, proj.lora_B]
    return params


# ---------------------------------------------------------------------------------------------
# TRL's computation on top of the model.


def batch_logps(logits, labels):
    """TRL's get_batch_logps: the full logits upcast to float32, log_softmax over the
    vocabulary, gather of each label, masked sum (and the per-row mean for ORPO)."""
    logits = logits[:, :-1, :].float()
    labels = labels[:, 1:].clone()
    mask = labels != IGNORE
    labels[~mask] = 0
    per_token = torch.gather(logits.log_softmax(-1), dim=2, index=labels.unsqueeze(2)).squeeze(2)
    total = (per_token * mask).sum(-1)
    return total, total / mask.sum(-1)


def concatenated_forward(model, batch, pairs):
    """TRL's concatenated_forward: chosen rows then rejected rows in one padded batch."""
    logits = model(batch["input_ids"], batch["attention_mask"])
    total, mean = batch_logps(logits, batch["labels"])
    return logits, total[:pairs], total[pairs:], mean[:pairs], mean[pairs:]


def dpo_loss(pc, pr, rc, rr):
    """TRL's sigmoid DPO loss (label_smoothing 0)."""
    logits = (pc - pr) - (rc - rr)
    return -F.logsigmoid(BETA * logits).mean()


def cross_entropy_nll(logits, labels):
    """transformers' causal-LM loss (and TRL's ORPO nll term): shifted, float32, mean over the
    tokens that are not -100."""
    logits = logits[:, :-1, :].float()
    return F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1), ignore_index=IGNORE
    )


def orpo_loss(logits, labels, pairs, chosen_mean, rejected_mean):
    """TRL's ORPOTrainer: nll of the chosen rows minus beta * mean log sigmoid(log odds ratio)."""
    nll = cross_entropy_nll(logits[:pairs], labels[:pairs])
    log_odds = (chosen_mean - rejected_mean) - (
        torch.log1p(-torch.exp(chosen_mean)) - torch.log1p(-torch.exp(rejected_mean))
    )
    ratio = torch.log(torch.sigmoid(log_odds))
    return nll - (BETA * ratio).mean(), nll


# ---------------------------------------------------------------------------------------------
# Commands.


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def matmul_peak(dtype_name, iters):
    n = 2048
    torch.manual_seed(0)
    dtype = getattr(torch, dtype_name)
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    for _ in range(3):
        torch.matmul(a, b)
    best = 1e30
    for _ in range(iters):
        t0 = time.perf_counter()
        torch.matmul(a, b)
        best = min(best, time.perf_counter() - t0)
    gflops = 2 * n**3 / best / 1e9
    print(f"RESULT side={SIDE} workload=matmul dtype={dtype_name} gflops={gflops:.2f} "
          f"rss_mib={peak_rss_mib():.0f}")


def copy_bandwidth(iters):
    n = 64 << 20  # 256 MiB of float32
    src, dst = torch.ones(n), torch.zeros(n)
    dst.copy_(src)
    best = 1e30
    for _ in range(iters):
        t0 = time.perf_counter()
        dst.copy_(src)
        best = min(best, time.perf_counter() - t0)
    print(f"RESULT side={SIDE} workload=copy dtype=float32 gbs={2 * 4 * n / best / 1e9:.3f} "
          f"rss_mib={peak_rss_mib():.0f}")


def run(workload, dtype_name, directory, steps):
    if workload not in WORKLOADS:
        sys.exit(f"compare_torch.py: unknown workload '{workload}' ({', '.join(WORKLOADS)})")
    dtype = getattr(torch, dtype_name)
    lora = workload.startswith("dpo")
    t0 = time.perf_counter()
    model = load_model(
        os.path.join(directory, "model-nf4" if workload == "dpo_nf4" else "model"),
        dtype,
        workload == "dpo_nf4",
    )
    load_s = time.perf_counter() - t0
    data = read_safetensors(os.path.join(directory, "batches.safetensors"))
    which = "rows" if workload in ("logps", "sft") else "pairs"
    batch = {k: data[f"{which}.{k}"] for k in ("input_ids", "attention_mask", "labels")}
    pairs = batch["input_ids"].shape[0] // 2
    tokens = int(batch["attention_mask"].sum())

    # Trainable: the adapter (DPO), else every parameter (full fine-tune). As rlhf-host's
    # MasterWeights, a bfloat16 parameter is updated through a float32 master copy (float32
    # gradient, clipping, AdamW state) and rounded back after the step; LoRA is float32 already.
    if lora:
        params = attach_lora(model, os.path.join(directory, "lora"))
    else:
        params = list(model.parameters())
    # (`logps` trains nothing: no masters, whose float32 copy would count in its RSS.)
    masters = params
    if workload != "logps":
        masters = [p if p.dtype == torch.float32 else p.detach().float().requires_grad_() for p in params]
    # HF Trainer's defaults: weight_decay 0 (torch's AdamW would use 0.01), betas, eps 1e-8.
    optimizer = None
    if workload != "logps":
        optimizer = torch.optim.AdamW(masters, lr=LEARNING_RATE, weight_decay=0.0)

    def update(loss):
        loss.backward()
        for p, m in zip(params, masters):
            if m is not p and p.grad is not None:
                m.grad = p.grad.float()
                p.grad = None
        torch.nn.utils.clip_grad_norm_(masters, MAX_GRAD_NORM)
        optimizer.step()
        with torch.no_grad():
            for p, m in zip(params, masters):
                if m is not p:
                    p.copy_(m)
                    m.grad = None
        optimizer.zero_grad()

    precompute_s = 0.0
    ref = None
    if workload == "dpo_precomputed":
        # TRL's precompute_ref_log_probs: the reference pass (adapter disabled) once, up front.
        t0 = time.perf_counter()
        with torch.no_grad():
            model.set_lora_enabled(False)
            ref = concatenated_forward(model, batch, pairs)[1:3]
            model.set_lora_enabled(True)
        precompute_s = time.perf_counter() - t0

    check = {}

    def step():
        if workload == "logps":
            with torch.no_grad():
                _, pc, pr, _, _ = concatenated_forward(model, batch, pairs)
            check.update(chosen=pc[0], rejected=pr[0])
        elif workload == "sft":
            logits = model(batch["input_ids"], batch["attention_mask"])
            loss = cross_entropy_nll(logits, batch["labels"])
            check.update(loss=loss)
            update(loss)
        elif workload == "orpo":
            logits, pc, pr, pcm, prm = concatenated_forward(model, batch, pairs)
            loss, nll = orpo_loss(logits, batch["labels"], pairs, pcm, prm)
            check.update(chosen=pc[0], rejected=pr[0], nll=nll, loss=loss)
            update(loss)
        else:
            if workload == "dpo_precomputed":
                rc, rr = ref
            else:
                # TRL with a PEFT model and no ref_model: the reference is the policy with its
                # adapter disabled (null_ref_context), under no_grad.
                with torch.no_grad():
                    model.set_lora_enabled(False)
                    rc, rr = concatenated_forward(model, batch, pairs)[1:3]
                    model.set_lora_enabled(True)
            _, pc, pr, _, _ = concatenated_forward(model, batch, pairs)
            loss = dpo_loss(pc, pr, rc, rr)
            check.update(
                chosen=pc[0], rejected=pr[0], ref_chosen=rc[0], ref_rejected=rr[0], loss=loss
            )
            update(loss)

    step()  # warm-up; its numbers are the check
    values = " ".join(f"{k}={float(v):.8g}" for k, v in check.items())
    print(f"CHECK side={SIDE} workload={workload} dtype={dtype_name} {values}", flush=True)
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    step_s = (time.perf_counter() - t0) / steps
    examples = pairs if which == "pairs" else 2 * pairs
    print(f"RESULT side={SIDE} workload={workload} dtype={dtype_name} step_s={step_s:.4f} "
          f"tokens={tokens} examples={examples} precompute_s={precompute_s:.3f} "
          f"load_s={load_s:.2f} "
          f"rss_mib={peak_rss_mib():.0f}")


# ---------------------------------------------------------------------------------------------
# Summary: medians, ranges, ratios and MFU.

# Model FLOPs of one forward over the real tokens, counted per row as its own sequence:
#   2 * (projection parameters + lm_head's V*H) per token
# + 4 * layers * nh * hd * len^2 per row (QK^T and PV over the full len x len block, as eager
#   attention computes them; the causal half is not discounted).
# Padding is not counted: FLOPs spent on padding lower MFU, FLOPs saved (a shared prompt
# computed once) raise it. Multipliers per step: forward 1; full fine-tune (SFT, ORPO) 3
# (forward, dX, dW); LoRA policy 2 (forward and dX through the frozen base; the LoRA matmuls,
# under 1% of the total, are not counted) plus 1 for a live reference forward.
MULTIPLIER = {"logps": 1, "sft": 3, "orpo": 3, "dpo_live": 3, "dpo_precomputed": 2, "dpo_nf4": 3}


def forward_flops(config, lengths):
    H, I, L = config["hidden_size"], config["intermediate_size"], config["num_hidden_layers"]
    nh, nkv = config["num_attention_heads"], config["num_key_value_heads"]
    hd = config.get("head_dim", H // nh)
    proj = L * (H * nh * hd + 2 * H * nkv * hd + nh * hd * H + 3 * H * I)
    head = config["vocab_size"] * H
    tokens = sum(lengths)
    return 2 * (proj + head) * tokens + 4 * L * nh * hd * sum(n * n for n in lengths)


def parse(line):
    kind, *fields = line.split()
    return kind, dict(f.split("=", 1) for f in fields)


def spread(values):
    return statistics.median(values), min(values), max(values)


def summarize(results_path, directory):
    config = json.load(open(os.path.join(directory, "model", "config.json")))
    data = read_safetensors(os.path.join(directory, "batches.safetensors"))
    lengths = {s: data[f"{s}.attention_mask"].sum(-1).tolist() for s in ("rows", "pairs")}
    results, checks, problems = {}, {}, []
    for line in open(results_path):
        if line.startswith("FAILED"):
            problems.append(line.strip())
        if not line.startswith(("RESULT ", "CHECK ")):
            continue
        kind, f = parse(line)
        key = (f["workload"], f["dtype"], f["side"])
        if kind == "RESULT":
            results.setdefault(key, []).append(f)
        else:
            checks.setdefault(key, f)

    sides = ("rlhf-host", SIDE)
    print("\n== Machine peaks (median [min-max] over the runs) ==")
    peak = {}
    for dtype in ("float32", "bfloat16"):
        row = []
        for side in sides:
            runs = [float(f["gflops"]) for f in results.get(("matmul", dtype, side), [])]
            if runs:
                m, lo, hi = spread(runs)
                peak[(dtype, side)] = max(runs)
                row.append(f"{side} {m:.1f} [{lo:.1f}-{hi:.1f}]")
        print(f"matmul 2048^3 {dtype:8s} GFLOP/s: " + " | ".join(row))
    row = []
    for side in sides:
        runs = [float(f["gbs"]) for f in results.get(("copy", "float32", side), [])]
        if runs:
            m, lo, hi = spread(runs)
            row.append(f"{side} {m:.2f} [{lo:.2f}-{hi:.2f}]")
    print("copy 256 MiB (read + write) GB/s: " + " | ".join(row))

    # Tolerances: the two sides run the same LibTorch kernels in the same order, so they agree
    # far closer than this; a difference above it means they no longer compute the same thing.
    tolerance = {"float32": 1e-5, "bfloat16": 1e-3}
    # rlhf-host packs each pair around its shared prompt and computes logits at completion
    # positions only (docs/algorithms.md, "Packed rows"), so its matmuls have other shapes and
    # round differently: log-probs of ~2,000 differ by ~5e-7 relative in float32 and ~1e-5 in
    # bfloat16. The DPO loss's logit is beta times a difference of four such log-probs, which
    # cancels most of their digits, so its relative difference is far larger (1e-4 in float32).
    # The DPO loss is therefore held to what the log-prob tolerance allows it to move:
    # |d loss / d logit| <= 1, so |delta loss| <= beta * 4 * tolerance * max |log-prob|.
    print("\n== Same numbers on both sides (warm-up step: first pair's log-probs, the loss) ==")
    print(f"relative tolerance: float32 {tolerance['float32']:g}, "
          f"bfloat16 {tolerance['bfloat16']:g}; the DPO loss: beta x 4 x that x max |log-prob|, "
          "absolute")
    for workload in WORKLOADS:
        for dtype in ("float32", "bfloat16"):
            mine = checks.get((workload, dtype, "rlhf-host"))
            other = checks.get((workload, dtype, SIDE))
            if not mine or not other:
                continue
            parts, worst, over = [], 0.0, False
            for k, v in mine.items():
                if k in ("side", "workload", "dtype") or k not in other:
                    continue
                a, b = float(v), float(other[k])
                rel = abs(a - b) / max(abs(a), abs(b), 1e-30)
                worst = max(worst, rel)
                if k == "loss" and workload.startswith("dpo"):
                    largest = max(abs(float(x)) for key, x in mine.items() if "chosen" in key
                                  or "rejected" in key)
                    over = over or abs(a - b) > BETA * 4 * tolerance[dtype] * largest
                else:
                    over = over or rel > tolerance[dtype]
                parts.append(f"{k} {a:.8g} / {b:.8g}")
            verdict = "DIFFER" if over else "agree"
            if verdict != "agree":
                problems.append(f"{workload} {dtype}: the two sides differ by {worst:.1e}")
            print(f"{workload:15s} {dtype:8s} {verdict} (max rel {worst:.1e}) rlhf-host / eager: "
                  + ", ".join(parts))

    print("\n== Step time, tokens/s, MFU, peak RSS (median [min-max] over the runs) ==")
    header = (f"{'workload':15s} {'dtype':8s} {'side':13s} {'step s':>22s} {'tokens/s':>9s} "
              f"{'ex/s':>6s} {'MFU':>6s} {'RSS MiB':>8s} {'C++/eager':>9s}")
    print(header)
    for workload in WORKLOADS:
        lens = lengths["rows" if workload in ("logps", "sft") else "pairs"]
        flops = MULTIPLIER[workload] * forward_flops(config, lens)
        for dtype in ("float32", "bfloat16"):
            speed = {}
            for side in sides:
                runs = results.get((workload, dtype, side))
                if not runs:
                    continue
                m, lo, hi = spread([float(f["step_s"]) for f in runs])
                tokens, examples = int(runs[0]["tokens"]), int(runs[0]["examples"])
                rss = max(float(f["rss_mib"]) for f in runs)
                speed[side] = tokens / m
                p = peak.get((dtype, side))
                mfu = f"{100 * flops / m / 1e9 / p:5.1f}%" if p else "   n/a"
                extra = ""
                pre = statistics.median(float(f["precompute_s"]) for f in runs)
                if pre > 0:
                    extra = f"  (+{pre:.2f} s once: reference precompute)"
                ratio = ""
                if side == SIDE and "rlhf-host" in speed:
                    ratio = f"{speed['rlhf-host'] / speed[SIDE]:8.2f}x"
                print(f"{workload:15s} {dtype:8s} {side:13s} {m:7.3f} [{lo:6.3f}-{hi:6.3f}] "
                      f"{tokens / m:9.1f} {examples / m:6.2f} {mfu:>6s} {rss:8.0f} "
                      f"{ratio:>9s}{extra}")
    print("\nC++/eager = rlhf-host tokens/s divided by PyTorch eager tokens/s "
          "(> 1: rlhf-host faster).")
    print("MFU against the matmul peak of the dtype measured by the same side (best run); "
          "model FLOPs per step = multiplier x forward FLOPs of the real tokens "
          "(see compare_torch.py).")
    for p in problems:
        print("PROBLEM:", p)
    return len(problems)


def main(argv):
    positional, opts = [], {}
    args = iter(argv[1:])
    for a in args:
        if a.startswith("--"):
            opts[a[2:]] = next(args, "")
        else:
            positional.append(a)
    if not positional:
        sys.exit(__doc__)
    command, positional = positional[0], positional[1:]
    torch.set_num_threads(int(opts.get("threads", 2)))
    iters = int(opts.get("iters", 10))
    if command == "matmul" and len(positional) == 1:
        matmul_peak(positional[0], iters)
    elif command == "copy":
        copy_bandwidth(iters)
    elif command == "run" and len(positional) == 3:
        run(positional[0], positional[1], positional[2], int(opts.get("steps", 1)))
    elif command == "summarize" and len(positional) == 2:
        if summarize(positional[0], positional[1]):
            sys.exit(1)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    try:
        main(sys.argv)
    except (OSError, KeyError, ValueError) as e:  # a missing work folder or tensor, a bad number
        sys.exit(f"compare_torch.py: {type(e).__name__}: {e}")
