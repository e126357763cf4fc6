"""The OpenAI API as the gateway and the emulator speak it: request checks, errors, streaming.

Errors are the API's error object, `{"error": {"message", "type", "param", "code"}}`,
with the matching HTTP status (400 `invalid_request_error` naming the parameter, 404
`model_not_found`, 429 `rate_limit_error` with `Retry-After`, 502/503 when no backend
can answer). Streams are server-sent events: one `data: {json}` line per chunk, closed
by `data: [DONE]`.

Token counts are estimated at four characters per token, the usual figure for English
text with OpenAI's tokenizers; the emulator writes its synthetic answers in four-character
words, so that the estimate counts them exactly.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

CHARS_PER_TOKEN = 4
EXTENSION = "loadwise"  # the body's extension object: budget, workflow id, the call's context
SSE_DONE = b"data: [DONE]\n\n"
CHAT = "chat.completion"
COMPLETION = "text_completion"


class ApiError(Exception):
    """An OpenAI-style error; `response()` renders it."""

    def __init__(self, status: int, message: str, kind: str = "invalid_request_error", param: str | None = None,
                 code: str | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind
        self.param = param
        self.code = code
        self.retry_after = retry_after

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}}

    def response(self) -> JSONResponse:
        headers = {"Retry-After": str(max(1, math.ceil(self.retry_after)))} if self.retry_after is not None else None
        return JSONResponse(self.body(), status_code=self.status, headers=headers)


def bad_param(param: str, problem: str) -> ApiError:
    return ApiError(400, f"{param}: {problem}", param=param, code="invalid_value")


async def read_body(request: Request) -> dict[str, Any]:
    """The request's JSON object, or a 400 error."""
    raw = await request.body()
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(400, f"the body is not valid JSON ({exc})", code="invalid_json") from None
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object")
    return body


def check_request(body: dict[str, Any], kind: str) -> str:
    """Check the parameters a chat or text completion needs; return the prompt's text."""
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise bad_param("model", "required, a model name")
    if kind == CHAT:
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise bad_param("messages", "required, a non-empty list of {role, content} objects")
        parts = []
        for i, m in enumerate(messages):
            if not isinstance(m, dict) or not isinstance(m.get("role"), str):
                raise bad_param(f"messages[{i}]", "must be an object with a role")
            content = m.get("content", "")
            if isinstance(content, list):  # content parts: keep the text ones
                content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
            if not isinstance(content, str):
                raise bad_param(f"messages[{i}].content", "must be text or a list of content parts")
            parts.append(content)
        text = "\n".join(parts)
    else:
        prompt = body.get("prompt")
        if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
            prompt = prompt[0]
        if not isinstance(prompt, str):
            raise bad_param("prompt", "required, one text prompt")
        text = prompt
    for name in ("max_tokens", "max_completion_tokens"):
        value = body.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise bad_param(name, f"must be a positive integer, got {value!r}")
    if not isinstance(body.get("stream", False), bool):
        raise bad_param("stream", "must be true or false")
    n = body.get("n", 1)
    if n != 1:
        raise bad_param("n", "only n = 1 is served")
    ext = body.get(EXTENSION, {})
    if not isinstance(ext, dict):
        raise bad_param(EXTENSION, "must be an object")
    return text


def max_tokens_of(body: dict[str, Any]) -> int | None:
    """The request's generation cap (`max_completion_tokens` is the newer name)."""
    value = body.get("max_completion_tokens")
    return value if value is not None else body.get("max_tokens")


def estimate_tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / CHARS_PER_TOKEN))


def sse(obj: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


def new_id(kind: str) -> str:
    return ("chatcmpl-" if kind == CHAT else "cmpl-") + uuid.uuid4().hex[:24]


def completion(kind: str, rid: str, model: str, text: str, finish: str, usage: dict[str, int],
               extra: dict[str, Any]) -> dict[str, Any]:
    """A whole (non-streamed) chat or text completion."""
    if kind == CHAT:
        choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish,
                  "logprobs": None}
    else:
        choice = {"index": 0, "text": text, "finish_reason": finish, "logprobs": None}
    return {"id": rid, "object": kind, "created": int(time.time()), "model": model, "choices": [choice],
            "usage": usage, EXTENSION: extra}


def chunk(kind: str, rid: str, model: str, text: str | None, finish: str | None = None, first: bool = False,
          extra: dict[str, Any] | None = None, usage: dict[str, int] | None = None) -> dict[str, Any]:
    """One streamed chunk; the last one carries the finish reason, usage and the extension object."""
    if kind == CHAT:
        delta: dict[str, Any] = {"role": "assistant"} if first else {}
        if text:
            delta["content"] = text
        choices = [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]
        obj = "chat.completion.chunk"
    else:
        choices = [{"index": 0, "text": text or "", "finish_reason": finish, "logprobs": None}]
        obj = "text_completion"
    out: dict[str, Any] = {"id": rid, "object": obj, "created": int(time.time()), "model": model, "choices": choices}
    if usage is not None:
        out["usage"] = usage
    if extra is not None:
        out[EXTENSION] = extra
    return out


def models_list(names: list[str], owner: str) -> dict[str, Any]:
    now = int(time.time())
    return {"object": "list", "data": [{"id": n, "object": "model", "created": now, "owned_by": owner} for n in names]}
