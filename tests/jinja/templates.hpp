// Published chat templates, as their models' tokenizer_config.json carry them ("chat_template"),
// for tests/jinja/jinja_test.cpp: the Jinja subset must render them as Jinja2 does.
#pragma once

#include "family_chat_templates.hpp"

namespace rlhf::test {

// HuggingFaceH4/zephyr-7b-beta.
inline const char* const kZephyr =
    "{% for message in messages %}\n"
    "{% if message['role'] == 'user' %}\n"
    "{{ '<|user|>\n' + message['content'] + eos_token }}\n"
    "{% elif message['role'] == 'system' %}\n"
    "{{ '<|system|>\n' + message['content'] + eos_token }}\n"
    "{% elif message['role'] == 'assistant' %}\n"
    "{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n"
    "{% endif %}\n"
    "{% if loop.last and add_generation_prompt %}\n"
    "{{ '<|assistant|>' }}\n"
    "{% endif %}\n"
    "{% endfor %}";

// Qwen/Qwen2.5-7B-Instruct (ChatML with a default system message and tool calls) and
// meta-llama/Meta-Llama-3-8B-Instruct: the texts init-model writes
// (host/family_chat_templates.hpp).
inline const char* const kQwen25 = rlhf::host::kQwen25Instruct;
inline const char* const kLlama3 = rlhf::host::kLlama3Instruct;

// mistralai/Mistral-7B-Instruct-v0.3 (tool calls, namespace-free role check; the system message
// goes into the last user turn).
inline const char* const kMistralV03 = R"JINJA({%- if messages[0]["role"] == "system" %}
    {%- set system_message = messages[0]["content"] %}
    {%- set loop_messages = messages[1:] %}
{%- else %}
    {%- set loop_messages = messages %}
{%- endif %}
{%- if not tools is defined %}
    {%- set tools = none %}
{%- endif %}
{%- set user_messages = loop_messages | selectattr("role", "equalto", "user") | list %}

{#- This block checks for alternating user/assistant messages, skipping tool calling messages #}
{%- set ns = namespace() %}
{%- set ns.index = 0 %}
{%- for message in loop_messages %}
    {%- if not (message.role == "tool" or message.role == "tool_results" or (message.tool_calls is defined and message.tool_calls is not none)) %}
        {%- if (message["role"] == "user") != (ns.index % 2 == 0) %}
            {{- raise_exception("After the optional system message, conversation roles must alternate user/assistant/user/assistant/...") }}
        {%- endif %}
        {%- set ns.index = ns.index + 1 %}
    {%- endif %}
{%- endfor %}

{{- bos_token }}
{%- for message in loop_messages %}
    {%- if message["role"] == "user" %}
        {%- if tools is not none and (message == user_messages[-1]) %}
            {{- "[AVAILABLE_TOOLS] [" }}
            {%- for tool in tools %}
                {%- set tool = tool.function %}
                {{- '{"type": "function", "function": {' }}
                {%- for key, val in tool.items() if key != "return" %}
                    {%- if val is string %}
                        {{- '"' + key + '": "' + val + '"' }}
                    {%- else %}
                        {{- '"' + key + '": ' + val|tojson }}
                    {%- endif %}
                    {%- if not loop.last %}
                        {{- ", " }}
                    {%- endif %}
                {%- endfor %}
                {{- "}}" }}
                {%- if not loop.last %}
                    {{- ", " }}
                {%- else %}
                    {{- "]" }}
                {%- endif %}
            {%- endfor %}
            {{- "[/AVAILABLE_TOOLS]" }}
            {%- endif %}
        {%- if loop.last and system_message is defined %}
            {{- "[INST] " + system_message + "\n\n" + message["content"] + "[/INST]" }}
        {%- else %}
            {{- "[INST] " + message["content"] + "[/INST]" }}
        {%- endif %}
    {%- elif message.tool_calls is defined and message.tool_calls is not none %}
        {{- "[TOOL_CALLS] [" }}
        {%- for tool_call in message.tool_calls %}
            {%- set out = tool_call.function|tojson %}
            {{- out[:-1] }}
            {%- if not tool_call.id is defined or tool_call.id|length != 9 %}
                {{- raise_exception("Tool call IDs should be alphanumeric strings with length 9!") }}
            {%- endif %}
            {{- ', "id": "' + tool_call.id + '"}' }}
            {%- if not loop.last %}
                {{- ", " }}
            {%- else %}
                {{- "]" + eos_token }}
            {%- endif %}
        {%- endfor %}
    {%- elif message["role"] == "assistant" %}
        {{- " " + message["content"]|trim + eos_token}}
    {%- elif message["role"] == "tool_results" or message["role"] == "tool" %}
        {%- if message.content is defined and message.content.content is defined %}
            {%- set content = message.content.content %}
        {%- else %}
            {%- set content = message.content %}
        {%- endif %}
        {{- '[TOOL_RESULTS] {"content": ' + content|string + ", " }}
        {%- if not message.tool_call_id is defined or message.tool_call_id|length != 9 %}
            {{- raise_exception("Tool call IDs should be alphanumeric strings with length 9!") }}
        {%- endif %}
        {{- '"call_id": "' + message.tool_call_id + '"}[/TOOL_RESULTS]' }}
    {%- else %}
        {{- raise_exception("Only user and assistant roles are supported, with the exception of an initial optional system message!") }}
    {%- endif %}
{%- endfor %}
)JINJA";

// Not a model's: every construct of the subset once (loop variables, namespace, filters, methods,
// slices, tests, operators, literals, comments, whitespace control).
inline const char* const kConstructs = R"JINJA({#- header comment -#}
{%- set ns = namespace(count=0, last_role='') -%}
{%- for m in messages if m.role != 'system' -%}
{%- set ns.count = ns.count + 1 -%}
{{ loop.index }}/{{ loop.length }} {{ loop.index0 }} {{ loop.revindex }} {{ loop.revindex0 }} {{ loop.first }} {{ loop.last }} {{ m.role | upper }}:{{ m['content'] | trim | length }}
{%- if m.content.strip().startswith('Hi') %} greeting{% elif m.content.rstrip().endswith('?') %} question{% else %} other{% endif %}

{{ m.content.split() | join(',') }}|{{ m.content.replace(' ', '_') }}|{{ m.content[:3] }}|{{ m.content[-2:] }}|{{ m.content[::-1] }}|{{ m.content.lstrip() | title }}|{{ m.role | capitalize }}
    {% if loop.index0 > 4 %}{% break %}{% endif %}
    {% if m.role == 'assistant' %}{% continue %}{% endif %}
  after {{ loop.previtem.role if loop.previtem is defined else '-' }} {{ (loop.nextitem or {'role': 'end'}).role }}
{%- set ns.last_role = m.role %}
{% set ignored = 'inside' %}
{% else %}
no messages
{% endfor %}
{{ ns.count }} {{ ns.last_role }} {{ ignored is defined }} {{ messages | length }} {{ messages | selectattr('role', 'equalto', 'user') | list | length }} {{ messages | rejectattr('role', 'eq', 'user') | map(attribute='role') | join('+') }} {{ messages | map(attribute='role') | first }} {{ (messages | last).role }}
{{ {'a': 1, 'b': [1, 2.5, none, true, 'x"y\\z'], 'c': {}} | tojson }} {{ messages[0] | tojson(indent=2) }}
{{ 7 // 2 }} {{ -7 % 3 }} {{ 7 / 2 }} {{ 2 ** 10 }} {{ 'ab' * 3 }} {{ 1 ~ 'x' ~ none }} {{ 'b' in 'abc' }} {{ 3 not in [1, 2] }} {{ 'a' if false else 'b' }} {{ undefined_name is defined }} {{ x | default('dflt') }} {{ [1, 2, 3][1:] }} {{ none }} {{ 1.0 }} {{ 0.1 + 0.2 }} {{ -3 | abs }} {{ '5' | int + 1 }} {{ 2 is even }} {{ 3 is odd }} {{ 9 is divisibleby 3 }} {{ 'x' is string }} {{ [] is iterable }} {{ {'k': 'v'}.get('k') }} {{ {'k': 'v'}.get('z', 'w') }} {{ range(3) | list }} {{ [3, 1] | reverse | list }} {{ 'AbC' | lower }} {{ 'a-b-c'.split('-') }} {{ 'q' ~ 1.5 }} {{ messages[0].missing is none }} {{ not messages }} {{ (1 < 2) and (2 >= 2) or false }}
{%- for k, v in {'one': 1, 'two': 2}.items() %} {{ k }}={{ v }}{% endfor %}

    {%+ if add_generation_prompt %}GEN {{ bos_token }}{{ eos_token }}{% endif %}
)JINJA";

}  // namespace rlhf::test
