"""Model endpoints behind one typed interface: the adapters and the HTTP client that drives them.

An *adapter* (a declarative plugin, one per wire format) turns a ``ChatRequest`` into a URL,
headers and a JSON body, and a JSON reply into a ``Completion``. A ``TargetClient`` owns the HTTP
connection pool, the target's rate limit and concurrency cap, timeouts, the response size limit
and retries with backoff that honour ``Retry-After``. Pure module: no Django.

Exceptions (one class, the cause says which):

    TargetError    a request failed after its retries; ``cause`` is a short code
                   ("timeout", "connection_closed", "connection_error", "http_429", "http_500",
                   "response_too_large", "invalid_json", "invalid_response", ...),
                   ``retryable`` whether another attempt could succeed, ``attempts`` how many ran
    TargetConfigError  the configuration cannot work (unknown provider, key variable not set)
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import math
import os
import random
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol, Self

import aiohttp

Role = Literal["system", "user", "assistant"]

DEFAULT_MAX_RESPONSE_BYTES = 2 * 1024 * 1024
RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 529})
MAX_RETRY_AFTER_SECONDS = 120.0  # a server asking for longer is treated as a failure, not a pause


class TargetConfigError(ValueError):
    """The target's configuration cannot work (unknown provider, missing credentials)."""


class TargetError(Exception):
    """A request to a target failed; ``cause`` is a short machine-readable code."""

    def __init__(
        self,
        cause: str,
        message: str,
        *,
        retryable: bool = False,
        retry_after: float | None = None,
        attempts: int = 1,
    ) -> None:
        super().__init__(f"{cause}: {message}")
        self.cause = cause
        self.message = message
        self.retryable = retryable
        self.retry_after = retry_after
        self.attempts = attempts


@dataclass(frozen=True, slots=True)
class Message:
    role: Role
    content: str


@dataclass(frozen=True, slots=True)
class ChatRequest:
    messages: tuple[Message, ...]
    temperature: float = 0.7
    max_tokens: int = 512
    seed: int | None = None

    def estimated_tokens(self) -> int:
        """Prompt tokens (≈ 4 characters each) plus the completion budget: what a rate limit
        must reserve before the real count is known."""
        characters = sum(len(message.content) for message in self.messages)
        return characters // 4 + 1 + self.max_tokens


@dataclass(frozen=True, slots=True)
class Completion:
    text: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str = ""
    attempts: int = 1


@dataclass(frozen=True, slots=True)
class TargetConfig:
    """One model endpoint. Credentials are *named* here (a variable or a file), never held."""

    base_url: str
    model: str
    provider: str = "openai"
    api_key_env: str | None = None
    secrets_file: str | None = None
    timeout_seconds: float = 60.0
    max_retries: int = 3
    backoff_seconds: float = 0.5
    max_backoff_seconds: float = 30.0
    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None
    max_concurrency: int = 16
    price_input_per_1k: float = 0.0
    price_output_per_1k: float = 0.0
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    headers: Mapping[str, str] = field(default_factory=dict)

    def api_key(self) -> str | None:
        """The key from the environment variable or the secrets file the config names.

        Raises ``TargetConfigError`` when one is named but absent: a silent anonymous request
        would fail later with a less useful 401.
        """
        if self.api_key_env:
            value = os.environ.get(self.api_key_env)
            if not value:
                raise TargetConfigError(f"environment variable {self.api_key_env} is not set")
            return value.strip()
        if self.secrets_file:
            try:
                value = Path(self.secrets_file).read_text("utf-8").strip()
            except OSError as error:
                raise TargetConfigError(
                    f"secrets file {self.secrets_file}: {error.strerror}"
                ) from error
            if not value:
                raise TargetConfigError(f"secrets file {self.secrets_file} is empty")
            return value
        return None

    def cost_usd(self, prompt_tokens: int | None, completion_tokens: int | None) -> float:
        return (
            (prompt_tokens or 0) * self.price_input_per_1k
            + (completion_tokens or 0) * self.price_output_per_1k
        ) / 1000


# ---- adapters --------------------------------------------------------------------------------

ADAPTERS: dict[str, type[ChatAdapter]] = {}


