"""Tool calling in the LLM layer: the text fallback, tool chat templates, openai servers."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import densegym.llm
from densegym.calls import find_calls
from densegym.llm import Completion
from densegym.llm.tools import (
    ToolCall,
    calls_from_openai,
    calls_from_text,
    normalise_tools,
    text_fallback_messages,
)

LS = {
    "type": "function",
    "function": {
        "name": "ls",
        "description": "List the files.",
        "parameters": {"type": "object", "properties": {"a": {"type": "boolean"}}},
    },
}
CD = {
    "name": "cd",
    "description": "Change directory.",
    "parameters": {
        "type": "object",
        "properties": {"folder": {"type": "string"}},
        "required": ["folder"],
    },
}
TOOLS = normalise_tools([LS, CD])
USER = [{"role": "user", "content": "Go to docs and list everything."}]

#: A Hermes-style chat template that takes tools (as Qwen's and others' do).
TOOL_TEMPLATE = (
    "{% if tools %}<|im_start|>system\nTools:\n{% for tool in tools %}"
    "{{ tool | tojson }}\n{% endfor %}Reply with <tool_call>{json}</tool_call>.<|im_end|>\n"
    "{% endif %}{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ('<tool_call>{"name": "cd", "arguments": {"folder": "docs"}}</tool_call>', ["cd"]),
        (
            '<tool_call>{"name": "cd", "arguments": {"folder": "d"}}</tool_call>\n'
            '<tool_call>{"name": "ls", "arguments": {"a": true}}</tool_call>',
            ["cd", "ls"],
        ),
        ('[{"name": "cd", "arguments": {"folder": "d"}}, {"name": "ls"}]', ["cd", "ls"]),
        ("I'll run cd(folder='docs') and then ls(a=True).", ["cd", "ls"]),
        ("```python\ncd('docs')\n```", ["cd"]),
        ("rm(x=1) is not a tool", []),
        ("Nothing to call.", []),
        ("cd(folder=__import__('os'))", []),
        ("", []),
    ],
)
def test_calls_are_read_from_text(reply, expected):
    assert [c.name for c in calls_from_text(reply, TOOLS)] == expected


def test_text_reading_is_bounded():
    assert find_calls("f(" * 5000 + ")" * 5000) == []
    assert find_calls(None) == [] and find_calls(b"ls()")[0].name == "ls"
    assert len(find_calls("ls() " * 100, limit=3)) == 3


def test_openai_tool_calls_are_decoded_and_malformed_ones_skipped():
    entries = [
        {"id": "1", "function": {"name": "cd", "arguments": '{"folder": "x"}'}},
        {"id": "2", "function": {"name": "ls", "arguments": "not json"}},
        {"id": "3", "function": {"name": "ls", "arguments": {"a": True}}},
        "junk",
    ]
    assert calls_from_openai(entries) == (
        ToolCall("cd", {"folder": "x"}, "1"),
        ToolCall("ls", {"a": True}, "3"),
    )


def test_tool_messages_flatten_for_plain_templates():
    messages = [
        *USER,
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [ToolCall("cd", {"folder": "d"}, "c").to_openai()],
        },
        {"role": "tool", "content": '{"ok": true}', "tool_call_id": "c"},
    ]
    flat = text_fallback_messages(messages, TOOLS)
    assert [m["role"] for m in flat] == ["system", "user", "assistant", "user"]
    assert '"name": "cd"' in flat[2]["content"] and "Function result" in flat[3]["content"]
    assert "- cd(folder: string) - Change directory." in flat[0]["content"]


@pytest.fixture(scope="module")
def tiny():
    pytest.importorskip("transformers")
    return densegym.llm.load("tiny-random", tokenizer="bytes")


def test_text_fallback_on_a_template_without_tools(tiny, monkeypatch):
    assert not tiny.template_takes_tools
    seen = []

    def scripted(prompts, params, *, templated=False):
        seen.extend(prompts)
        return [
            Completion("Sure. cd(folder='docs')", 10, 5, "stop", i) for i in range(len(prompts))
        ]

    monkeypatch.setattr(tiny, "_generate", scripted)
    before = tiny.usage["calls"]
    out = tiny.chat(USER, tools=[LS, CD])
    assert out[0].tool_calls == (ToolCall("cd", {"folder": "docs"}, "call_0"),)
    assert "You can call these functions" in seen[0] and "- ls(a: boolean)" in seen[0]
    assert tiny.usage["calls"] == before + 1
    plain = tiny.chat(USER)
    assert plain[0].tool_calls == ()  # no tools asked for: nothing is read


def test_a_template_that_takes_tools_renders_them(monkeypatch):
    pytest.importorskip("transformers")
    llm = densegym.llm.load("tiny-random", tokenizer="bytes")
    llm.tokenizer.chat_template = TOOL_TEMPLATE
    assert llm.template_takes_tools
    seen = []

    def scripted(prompts, params, *, templated=False):
        seen.extend(prompts)
        text = '<tool_call>{"name": "ls", "arguments": {"a": true}}</tool_call>'
        return [Completion(text, 10, 5, "stop", i) for i in range(len(prompts))]

    monkeypatch.setattr(llm, "_generate", scripted)
    out = llm.chat([USER, USER], tools=[LS, CD])
    assert [c.tool_calls[0].name for c in out] == ["ls", "ls"]
    assert '"name": "cd"' in seen[0] and "You can call these functions" not in seen[0]


def test_real_generation_with_tools_runs(tiny):
    out = tiny.chat([USER, USER], tools=[LS, CD], max_tokens=6, n=2, temperature=0.8, seed=1)
    assert len(out) == 4 and all(isinstance(c.tool_calls, tuple) for c in out)
    assert all(c.completion_tokens <= 6 for c in out)


class _ToolServer:
    """A minimal OpenAI-compatible server on 127.0.0.1 that answers with tool calls."""

    def __init__(self, refuse_tools: bool = False):
        self.requests: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append(body)
                if refuse_tools and "tools" in body:
                    self._send(400, {"error": {"message": "tools are not supported"}})
                    return
                if "tools" in body:
                    message = {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [
                            {
                                "id": "call_abc",
                                "type": "function",
                                "function": {"name": "cd", "arguments": '{"folder": "docs"}'},
                            }
                        ],
                    }
                    finish = "tool_calls"
                else:
                    message = {"role": "assistant", "content": "ls(a=True)"}
                    finish = "stop"
                self._send(
                    200,
                    {
                        "id": "x",
                        "object": "chat.completion",
                        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                        "usage": {"prompt_tokens": 12, "completion_tokens": 7},
                    },
                )

            def _send(self, status, payload):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_openai_passes_tools_through_and_reads_tool_calls():
    with _ToolServer() as server:
        llm = densegym.llm.load(f"openai:m@{server.url}", timeout=5, max_retries=0)
        history = [
            *USER,
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [ToolCall("ls", {}, "c0").to_openai()],
            },
            {"role": "tool", "content": "[]", "tool_call_id": "c0"},
        ]
        out = llm.chat(history, tools=[LS, CD])
    assert out[0].tool_calls == (ToolCall("cd", {"folder": "docs"}, "call_abc"),)
    assert out[0].finish_reason == "stop" and out[0].completion_tokens == 7
    sent = server.requests[0]
    assert [t["function"]["name"] for t in sent["tools"]] == ["ls", "cd"]
    assert sent["messages"][1]["tool_calls"][0]["function"]["name"] == "ls"
    assert sent["messages"][2]["tool_call_id"] == "c0"
    assert llm.usage["calls"] == 1 and llm.usage["prompt_tokens"] == 12


def test_openai_server_refusing_tools_gets_the_text_fallback():
    with _ToolServer(refuse_tools=True) as server:
        llm = densegym.llm.load(f"openai:m@{server.url}", timeout=5, max_retries=0)
        out = llm.chat(USER, tools=[LS, CD])
    assert out[0].tool_calls == (ToolCall("ls", {"a": True}, "call_0"),)
    assert "tools" in server.requests[0] and "tools" not in server.requests[1]
    assert "You can call these functions" in server.requests[1]["messages"][0]["content"]
