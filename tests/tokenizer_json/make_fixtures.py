#!/usr/bin/env python3
"""Builds the test tokenizers of tests/tokenizer_json and their expected ids.

    python3 tests/tokenizer_json/make_fixtures.py   (Debian: python3, python3-regex)

Writes llama3/ and qwen2/ (tokenizer.json, tokenizer_config.json) and expected_ids.inc.

The vocabulary is a small byte-level BPE trained here (GPT-2's byte mapping, most frequent pair
first, ties broken by the smaller pair) on the stress strings below and an English paragraph,
plus two whole-word tokens no merge makes (so `ignore_merges` shows). The expected ids come from
an independent reference encoder written after OpenAI's GPT-2 encoder.py (the `regex` module's
\\p{L}/\\p{N}, the bigram loop of encoder.py's bpe()), with the special-token split and NFC as
Hugging Face `tokenizers` applies them. It shares no code with the C++ tokenizer.
"""
import json
import os
import unicodedata

import regex

HERE = os.path.dirname(os.path.abspath(__file__))

LLAMA3_PAT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
              r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_PAT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|"
             r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")

# GPT-2's, which a ByteLevel pre-tokenizer with use_regex applies (the test makes that variant
# of llama3/ by editing its pre_tokenizer).
GPT2_PAT = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""

STRESS = [
    ("english", "Hello world! The quick brown fox jumps over the lazy dog."),
    ("contractions", "I'm sure she's right, they'RE late and we'VE gone; it'LL be what I'D say, don't."),
    ("numbers", "Call 1234567 or 12.5% of 2024-11-30 at 3:45pm, pi=3.14159265"),
    ("unicode_numbers", "\u00b2\u00b3 \u2167\u216b \u0661\u0662\u0663\u0664 \uff11\uff12\uff13\uff14 \u2460\u2461"),
    ("german_french", "Gr\u00fc\u00dfe aus M\u00fcnchen, \u00e7a co\u00fbte tr\u00e8s cher \u00e0 l'\u00e9t\u00e9."),
    ("decomposed", "cafe\u0301 nai\u0308ve A\u030a e\u0301te\u0301"),
    ("greek_russian", "\u039a\u03b1\u03bb\u03b7\u03bc\u03ad\u03c1\u03b1 \u03ba\u03cc\u03c3\u03bc\u03b5; \u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440!"),
    ("cjk", "\u4f60\u597d\uff0c\u4e16\u754c\u3002\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8\u3067\u3059\u3002\ud55c\uad6d\uc5b4 \ud14d\uc2a4\ud2b8"),
    ("arabic_hindi_thai", "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645 \u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e \u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35\u0e04\u0e23\u0e31\u0e1a"),
    ("emoji", "I \u2764\ufe0f it \U0001f600\U0001f44d\U0001f3fd \U0001f468\u200d\U0001f469\u200d\U0001f467 \U0001f1e9\U0001f1ea!!"),
    ("whitespace", "a  b\t\tc \n d\r\n\r\ne   \n\n  f    "),
    ("odd_spaces", "x\u00a0y\u3000z\u2028w\u2003 v \u00a0"),
    ("leading_newlines", "\n\n\nstart\n"),
    ("only_spaces", "     "),
    ("code", "def f(x):\n    return {'a': [x**2, \"s\"]}  # done\n\tif x != 0:\n\t\tpass\n"),
    ("punctuation", "...!!??--__((({{[[<<>>]]}})))'''\"\"\"``~~"),
    ("specials", "<|begin_of_text|>Hi<|eot_id|> <|start_header_id|>user<|end_header_id|>\n\nok<|eot_id|><|eot_id"),
    ("qwen_specials", "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\n<|endoftext|>x<|im_end"),
    ("whole_words", " strawberry quokka strawberrys Quokka"),
    ("long_s", "it'\u017f fine, IT'S FINE"),
    ("edges", "'s 'S x'Sy ' '' \t\n \n\t x . \r\n\r\n!?\n\n 12 \u00a0 7\t\t8 (\u00bfqu\u00e9? \"a\"\n"),
    ("empty", ""),
]

ENGLISH = ("The model reads text as tokens. Tokens are pieces of words: common words are one "
           "token, rare words are several. The tokenizer learns its pieces from the text it is "
           "trained on, merging the most frequent pair of symbols again and again. ")

LLAMA3_SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>",
                   "<|end_header_id|>", "<|eot_id|>"]
QWEN2_SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
NUM_MERGES = 400
WHOLE_WORDS = [" strawberry", "quokka"]


