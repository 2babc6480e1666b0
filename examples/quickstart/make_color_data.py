#!/usr/bin/env python3
"""Writes the synthetic, verifiable task of the PPO example: the color of made-up objects.

Each of 24 made-up objects ("the zorb", "the plim", …) has one fixed color out of 8. A prompt asks
for an object's color ("What color is the zorb?"); the answer sentence is "The zorb is blue.". A
rule verifies a completion against the row's `answer` field (the `rule` reward model:
`{ kind = "regex", pattern = 'is (\\w+)\\.', field = "answer" }`).

The SFT set is noisy on purpose: a share --sft-correct (0.25) of each object's completions name
its color, the others a uniformly drawn other color. The correct color stays the most
frequent one per object, but an SFT policy sampled at temperature 0.7 is right well under half
the time, which leaves room for RL to improve. Held-out prompts use phrasings never seen in
training, for every object.

Deterministic: the same --seed writes byte-identical files.

  python3 examples/quickstart/make_color_data.py --out examples/data [--seed 7] [--sft 600] [--prompts 400]

Files: color_sft.jsonl (prompt/completion), color_prompts.jsonl (prompt/answer, training
phrasings), color_heldout.jsonl (prompt/answer, held-out phrasings, each object once per
phrasing) and color_corpus.txt (every text once, one per line, for `rlhf-host init-model
--corpus`).
"""
import argparse
import json
import os
import random

OBJECTS = [
    "zorb", "plim", "vask", "drell", "quon", "tib", "snarf", "glent", "brox", "fenn", "wub",
    "yorp", "mib", "trask", "gorp", "blen", "kest", "florp", "nim", "pask", "dov", "skib",
    "murn", "jask",
]
COLORS = ["red", "blue", "green", "yellow", "orange", "purple", "white", "black"]
TRAIN_PHRASINGS = [
    "What color is the {}?",
    "Which color does the {} have?",
    "Tell me the color of the {}.",
]
HELDOUT_PHRASINGS = [
    "What color would you say the {} is?",
    "Do you know the color of the {}?",
]


def answer_sentence(obj, color):
    return f"The {obj} is {color}."


def object_colors(rng):
    """Each color belongs to the same number of objects (24 / 8 = 3), shuffled by the seed."""
    colors = COLORS * (len(OBJECTS) // len(COLORS))
    rng.shuffle(colors)
    return dict(zip(OBJECTS, colors))


def cycled_pairs(rng, n):
    """n (object, phrasing) pairs: every pair once per round, each round in a new order."""
    all_pairs = [(o, p) for o in OBJECTS for p in TRAIN_PHRASINGS]
    out = []
    while len(out) < n:
        round_pairs = all_pairs[:]
        rng.shuffle(round_pairs)
        out += round_pairs
    return out[:n]


def sft_rows(rng, n, colors, correct):
    pairs = cycled_pairs(rng, n)
    # Exactly round(correct * rows) of each object's rows name its color (not a coin flip per
    # row, so that no seed makes an object's correct color rarer than a wrong one).
    right = set()
    for obj in OBJECTS:
        rows_of_obj = [i for i, (o, _) in enumerate(pairs) if o == obj]
        right.update(rng.sample(rows_of_obj, round(correct * len(rows_of_obj))))
    rows = []
    for i, (obj, phrasing) in enumerate(pairs):
        color = colors[obj]
        if i not in right:
            color = rng.choice([c for c in COLORS if c != colors[obj]])
        rows.append({"prompt": phrasing.format(obj), "completion": answer_sentence(obj, color)})
    return rows


def prompt_rows(rng, n, colors):
    return [{"prompt": p.format(o), "answer": colors[o]} for o, p in cycled_pairs(rng, n)]


def heldout_rows(colors):
    return [{"prompt": p.format(o), "answer": colors[o]} for o in OBJECTS for p in HELDOUT_PHRASINGS]


def write_jsonl(path, rows):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="examples/data")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--sft", type=int, default=600)
    ap.add_argument("--prompts", type=int, default=400)
    ap.add_argument("--sft-correct", type=float, default=0.25)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    os.makedirs(args.out, exist_ok=True)
    colors = object_colors(rng)
    sft = sft_rows(rng, args.sft, colors, args.sft_correct)
    prompts = prompt_rows(rng, args.prompts, colors)
    heldout = heldout_rows(colors)
    write_jsonl(os.path.join(args.out, "color_sft.jsonl"), sft)
    write_jsonl(os.path.join(args.out, "color_prompts.jsonl"), prompts)
    write_jsonl(os.path.join(args.out, "color_heldout.jsonl"), heldout)
    # Every text once, in first-seen order; every object with every color, so the tokenizer
    # sees each answer sentence the policy could write.
    lines = []
    for r in sft:
        lines += [r["prompt"], r["completion"]]
    lines += [r["prompt"] for r in prompts + heldout]
    lines += [answer_sentence(o, c) for o in OBJECTS for c in COLORS]
    tmp = os.path.join(args.out, "color_corpus.txt.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("\n".join(dict.fromkeys(lines)) + "\n")
    os.replace(tmp, os.path.join(args.out, "color_corpus.txt"))
    correct = sum(r["completion"] == answer_sentence(o, colors[o])
                  for r in sft for o in [r["completion"].split()[1]])
    print(f"wrote {len(sft)} SFT rows ({correct} with the correct color), {len(prompts)} prompts "
          f"and {len(heldout)} held-out prompts to {args.out}")


if __name__ == "__main__":
    main()
