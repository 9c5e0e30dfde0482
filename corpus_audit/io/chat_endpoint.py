"""A small client of an OpenAI-compatible chat endpoint (vLLM, Ollama, llama.cpp server, a hosted API).

One request per call, with retries: a 429 or 5xx reply, a timeout or a dropped connection
is retried after an exponential back-off (1, 2, 4... seconds with jitter, or the server's
numeric Retry-After); any other 4xx reply is final. The API key goes only into the
Authorization header: no message, log or error ever contains it.
"""

from __future__ import annotations

import json
import random
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field

RETRIED_STATUS = {429, 500, 502, 503, 504}


class EndpointError(Exception):
    """A request that failed for good; `final` when retrying cannot help (a 4xx other than 429)."""

    def __init__(self, message: str, final: bool = False) -> None:
        super().__init__(message)
        self.final = final


@dataclass
class ChatEndpoint:
    url: str  # the base URL (.../v1) or the full .../chat/completions address
    model: str
    api_key: str | None = field(default=None, repr=False)
    timeout: float = 60.0
    retries: int = 5  # attempts after the first
    backoff: float = 1.0  # seconds before the first retry

    @property
    def address(self) -> str:
        base = self.url.rstrip("/")
        return base if base.endswith("/chat/completions") else f"{base}/chat/completions"

    def complete(self, system: str, prompt: str, temperature: float = 0.7, max_tokens: int = 1024) -> str:
        """The reply's text; EndpointError once every attempt failed."""
        body = json.dumps({"model": self.model, "temperature": temperature, "max_tokens": max_tokens,
                           "messages": [{"role": "system", "content": system}, {"role": "user", "content": prompt}]})
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        last = ""
        for attempt in range(self.retries + 1):
            wait = self.backoff * 2**attempt * (0.5 + random.random() / 2)
            try:
                request = urllib.request.Request(self.address, body.encode(), headers, method="POST")
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    return _reply_text(response.read())
            except urllib.error.HTTPError as err:
                last = f"HTTP {err.code} {err.reason}"
                if err.code not in RETRIED_STATUS:
                    raise EndpointError(f"{self.address} refused the request: {last}", final=True) from None
                retry_after = err.headers.get("Retry-After", "") if err.headers else ""
                wait = float(retry_after) if retry_after.strip().isdigit() else wait
            except (urllib.error.URLError, socket.timeout, TimeoutError, ConnectionError) as err:
                reason = getattr(err, "reason", err)
                last = "timed out" if isinstance(reason, (socket.timeout, TimeoutError)) else f"cannot connect ({reason})"
            except MalformedReply as err:
                last = f"malformed reply ({err})"
            if attempt < self.retries:
                time.sleep(min(wait, 60.0))
        raise EndpointError(f"{self.address}: {last} after {self.retries + 1} attempts")


class MalformedReply(Exception):
    pass


def _reply_text(raw: bytes) -> str:
    """choices[0].message.content of a chat completion, a non-empty string."""
    try:
        content = json.loads(raw)["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise MalformedReply("not a chat completion") from None
    if not isinstance(content, str) or not content.strip():
        raise MalformedReply("empty message")
    return content.strip()
