#!/usr/bin/env python3
"""Writes the quickstart's synthetic, verifiable preference task: polite vs rude replies.

Every prompt asks a small factual question (arithmetic, or how to do an everyday task). Both
replies carry the same correct answer; the chosen one wraps it in a polite opener and closer,
the rejected one in a rude one. A rule verifies the label (the polite/rude phrase lists below),
and the opener/closer lengths on both sides are drawn from the same range so that a randomly
initialised model prefers either side about half the time (summed log-probs favour short
replies). Held-out prompts use numbers and tasks never seen in training.

Deterministic: the same --seed writes byte-identical files.

  python3 examples/quickstart/make_data.py --out examples/data [--seed 7] [--train 480] [--heldout 120]

Files: polite_train.jsonl (prompt/chosen/rejected), polite_heldout.jsonl (same format, unseen
prompts), polite_sft.jsonl (prompt/completion = the polite reply), polite_sft_mixed.jsonl (the
polite or the rude reply, half each), polite_prompts.jsonl (the training prompts alone, for PPO)
and polite_corpus.txt (the text of all of them plus the templates, one sentence per line, for
the tokenizer).
"""
import argparse
import json
import os
import random

POLITE_OPENERS = [
    "Sure!", "Of course.", "Happy to help!", "Certainly, thank you for asking.",
    "Great question, happy to help with that.", "Thanks for asking!", "Gladly.",
    "Of course, it is a pleasure to help you with this.",
]
POLITE_CLOSERS = [
    "", "Have a nice day!", "I hope that helps.", "Thank you!",
    "Please let me know if you need anything else.", "Take care!",
    "It was a pleasure, feel free to ask me again any time.", "Good luck!",
]
RUDE_OPENERS = [
    "Ugh.", "Obviously.", "Seriously? Fine.", "What a dumb question.", "Whatever.",
    "You could have looked this up yourself, but fine.", "Sigh.",
    "I cannot believe you need me for something this trivial.",
]
RUDE_CLOSERS = [
    "", "Stop bothering me.", "Go away.", "Figure it out yourself next time.",
    "Do not ask me again.", "Now leave me alone.",
    "Honestly this was a waste of my time and yours.", "Next.",
]

TASKS = [
    ("boil an egg", "put it in boiling water for about eight minutes"),
    ("water a plant", "pour water on the soil until it is damp"),
    ("make tea", "steep a tea bag in hot water for three minutes"),
    ("tie a shoe", "make two loops and pull them through each other"),
    ("open a jar", "twist the lid counterclockwise with a firm grip"),
    ("cool soup", "stir it and let it rest for a few minutes"),
    ("save a file", "press control and s at the same time"),
    ("fold a shirt", "fold the sleeves in and then fold it in half"),
    ("clean a window", "spray it and wipe it with a dry cloth"),
    ("find north", "look for the north star at night"),
    ("wash rice", "rinse it in cold water until the water is clear"),
    ("charge a phone", "plug the cable into the phone and the wall"),
    ("sharpen a pencil", "turn it inside a sharpener a few times"),
    ("plant a seed", "push it into moist soil about one finger deep"),
    ("make toast", "put bread in the toaster for two minutes"),
    ("stop a nosebleed", "lean forward and pinch the soft part of the nose"),
]
HELDOUT_TASKS = [
    ("iron a shirt", "press it with a warm iron on a flat board"),
    ("feed a cat", "put a small bowl of cat food on the floor"),
    ("cook pasta", "boil it in salted water for ten minutes"),
    ("wrap a gift", "cover the box in paper and tape the edges"),
]


def question(rng, numbers, tasks):
    kind = rng.random()
    if kind < 0.4:
        a, b = rng.choice(numbers), rng.randrange(0, 10)
        return f"What is {a} plus {b}?", f"{a} plus {b} is {a + b}."
    if kind < 0.7:
        a, b = rng.choice(numbers), rng.randrange(1, 6)
        return f"What is {a} times {b}?", f"{a} times {b} is {a * b}."
    task, how = rng.choice(tasks)
    return f"How do I {task}?", f"To {task}, {how}."


def reply(rng, answer, openers, closers):
    text = f"{rng.choice(openers)} {answer}"
    closer = rng.choice(closers)
    return f"{text} {closer}" if closer else text


def pairs(rng, n, numbers, tasks):
    out = []
    for _ in range(n):
        prompt, answer = question(rng, numbers, tasks)
        chosen = reply(rng, answer, POLITE_OPENERS, POLITE_CLOSERS)
        rejected = reply(rng, answer, RUDE_OPENERS, RUDE_CLOSERS)
        out.append({"prompt": prompt, "chosen": chosen, "rejected": rejected})
    return out


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
    ap.add_argument("--train", type=int, default=480)
    ap.add_argument("--heldout", type=int, default=120)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    os.makedirs(args.out, exist_ok=True)
    train_numbers = [n for n in range(0, 40) if n % 5 != 3]  # held out: 3, 8, 13, …
    heldout_numbers = [n for n in range(0, 40) if n % 5 == 3]
    train = pairs(rng, args.train, train_numbers, TASKS)
    heldout = pairs(rng, args.heldout, heldout_numbers, HELDOUT_TASKS)
    write_jsonl(os.path.join(args.out, "polite_train.jsonl"), train)
    write_jsonl(os.path.join(args.out, "polite_heldout.jsonl"), heldout)
    write_jsonl(os.path.join(args.out, "polite_sft.jsonl"),
                [{"prompt": r["prompt"], "completion": r["chosen"]} for r in train])
    # For PPO (examples/sft-reward-ppo.toml): an SFT set where half the replies are rude, so the
    # SFT policy is rude about half the time, and the training prompts alone. Its own random
    # stream: the files above stay byte-identical.
    mix = random.Random(args.seed + 1)
    write_jsonl(os.path.join(args.out, "polite_sft_mixed.jsonl"),
                [{"prompt": r["prompt"], "completion": r["chosen"] if mix.random() < 0.5
                  else r["rejected"]} for r in train])
    write_jsonl(os.path.join(args.out, "polite_prompts.jsonl"),
                [{"prompt": r["prompt"]} for r in train])
    lines = POLITE_OPENERS + POLITE_CLOSERS + RUDE_OPENERS + RUDE_CLOSERS
    for r in train + heldout:
        lines += [r["prompt"], r["chosen"], r["rejected"]]
    with open(os.path.join(args.out, "polite_corpus.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(l for l in lines if l) + "\n")
    print(f"wrote {len(train)} train and {len(heldout)} held-out pairs to {args.out}")


if __name__ == "__main__":
    main()
