"""One OpenAI-compatible chat client (vLLM serve, llama.cpp, Ollama, hosted), shared by the Phase 2
openai analyzer and the Phase 4 openai summarizer.

Requests are constrained with `response_format` (a JSON schema, in the dialect the server speaks:
learnt once per run); 429, 5xx, timeouts and connection errors are retried with exponential
backoff; several base URLs are used round-robin. Callers keep N requests in flight from their own
threads (the client is thread-safe).
"""

from __future__ import annotations

import base64
import itertools
import json
import random
import threading
import time
from typing import Any

import httpx

from vtdb.config import AnalysisOptions, Settings, analysis_options
from vtdb.errors import VtdbError
from vtdb.llm import LLMUnavailable

JSONObject = dict[str, Any]  # a request or response body, as json.loads gives it

RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


class RequestFailed(VtdbError, RuntimeError):
    """A chat request failed for good (after retries, or a non-retryable answer): costs its window, not the run."""


class ResponseFormatRejected(VtdbError, RuntimeError):
    """The server does not speak this response_format dialect (the client then tries the next one)."""


def _response_format(mode: str, schema: JSONObject | None, name: str, grammar_schema: JSONObject | None = None) -> JSONObject | None:
    """The response_format of one dialect; `grammar_schema` (when given) replaces `schema` for llama-cpp-python,
    whose grammar allows exactly what the schema allows (the caller may want stricter keywords there)."""
    if schema is None:
        return None
    if mode == "json_schema":  # OpenAI, vLLM, Ollama
        return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": True}}
    if mode == "json_object":  # llama-cpp-python's server: a schema inside json_object
        return {"type": "json_object", "schema": schema if grammar_schema is None else grammar_schema}
    return None