class ChatAdapter(ABC):
    """Base of the wire formats. Subclasses set ``name`` and implement the three hooks."""

    name: ClassVar[str] = ""
    path: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.name:
            ADAPTERS[cls.name] = cls

    @classmethod
    def description(cls) -> str:
        return (cls.__doc__ or "").strip().splitlines()[0]

    def url(self, config: TargetConfig) -> str:
        return config.base_url.rstrip("/") + self.path

    @abstractmethod
    def headers(self, api_key: str | None) -> dict[str, str]:
        """Headers of every request, the key included where the provider wants it."""

    @abstractmethod
    def body(self, config: TargetConfig, request: ChatRequest) -> dict[str, Any]:
        """The JSON body of one request."""

    @abstractmethod
    def parse(self, payload: Any) -> Completion:
        """A ``Completion`` from the decoded JSON reply; ``TargetError("invalid_response")``
        when it has another shape."""


def _invalid(detail: str) -> TargetError:
    return TargetError("invalid_response", detail)


def _optional_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


class OpenAIChatAdapter(ChatAdapter):
    """OpenAI-compatible chat completions (OpenAI, vLLM, Ollama, llama.cpp, LM Studio, ...)."""

    name = "openai"
    path = "/chat/completions"

    def headers(self, api_key: str | None) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        return headers

    def body(self, config: TargetConfig, request: ChatRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": config.model,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "temperature": request.temperature,
            "max_tokens": request.max_tokens,
        }
        if request.seed is not None:
            body["seed"] = request.seed
        return body

    def parse(self, payload: Any) -> Completion:
        if not isinstance(payload, dict):
            raise _invalid("the reply is not a JSON object")
        choices = payload.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise _invalid("the reply has no choices")
        message = choices[0].get("message")
        if not isinstance(message, dict):
            raise _invalid("choices[0] has no message")
        content = message.get("content")
        if content is None and isinstance(message.get("refusal"), str):
            content = message["refusal"]  # OpenAI's structured refusal field
        if content is None:
            content = ""
        if not isinstance(content, str):
            raise _invalid("choices[0].message.content is not a string")
        usage = payload.get("usage") if isinstance(payload.get("usage"), dict) else {}
        assert isinstance(usage, dict)
        finish = choices[0].get("finish_reason")
        return Completion(
            text=content,
            prompt_tokens=_optional_int(usage.get("prompt_tokens")),
            completion_tokens=_optional_int(usage.get("completion_tokens")),
            finish_reason=finish if isinstance(finish, str) else "",
        )


class AnthropicMessagesAdapter(ChatAdapter):
    """Anthropic Messages API (base URL up to /v1, e.g. https://api.anthropic.com/v1)."""

    name = "anthropic"
    path = "/messages"
    version = "2023-06-01"

    def headers(self, api_key: str | None) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "anthropic-version": self.version}
        if api_key:
            headers["x-api-key"] = api_key
        return headers

    def body(self, config: TargetConfig, request: ChatRequest) -> dict[str, Any]:
        system = "\n\n".join(m.content for m in request.messages if m.role == "system")
        # The Messages API wants user and assistant turns alternating, starting with the user:
        # consecutive turns of one role are joined, as the model would have read them.
        turns: list[dict[str, str]] = []
        for message in request.messages:
            if message.role == "system":
                continue
            if turns and turns[-1]["role"] == message.role:
                turns[-1]["content"] += "\n\n" + message.content
            else:
                turns.append({"role": message.role, "content": message.content})
        if turns and turns[0]["role"] == "assistant":
            turns.insert(0, {"role": "user", "content": "(conversation continues)"})
        body: dict[str, Any] = {
            "model": config.model,
            "max_tokens": request.max_tokens,
            "temperature": min(max(request.temperature, 0.0), 1.0),  # Anthropic's range is 0–1
            "messages": turns,
        }
        if system:
            body["system"] = system
        if request.seed is not None:
            # No seed in this API; an opaque per-trial id lets a deterministic endpoint (the
            # simulator) vary between trials as sampling does on a real one.
            body["metadata"] = {"user_id": f"clearinghouse-trial-{request.seed}"}
        return body

    def parse(self, payload: Any) -> Completion:
        if not isinstance(payload, dict):
            raise _invalid("the reply is not a JSON object")
        if payload.get("type") == "error":
            raise _invalid("the reply is an error object")
        content = payload.get("content")
        if not isinstance(content, list):
            raise _invalid("the reply has no content list")
        texts = [
            block["text"]
            for block in content
            if isinstance(block, dict)
            and block.get("type") == "text"
            and isinstance(block.get("text"), str)
        ]
        usage = payload.get("usage") if isinstance(payload.get("usage"), dict) else {}
        assert isinstance(usage, dict)
        stop = payload.get("stop_reason")
        return Completion(
            text="".join(texts),
            prompt_tokens=_optional_int(usage.get("input_tokens")),
            completion_tokens=_optional_int(usage.get("output_tokens")),
            finish_reason=stop if isinstance(stop, str) else "",
        )