def bytes_to_unicode():
    """OpenAI's GPT-2 encoder.py bytes_to_unicode()."""
    bs = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("\u00a1"), ord("\u00ac") + 1))
          + list(range(ord("\u00ae"), ord("\u00ff") + 1)))
    cs = bs[:]
    n = 0
    for b in range(2 ** 8):
        if b not in bs:
            bs.append(b)
            cs.append(2 ** 8 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


BYTE_ENCODER = bytes_to_unicode()


def byte_encode(s):
    return "".join(BYTE_ENCODER[b] for b in s.encode("utf-8"))


def train(corpus):
    counts = {}
    for w in regex.findall(LLAMA3_PAT, corpus):
        key = tuple(byte_encode(w))
        counts[key] = counts.get(key, 0) + 1
    vocab = [BYTE_ENCODER[b] for b in range(256)]
    merges = []
    words = dict(counts)
    for _ in range(NUM_MERGES):
        pairs = {}
        for w, c in words.items():
            for a, b in zip(w, w[1:]):
                pairs[(a, b)] = pairs.get((a, b), 0) + c
        if not pairs:
            break
        best = min(pairs, key=lambda p: (-pairs[p], p))
        merges.append(best)
        vocab.append(best[0] + best[1])
        merged = {}
        for w, c in words.items():
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == best:
                    out.append(w[i] + w[i + 1])
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            merged[tuple(out)] = merged.get(tuple(out), 0) + c
        words = merged
    for w in WHOLE_WORDS:
        if byte_encode(w) not in vocab:
            vocab.append(byte_encode(w))
    return {t: i for i, t in enumerate(vocab)}, merges


def get_pairs(word):
    return set(zip(word, word[1:]))


class Reference:
    """encoder.py's Encoder.encode/bpe, with tokenizers' added-token split, NFC, ignore_merges."""

    def __init__(self, vocab, merges, pattern, specials, nfc, ignore_merges):
        self.encoder = vocab
        self.bpe_ranks = {m: i for i, m in enumerate(merges)}
        self.pat = regex.compile(pattern)
        self.specials = {s: vocab_size(vocab) + i for i, s in enumerate(specials)}
        self.special_pat = regex.compile("|".join(regex.escape(s) for s in
                                                  sorted(specials, key=len, reverse=True)))
        self.nfc = nfc
        self.ignore_merges = ignore_merges

    def bpe(self, token):
        if self.ignore_merges and token in self.encoder:
            return [token]
        word = tuple(token)
        pairs = get_pairs(word)
        if not pairs:
            return list(word)
        while True:
            bigram = min(pairs, key=lambda pair: self.bpe_ranks.get(pair, float("inf")))
            if bigram not in self.bpe_ranks:
                break
            first, second = bigram
            new_word = []
            i = 0
            while i < len(word):
                try:
                    j = word.index(first, i)
                    new_word.extend(word[i:j])
                    i = j
                except ValueError:
                    new_word.extend(word[i:])
                    break
                if word[i] == first and i < len(word) - 1 and word[i + 1] == second:
                    new_word.append(first + second)
                    i += 2
                else:
                    new_word.append(word[i])
                    i += 1
            word = tuple(new_word)
            if len(word) == 1:
                break
            pairs = get_pairs(word)
        return list(word)

    def encode_plain(self, text):
        if self.nfc:
            text = unicodedata.normalize("NFC", text)
        ids = []
        for token in regex.findall(self.pat, text):
            ids.extend(self.encoder[t] for t in self.bpe(byte_encode(token)))
        return ids

    def encode(self, text):
        ids, pos = [], 0
        for m in self.special_pat.finditer(text):
            ids.extend(self.encode_plain(text[pos:m.start()]))
            ids.append(self.specials[m.group()])
            pos = m.end()
        ids.extend(self.encode_plain(text[pos:]))
        return ids


def vocab_size(vocab):
    return max(vocab.values()) + 1


def tokenizer_json(vocab, merges, pattern, specials, nfc, ignore_merges, bos):
    base = vocab_size(vocab)
    added = [{"id": base + i, "content": s, "single_word": False, "lstrip": False,
              "rstrip": False, "normalized": False, "special": True} for i, s in enumerate(specials)]
    post = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False,
            "use_regex": False}
    if bos:
        post = {"type": "Sequence", "processors": [
            {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False,
             "use_regex": True},
            {"type": "TemplateProcessing",
             "single": [{"SpecialToken": {"id": bos, "type_id": 0}},
                        {"Sequence": {"id": "A", "type_id": 0}}],
             "pair": [{"SpecialToken": {"id": bos, "type_id": 0}},
                      {"Sequence": {"id": "A", "type_id": 0}},
                      {"SpecialToken": {"id": bos, "type_id": 1}},
                      {"Sequence": {"id": "B", "type_id": 1}}],
             "special_tokens": {bos: {"id": bos, "ids": [base], "tokens": [bos]}}}]}
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": {"type": "NFC"} if nfc else None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": pattern}, "behavior": "Isolated",
             "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
             "use_regex": False}]},
        "post_processor": post,
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True,
                    "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None,
                  "continuing_subword_prefix": None, "end_of_word_suffix": None,
                  "fuse_unk": False, "byte_fallback": False, "ignore_merges": ignore_merges,
                  "vocab": vocab, "merges": [[a, b] if ignore_merges else a + " " + b
                                             for a, b in merges]},
    }


