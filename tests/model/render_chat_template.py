#!/usr/bin/env python3
"""Renders chat templates the way transformers' apply_chat_template does, for the C++ tests.

Reads {"template": "...", "cases": [{"messages": [...], "add_generation_prompt": bool}]} on
stdin; writes a JSON list with, per case, {"text": "..."} or {"error": "..."}.

The environment is transformers' (utils/chat_template_utils.py, _compile_jinja_template):
ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True) with the loopcontrols
extension and a raise_exception global; the special tokens are passed as variables
(bos_token, eos_token, ...) as tokenizer.apply_chat_template does. Exit 77 when jinja2 is
missing, so the caller can skip.
"""
import json
import sys

try:
    import jinja2
    import jinja2.ext
    from jinja2.exceptions import TemplateError
    from jinja2.sandbox import ImmutableSandboxedEnvironment
except ImportError:
    sys.exit(77)


def raise_exception(message):
    raise TemplateError(message)


def main():
    request = json.load(sys.stdin)
    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    env.globals["raise_exception"] = raise_exception
    template = env.from_string(request["template"])
    out = []
    for case in request["cases"]:
        try:
            text = template.render(
                messages=case["messages"],
                add_generation_prompt=case["add_generation_prompt"],
                bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="</s>")
            out.append({"text": text})
        except TemplateError as e:
            out.append({"error": str(e)})
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