def adapter_for(provider: str) -> ChatAdapter:
    try:
        return ADAPTERS[provider]()
    except KeyError:
        known = ", ".join(sorted(ADAPTERS))
        raise TargetConfigError(f"unknown provider {provider!r} (known: {known})") from None


# ---- rate limits -----------------------------------------------------------------------------


class Limiter(Protocol):
    """What a client asks before each request: wait until ``tokens`` may be spent; and after
    it, how many were really used (the reservation is an estimate)."""

    async def acquire_async(self, tokens: int) -> None: ...

    def settle(self, reserved: int, used: int) -> None: ...


class RateLimiter:
    """Requests-per-minute and tokens-per-minute token buckets for one target, in one process.

    Buckets start full (one minute's allowance) and refill continuously. ``acquire_async`` waits
    until both buckets hold enough; a request larger than a whole minute's tokens still runs,
    alone, once the bucket is full, rather than never.
    """

    def __init__(
        self,
        requests_per_minute: float | None,
        tokens_per_minute: float | None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._rpm = requests_per_minute
        self._tpm = tokens_per_minute
        self._requests = requests_per_minute or 0.0
        self._tokens = tokens_per_minute or 0.0
        self._clock = clock  # injectable so tests can step time instead of waiting
        self._sleep = sleep
        self._stamp = clock()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self._clock()
        elapsed = now - self._stamp
        self._stamp = now
        if self._rpm:
            self._requests = min(self._rpm, self._requests + elapsed * self._rpm / 60)
        if self._tpm:
            self._tokens = min(self._tpm, self._tokens + elapsed * self._tpm / 60)

    async def acquire_async(self, tokens: int) -> None:
        if not self._rpm and not self._tpm:
            return
        async with self._lock:  # first come, first served: waiters queue on the lock
            while True:
                self._refill()
                need_tokens = min(float(tokens), self._tpm) if self._tpm else 0.0
                wait = 0.0
                if self._rpm and self._requests < 1:
                    wait = max(wait, (1 - self._requests) * 60 / self._rpm)
                if self._tpm and self._tokens < need_tokens:
                    wait = max(wait, (need_tokens - self._tokens) * 60 / self._tpm)
                if wait <= 0:
                    if self._rpm:
                        self._requests -= 1
                    if self._tpm:
                        self._tokens -= need_tokens
                    return
                await self._sleep(wait)

    def settle(self, reserved: int, used: int) -> None:
        """Give back what the reservation overestimated (or take what it missed)."""
        if self._tpm:
            self._tokens = min(self._tpm, self._tokens + min(reserved, self._tpm) - used)


# ---- the client ------------------------------------------------------------------------------


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if math.isnan(seconds) or math.isinf(seconds):
        return None
    return max(0.0, seconds)


class TargetClient:
    """Sends chat requests to one target with its limits; use as ``async with``.

    One client per target per process: the connection pool, the concurrency cap and the rate
    limiter live here, so every coroutine that shares the client shares the limits.
    """

    def __init__(self, config: TargetConfig, *, limiter: Limiter | None = None) -> None:
        self.config = config
        self.adapter = adapter_for(config.provider)
        self._api_key = config.api_key()
        self._headers = {**self.adapter.headers(self._api_key), **dict(config.headers)}
        self._url = self.adapter.url(config)
        self._limiter = limiter or RateLimiter(config.requests_per_minute, config.tokens_per_minute)
        self._slots = asyncio.Semaphore(max(1, config.max_concurrency))
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Self:
        connector = aiohttp.TCPConnector(
            limit=max(1, self.config.max_concurrency), ttl_dns_cache=300, force_close=False
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=self.config.timeout_seconds),
            raise_for_status=False,
            auto_decompress=True,
        )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def complete_async(self, request: ChatRequest) -> Completion:
        """One completion, retried within the config's limits.

        Raises ``TargetError`` with the last attempt's cause when every attempt failed or the
        failure cannot be retried (a 400, a reply of another shape).
        """
        config = self.config
        attempt = 0
        while True:
            attempt += 1
            try:
                completion = await self._attempt_async(request)
            except TargetError as error:
                error.attempts = attempt
                if not error.retryable or attempt > config.max_retries:
                    raise
                if error.retry_after is not None and error.retry_after > MAX_RETRY_AFTER_SECONDS:
                    error.retryable = False
                    raise
                backoff = min(
                    config.max_backoff_seconds, config.backoff_seconds * 2 ** (attempt - 1)
                )
                # Full jitter spreads a burst of retries; the server's Retry-After is a floor.
                delay = random.uniform(0, backoff)  # noqa: S311 - jitter, not a secret
                if error.retry_after is not None:
                    delay = max(delay, error.retry_after)
                await asyncio.sleep(delay)
                continue
            return Completion(
                text=completion.text,
                prompt_tokens=completion.prompt_tokens,
                completion_tokens=completion.completion_tokens,
                finish_reason=completion.finish_reason,
                attempts=attempt,
            )

    async def _attempt_async(self, request: ChatRequest) -> Completion:
        session = self._session
        if session is None:
            raise RuntimeError("TargetClient must be used as an async context manager")
        reserved = request.estimated_tokens()
        await self._limiter.acquire_async(reserved)
        body = json.dumps(self.adapter.body(self.config, request), ensure_ascii=False)
        async with self._slots:
            try:
                async with session.post(
                    self._url, data=body.encode("utf-8"), headers=self._headers
                ) as response:
                    status = response.status
                    retry_after = parse_retry_after(response.headers.get("Retry-After"))
                    raw = await self._read_limited_async(response)
            except TimeoutError:
                raise TargetError(
                    "timeout",
                    f"no complete reply in {self.config.timeout_seconds:g} s",
                    retryable=True,
                ) from None
            except aiohttp.ServerDisconnectedError:
                raise TargetError(
                    "connection_closed", "the server closed the connection", retryable=True
                ) from None
            except aiohttp.ClientPayloadError as error:
                raise TargetError(
                    "connection_closed", f"the reply was cut off ({error})", retryable=True
                ) from None
            except aiohttp.ClientConnectionError as error:
                raise TargetError(
                    "connection_error", str(error) or type(error).__name__, retryable=True
                ) from None
        if status != 200:
            snippet = raw[:200].decode("utf-8", "replace")
            raise TargetError(
                f"http_{status}",
                f"HTTP {status}: {snippet}",
                retryable=status in RETRYABLE_STATUS,
                retry_after=retry_after,
            )
        try:
            payload = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise TargetError(
                "invalid_json", f"the reply is not JSON ({error})", retryable=True
            ) from None
        completion = self.adapter.parse(payload)
        if completion.prompt_tokens is not None and completion.completion_tokens is not None:
            self._limiter.settle(reserved, completion.prompt_tokens + completion.completion_tokens)
        return completion

    async def _read_limited_async(self, response: aiohttp.ClientResponse) -> bytes:
        limit = self.config.max_response_bytes
        declared = response.content_length
        if declared is not None and declared > limit:
            raise TargetError(
                "response_too_large", f"the reply declares {declared} bytes (limit {limit})"
            )
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.content.iter_chunked(65536):
            size += len(chunk)
            if size > limit:
                raise TargetError("response_too_large", f"the reply exceeds {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)


__all__ = [
    "ADAPTERS",
    "AnthropicMessagesAdapter",
    "ChatAdapter",
    "ChatRequest",
    "Completion",
    "Limiter",
    "Message",
    "OpenAIChatAdapter",
    "RateLimiter",
    "TargetClient",
    "TargetConfig",
    "TargetConfigError",
    "TargetError",
    "adapter_for",
    "parse_retry_after",
]
