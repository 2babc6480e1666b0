#!/usr/bin/env python3
"""Renders Jinja chat templates with Jinja2 itself, as transformers' apply_chat_template does,
for tests/jinja/jinja_test.cpp.

Reads {"template": "...", "cases": [{...variables...}]} on stdin; writes a JSON list with, per
case, {"text": "..."} or {"error": "..."}.

The environment is transformers' (utils/chat_template_utils.py, _compile_jinja_template):
ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True) with the loopcontrols
extension, its own tojson filter (json.dumps with ensure_ascii=False, keys unsorted) and a
raise_exception global. Exit 77 when jinja2 is missing (Debian: python3-jinja2), so the caller
can skip.
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


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                      sort_keys=sort_keys)


def main():
    request = json.load(sys.stdin)
    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    template = env.from_string(request["template"])
    out = []
    for case in request["cases"]:
        try:
            out.append({"text": template.render(**case)})
        except TemplateError as e:
            out.append({"error": str(e)})
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