def write_json(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, indent=1)
        f.write("\n")


def stress_megabyte():
    """The 1 MB text of the round-trip test: the stress strings in the order i*7 mod n, until
    at least 2**20 bytes (stress_text() in tokenizer_json_test.cpp builds the same)."""
    parts, size, i, n = [], 0, 0, len(STRESS)
    while size < 2 ** 20:
        s = STRESS[(i * 7) % n][1]
        parts.append(s)
        size += len(s.encode("utf-8"))
        i += 1
    return "".join(parts)


def ids_hash(ids):
    h = 0
    for t in ids:
        h = (h * 1000003 + t) & (2 ** 64 - 1)
    return h


def cpp_string(s):
    out = []
    for b in s.encode("utf-8"):
        out.append(chr(b) if 0x20 <= b < 0x7f and chr(b) not in "\\\"?" else "\\%03o" % b)
    return '"' + "".join(out) + '"'


def main():
    # Not whole_words: its words must stay out of reach of the merges.
    corpus = ENGLISH * 3 + " ".join(s for n, s in STRESS if n != "whole_words")
    vocab, merges = train(corpus)
    llama = Reference(vocab, merges, LLAMA3_PAT, LLAMA3_SPECIALS, False, True)
    qwen = Reference(vocab, merges, QWEN2_PAT, QWEN2_SPECIALS, True, False)
    gpt2 = Reference(vocab, merges, GPT2_PAT, LLAMA3_SPECIALS, False, True)
    write_json(os.path.join(HERE, "llama3", "tokenizer.json"),
               tokenizer_json(vocab, merges, LLAMA3_PAT, LLAMA3_SPECIALS, False, True,
                              "<|begin_of_text|>"))
    write_json(os.path.join(HERE, "llama3", "tokenizer_config.json"),
               {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>",
                "clean_up_tokenization_spaces": True, "model_max_length": 131072,
                "tokenizer_class": "PreTrainedTokenizerFast"})
    write_json(os.path.join(HERE, "qwen2", "tokenizer.json"),
               tokenizer_json(vocab, merges, QWEN2_PAT, QWEN2_SPECIALS, True, False, None))
    write_json(os.path.join(HERE, "qwen2", "tokenizer_config.json"),
               {"bos_token": None, "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>",
                "errors": "replace", "tokenizer_class": "Qwen2Tokenizer"})
    big = stress_megabyte()
    lines = ["// Generated by tests/tokenizer_json/make_fixtures.py (see its docstring): the",
             "// reference encoder's ids of each stress string for the llama3/ and qwen2/",
             "// tokenizers and for llama3/ with GPT-2's ByteLevel regex, and the count and",
             "// hash of the ids of the 1 MB stress text.",
             "// clang-format off",
             "struct ExpectedIds {",
             "  const char* name;",
             "  const char* text;",
             "  std::vector<std::int64_t> llama3, qwen2, gpt2;",
             "};",
             "inline const std::vector<ExpectedIds> kExpectedIds = {"]
    for name, text in STRESS:
        lines.append("  {%s, %s," % (cpp_string(name), cpp_string(text)))
        lines.append("   {%s}," % ", ".join(map(str, llama.encode(text))))
        lines.append("   {%s}," % ", ".join(map(str, qwen.encode(text))))
        lines.append("   {%s}}," % ", ".join(map(str, gpt2.encode(text))))
    lines.append("};")
    for tag, ref in (("Llama3", llama), ("Qwen2", qwen)):
        ids = ref.encode(big)
        lines.append("inline constexpr std::size_t k%sMegabyteCount = %d;" % (tag, len(ids)))
        lines.append("inline constexpr std::uint64_t k%sMegabyteHash = %duLL;" % (tag, ids_hash(ids)))
    lines.append("inline constexpr std::size_t kMegabyteBytes = %d;" % len(big.encode("utf-8")))
    lines.append("inline constexpr std::size_t kStressOrderStep = 7;")
    lines.append("// clang-format on")
    with open(os.path.join(HERE, "expected_ids.inc"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("vocab %d, merges %d" % (len(vocab), len(merges)))


if __name__ == "__main__":
    main()