def _content_text(content: Any) -> str:
    """The answer's text. Some servers send a list of content parts; anything else that is not a string
    becomes its JSON text, so that a bad answer costs (at most) its window, never the video."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join((p.get("text") or "") if isinstance(p, dict) else str(p) for p in content)
    return json.dumps(content, ensure_ascii=False)


def image_part(jpeg: bytes) -> JSONObject:
    return {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")}}


class OpenAIClient:
    """HTTP transport to one or more OpenAI-compatible endpoints; `chat` returns (text, finish_reason)."""

    def __init__(self, settings: Settings | AnalysisOptions | AnalysisOptions, client: httpx.Client | None = None):
        if not settings.openai_base_url:
            raise LLMUnavailable(
                "the openai analyzer needs an endpoint: set openai_base_url (e.g. http://127.0.0.1:8000/v1 for `vllm serve`) "
                "in videos_config.json or OPENAI_BASE_URL"
            )
        self.options = analysis_options(settings)
        self.model = settings.vlm_model
        self.base_urls = [u.rstrip("/") for u in settings.openai_base_url]
        self._next_url = itertools.cycle(self.base_urls)
        self._url_lock = threading.Lock()
        self._client = client or httpx.Client(timeout=httpx.Timeout(settings.openai_timeout, connect=10.0))
        mode = settings.openai_response_format
        self._formats = ["json_schema", "json_object", "none"] if mode == "auto" else [mode]
        self._format_lock = threading.Lock()
        self.stats = {"requests": 0, "retries": 0}

    def _url(self) -> str:
        with self._url_lock:
            return next(self._next_url)

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self.options.openai_api_key:
            headers["Authorization"] = f"Bearer {self.options.openai_api_key}"
        return headers

    def check(self) -> None:
        """Fail fast, with a clear message, when an endpoint is down or does not serve the model."""
        for base in self.base_urls:
            try:
                resp = self._client.get(f"{base}/models", headers=self._headers(), timeout=min(10.0, self.options.openai_timeout))
            except httpx.HTTPError as exc:
                raise LLMUnavailable(f"endpoint {base} is unreachable ({type(exc).__name__}: {exc}); is the server running?") from None
            if resp.status_code in (401, 403):
                raise LLMUnavailable(f"endpoint {base} refused the API key (HTTP {resp.status_code}); set openai_api_key")
            if resp.status_code != 200:
                continue  # some servers have no /models; the chat call will tell
            try:
                served = [m.get("id") for m in resp.json().get("data", [])]
            except (ValueError, AttributeError):
                continue
            if served and self.model not in served:
                raise LLMUnavailable(
                    f"model {self.model!r} is not served by {base}; it serves: {', '.join(map(str, served))}. Set vlm_model accordingly."
                )

    def _post(self, payload: JSONObject) -> Any:
        """One chat completion with retries; returns the parsed JSON response, of any shape (`chat` checks it)."""
        retries = self.options.openai_max_retries
        last = ""
        for attempt in range(retries + 1):
            base = self._url()
            try:
                self.stats["requests"] += 1
                resp = self._client.post(f"{base}/chat/completions", headers=self._headers(), content=json.dumps(payload))
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                last = f"{base}: {type(exc).__name__}: {exc}"
                retry_after = None
            else:
                if resp.status_code == 200:
                    try:
                        return resp.json()
                    except ValueError:
                        last = f"{base}: response is not JSON: {resp.text[:200]!r}"
                        retry_after = None
                elif "response_format" in payload and resp.status_code in (400, 422, 500) and "response_format" in resp.text:
                    # This server speaks another response_format dialect (llama-cpp-python answers 500 here).
                    raise ResponseFormatRejected(resp.text[:500])
                elif resp.status_code in RETRY_STATUS:
                    last = f"{base}: HTTP {resp.status_code}: {resp.text[:200]}"
                    retry_after = resp.headers.get("retry-after")
                else:
                    body = resp.text[:500]
                    if resp.status_code == 404 and "model" in body.lower():
                        raise RequestFailed(f"{base}: model {self.model!r} not found (HTTP 404): {body[:200]}")
                    raise RequestFailed(f"{base}: HTTP {resp.status_code}: {body}")
            if attempt < retries:
                self.stats["retries"] += 1
                try:
                    delay = min(60.0, float(retry_after)) if retry_after else 0.0  # a huge Retry-After must not stall a worker
                except ValueError:
                    delay = 0.0
                delay = max(delay, min(8.0, 0.5 * 2**attempt)) * random.uniform(0.8, 1.2)
                time.sleep(delay)
        raise RequestFailed(f"gave up after {retries + 1} attempts: {last}")

    def chat(self, messages: list[JSONObject], schema: JSONObject | None, schema_name: str, max_tokens: int | None = None,
             grammar_schema: JSONObject | None = None) -> tuple[str, str]:
        """One chat completion constrained by `schema` (none when None); (answer text, finish_reason)."""
        while True:
            with self._format_lock:
                mode = self._formats[0]
            payload: JSONObject = {
                "model": self.model,
                "messages": messages,
                "temperature": self.options.temperature,
                "max_tokens": max_tokens or self.options.max_output_tokens,
            }
            fmt = _response_format(mode, schema, schema_name, grammar_schema)
            if fmt:
                payload["response_format"] = fmt
            try:
                data = self._post(payload)
            except ResponseFormatRejected as exc:
                with self._format_lock:
                    if len(self._formats) > 1 and self._formats[0] == mode:
                        self._formats.pop(0)  # this server speaks another dialect: remember for the run
                        continue
                    if self._formats[0] != mode:
                        continue
                raise RequestFailed(f"the server rejected response_format {mode!r}: {exc}") from None
            try:
                choice = data["choices"][0]
                content = choice["message"].get("content") or ""
                finish = choice.get("finish_reason") or ""
            except (KeyError, IndexError, TypeError, AttributeError):
                raise RequestFailed(f"malformed chat response: {json.dumps(data)[:300]}") from None
            return _content_text(content), str(finish)

    def text_chat(self, messages: list[JSONObject], schema: JSONObject | None = None) -> str:
        """One chat turn for a text task (Phase 4 summaries), constrained by `schema` when given; the answer text."""
        text, _finish = self.chat(messages, schema=schema, schema_name="summary", max_tokens=max(self.options.max_output_tokens, 800))
        return text

    def close(self) -> None:
        self._client.close()
