"""A tiny OpenAI-compatible chat server on 127.0.0.1 for testing the real litellm HTTP path.

Usage:
    with FakeOpenAIServer() as server:
        server.push(chat_reply('{"edits": []}'))
        server.push(Scripted(status=429, body=error_body("slow down")))
        settings = ModelSettings(model="openai/fake-model", api_base=server.base_url)
        ...
        server.requests  # the JSON bodies received, in order

Each POST /v1/chat/completions pops the next scripted response; when the queue is empty it asks
`responder` (request JSON -> Scripted) if one was given, else answers 500 so a test that
under-scripts fails loudly. `server.timings` holds each request's (arrived, answered) monotonic times.
"""
from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Scripted:
    status: int = 200
    body: dict | str = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (to trigger client timeouts)
    headers: dict = field(default_factory=dict)


def chat_reply(content: str | None, *, tool_arguments: str | None = None, model: str = "fake-model",
               prompt_tokens: int = 11, completion_tokens: int = 7) -> Scripted:
    """A successful chat completion whose message is `content`, or a tool call carrying arguments."""
    message: dict = {"role": "assistant", "content": content}
    finish = "stop"
    if tool_arguments is not None:
        message["tool_calls"] = [{
            "id": "call_1", "type": "function",
            "function": {"name": "answer", "arguments": tool_arguments},
        }]
        finish = "tool_calls"
    return Scripted(body={
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    })


def error_body(message: str, kind: str = "server_error") -> dict:
    return {"error": {"message": message, "type": kind, "code": None}}


class FakeOpenAIServer:
    def __init__(self, responder: Callable[[dict], Scripted] | None = None) -> None:
        self.queue: deque[Scripted] = deque()
        self.responder = responder
        self.timings: list[tuple[float, float]] = []
        self.requests: list[dict] = []
        self.headers: list[dict] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- scripting
    def push(self, *responses: Scripted) -> FakeOpenAIServer:
        with self._lock:
            self.queue.extend(responses)
        return self

    @property
    def base_url(self) -> str:
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    # -- lifecycle
    def start(self) -> FakeOpenAIServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes; with Nagle's algorithm the body would wait
            # for the client's delayed ACK (40 ms), which real model servers do not add.
            disable_nagle_algorithm = True

            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_POST(self):
                arrived = time.monotonic()
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    payload = json.loads(raw or b"{}")
                except ValueError:
                    payload = {"_unparsed": raw.decode("utf-8", "replace")}
                with server._lock:
                    server.requests.append(payload)
                    server.headers.append(dict(self.headers))
                    scripted = server.queue.popleft() if server.queue else None
                if scripted is None:
                    scripted = server.responder(payload) if server.responder else Scripted(
                        status=500, body=error_body("no scripted response left"))
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    scripted = Scripted(status=404, body=error_body(f"unknown path {self.path}", "not_found"))
                if scripted.delay:
                    time.sleep(scripted.delay)
                body = scripted.body if isinstance(scripted.body, str) else json.dumps(scripted.body)
                data = body.encode("utf-8")
                try:
                    self.send_response(scripted.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in scripted.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client timed out and hung up; that is the point of a delayed reply
                with server._lock:
                    server.timings.append((arrived, time.monotonic()))

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True  # a handler still sleeping must not block shutdown
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="fake-openai", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeOpenAIServer:  # noqa: PYI034 - the class is not meant to be subclassed
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
