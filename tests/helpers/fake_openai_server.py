#!/usr/bin/env python3
"""FAKE LLM server: the one test double at the GPU/LLM-server boundary (no model runs here).

It stands in for what vtdb.llm.openai_client talks to (`vllm serve` on a GPU host, llama.cpp, a hosted
API), for the Phase 2 openai analyzer, the Phase 4 openai summarizer and bench/phase2.py. It speaks the
part of the protocol the client uses: `GET /v1/models` and `POST /v1/chat/completions`. Every request is
recorded (body, headers, arrival time) and the number of requests served at once is counted. What each
request gets back is decided by a responder, a callable `(RecordedRequest) -> Reply`, so that a test can
script answers from the prompt, delays, HTTP errors (429 with Retry-After, 500), non-JSON answers,
cut-off answers and so on; `slots` makes it serve at most that many requests at once, like a GPU server
with a fixed batch (the rest wait in line). The real thing is tested too: conftest's `llama_server`.

Windows are recognised from the prompt: the tests write transcripts of the form
"Segment <index> of <video>: ..." and `RecordedRequest.window` parses that back.

Run as a script it serves well-formed answers after a fixed delay (for benchmarks by hand):
    python tests/helpers/fake_openai_server.py --port 8011 --delay 0.2 --model fake-vlm
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterator, Sequence

SEGMENT_RE = re.compile(r"Segment (\d+) of ([\w.-]+):")
WINDOW_RANGE_RE = re.compile(r"This is the window (\S+)\u2013(\S+) of the video")


@dataclass
class RecordedRequest:
    path: str
    body: dict
    headers: dict[str, str]
    received_at: float
    seq: int
    server: str = ""

    @property
    def user_content(self) -> Any:
        for message in self.body.get("messages", []):
            if message.get("role") == "user":
                return message.get("content")
        return None

    @property
    def system(self) -> str:
        for message in self.body.get("messages", []):
            if message.get("role") == "system":
                return message.get("content") or ""
        return ""

    @property
    def prompt(self) -> str:
        """The user message's text (a plain string, or the text parts of a multi-part message)."""
        content = self.user_content
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            return "\n".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
        return ""

    @property
    def image_urls(self) -> list[str]:
        content = self.user_content
        if not isinstance(content, list):
            return []
        return [p["image_url"]["url"] for p in content if isinstance(p, dict) and p.get("type") == "image_url"]

    @property
    def window(self) -> tuple[str, int] | None:
        """(video name, window index) from the first "Segment i of name:" in the prompt (the window's own transcript)."""
        m = SEGMENT_RE.search(self.prompt)
        return (m.group(2), int(m.group(1))) if m else None


@dataclass
class Reply:
    content: str | None = None  # the assistant message's content
    status: int = 200
    finish_reason: str = "stop"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering
    raw: Any = None  # a full response body (dict -> JSON, str/bytes sent as is) instead of a chat completion
    drop: bool = False  # close the connection without answering (the client sees a transport error)


def valid_answer(request: RecordedRequest | None = None, **overrides: Any) -> dict:
    """A schema-valid window answer that names the window it answers."""
    video, index = (request.window if request is not None and request.window else ("unknown", -1))
    answer = {
        "description": f"Window {index} of {video}: a cook stirs tomato sauce in a red pot.",
        "dialogue_translation": f"Segment {index} speech.",
        "keywords": ["tomato sauce", "pot", f"w{index}"],
        "content_type": "Cooking",
        "mood_atmosphere": "calm",
        "confidence": "high",
        "scene_change": index == 0,
    }
    answer.update(overrides)
    return answer


def valid_reply(request: RecordedRequest) -> Reply:
    return Reply(json.dumps(valid_answer(request)))


def chat_body(content: str | None, finish_reason: str = "stop", model: str = "fake-vlm") -> dict:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish_reason}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


class Scripted:
    """Per-window scripts: `plan(video, index, reply1, reply2, ...)` serves those replies to that window's
    successive requests, then `default`. A reply may be a callable (RecordedRequest) -> Reply."""

    def __init__(self, default: Callable[[RecordedRequest], Reply] = valid_reply):
        self.default = default
        self._plans: dict[tuple[str, int], list] = {}
        self._lock = threading.Lock()

    def plan(self, video: str, index: int, *replies: Reply | Callable[[RecordedRequest], Reply]) -> "Scripted":
        with self._lock:
            self._plans[(video, index)] = list(replies)
        return self

    def __call__(self, request: RecordedRequest) -> Reply:
        with self._lock:
            queue = self._plans.get(request.window) if request.window else None
            item = queue.pop(0) if queue else None
        if item is None:
            return self.default(request)
        return item(request) if callable(item) else item


class FakeOpenAIServer:
    """ThreadingHTTPServer on 127.0.0.1 (a free port unless `port` is given); use as a context manager."""

    def __init__(self, responder: Callable[[RecordedRequest], Reply] | None = None, models: Sequence[str] | None = ("fake-vlm",),
                 delay: float = 0.0, name: str = "", slots: int | None = None, port: int = 0):
        self.responder = responder or valid_reply
        self.models = list(models) if models is not None else None  # None: /v1/models answers 404
        self.delay = delay  # added to every chat request
        self.name = name
        # At most `slots` chat requests are served at once (None: no limit); the others wait for a slot.
        self._slots = threading.BoundedSemaphore(slots) if slots else None
        self._lock = threading.Lock()
        self.requests: list[RecordedRequest] = []
        self.model_checks = 0
        self.in_flight = 0  # chat requests being served now (each holding a slot, when there are slots)
        self.max_in_flight = 0
        self.completed = 0
        self._seq = 0
        self.httpd = _Server(("127.0.0.1", port), self)
        self.port = self.httpd.server_address[1]
        self._thread: threading.Thread | None = None

    def reset(self) -> None:
        """Forget the requests seen so far and zero the counters (between measured rounds, with none in flight)."""
        with self._lock:
            self.requests = []
            self.model_checks = 0
            self.max_in_flight = 0
            self.completed = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def start(self) -> "FakeOpenAIServer":
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> "FakeOpenAIServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def count_model_check(self) -> None:
        with self._lock:
            self.model_checks += 1

    def record(self, path: str, body: dict, headers: dict[str, str]) -> RecordedRequest:
        with self._lock:
            self._seq += 1
            request = RecordedRequest(path, body, headers, time.monotonic(), self._seq, self.name)
            self.requests.append(request)
        return request

    @contextlib.contextmanager
    def serving(self) -> Iterator[None]:
        """Hold a slot (when there are slots) and count the request in flight while it is answered."""
        with self._slots or contextlib.nullcontext():
            with self._lock:
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
            try:
                yield
            finally:
                with self._lock:
                    self.in_flight -= 1
                    self.completed += 1


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default backlog of 5 would refuse bursts of parallel connects

    def __init__(self, address: tuple[str, int], fake: FakeOpenAIServer):
        self.fake = fake
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        if isinstance(body, (dict, list)):
            data = json.dumps(body).encode()
            ctype = "application/json"
        else:
            data = body if isinstance(body, bytes) else str(body).encode()
            ctype = "text/plain; charset=utf-8"
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (its timeout): fine

    def do_GET(self) -> None:
        fake = self.server.fake
        if self.path.rstrip("/").endswith("/models"):
            fake.count_model_check()
            if fake.models is None:
                self._send(404, {"error": {"message": "not found"}})
            else:
                self._send(200, {"object": "list", "data": [{"id": m, "object": "model", "owned_by": "fake"} for m in fake.models]})
            return
        self._send(404, {"error": {"message": f"no route {self.path}"}})

    def do_POST(self) -> None:
        fake = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._send(404, {"error": {"message": f"no route {self.path}"}})
            return
        try:
            body = json.loads(raw)
        except ValueError:
            self._send(400, {"error": {"message": "request body is not JSON"}})
            return
        request = fake.record(self.path, body, {k.lower(): v for k, v in self.headers.items()})
        with fake.serving():
            self._answer(request, fake.responder(request), fake.delay)

    def _answer(self, request: RecordedRequest, reply: Reply, delay: float) -> None:
        wait = delay + reply.delay
        if wait:
            time.sleep(wait)
        if reply.drop:
            self.close_connection = True
            try:
                self.connection.shutdown(2)
            except OSError:
                pass
        elif reply.raw is not None:
            self._send(reply.status, reply.raw, reply.headers)
        elif reply.status != 200:
            self._send(reply.status, {"error": {"message": reply.content or f"HTTP {reply.status}"}}, reply.headers)
        else:
            self._send(200, chat_body(reply.content, reply.finish_reason, request.body.get("model", "")), reply.headers)


def decode_data_url(url: str) -> bytes:
    prefix = "data:image/jpeg;base64,"
    if not url.startswith(prefix):
        raise ValueError(f"not a base64 JPEG data URL: {url[:40]!r}")
    return base64.b64decode(url[len(prefix):], validate=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8011)
    parser.add_argument("--delay", type=float, default=0.2)
    parser.add_argument("--model", default="fake-vlm")
    args = parser.parse_args()
    server = FakeOpenAIServer(models=[args.model], delay=args.delay, port=args.port)
    print(f"serving {server.url} (delay {args.delay} s, model {args.model})", flush=True)
    try:
        server.httpd.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
