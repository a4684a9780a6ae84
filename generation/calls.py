"""Calling an endpoint: one chat completion through the `openai` SDK, within the endpoint's limits.

Every attempt checks the URL against `OUTBOUND_HOSTS` (config/outbound.py), takes a slot and a
request token of the endpoint (generation/limits.py), and sends with the endpoint's timeout and
redirects off (a redirect must not lead the call past the allowlist). 429, 5xx, timeouts,
refused connections and malformed answers are tried again with exponential backoff, waiting at
least what the server's Retry-After asks. Whatever finally fails raises `EndpointError`, whose
`reason` names the kind of failure.
"""

from __future__ import annotations

import email.utils
import functools
import logging
import random
import ssl
import time
from dataclasses import dataclass
from typing import Any, cast

import openai
from django.conf import settings

from config.outbound import OutboundRefused, check_outbound_url
from generation.keys import KeyUnavailable, endpoint_key
from generation.limits import LimitWaitTimeout, acquire, release
from generation.models import ModelEndpoint

logger = logging.getLogger(__name__)

# The sampling parameters an endpoint or a call may set, and what each must be.
PARAM_TYPES: dict[str, tuple[type, ...]] = {
    "temperature": (int, float),
    "top_p": (int, float),
    "max_tokens": (int,),
    "n": (int,),
    "seed": (int,),
    "stop": (str, list),
}
# Sent to the server as given; `n` is how many samples a job asks for (one per request).
SENT_PARAMS = ("temperature", "top_p", "max_tokens", "seed", "stop")


class Reason:
    """Why a call failed: `EndpointError.reason`."""

    REFUSED = "refused"  # the URL is outside OUTBOUND_HOSTS
    KEY = "key"  # the key cannot be read
    RATE_LIMITED = "rate_limited"  # 429
    SERVER = "server"  # 5xx
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    MALFORMED = "malformed"  # not a chat completion
    CLIENT = "client"  # another 4xx: the request itself is wrong (model id, key, parameters)
    BUSY = "busy"  # the endpoint stayed at its own limits


RETRYABLE = {
    Reason.RATE_LIMITED,
    Reason.SERVER,
    Reason.TIMEOUT,
    Reason.CONNECTION,
    Reason.MALFORMED,
}


class EndpointError(Exception):
    """A call that failed for good; `reason` is one of `Reason`, `status` the HTTP status."""

    def __init__(
        self,
        reason: str,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.reason = reason
        self.status = status
        self.retry_after = retry_after
        super().__init__(message)

    @property
    def retryable(self) -> bool:
        return self.reason in RETRYABLE


@dataclass(frozen=True)
class ChatResult:
    text: str
    tokens_in: int | None
    tokens_out: int | None
    latency_ms: int
    finish_reason: str
    raw: dict[str, Any]


def effective_params(endpoint: ModelEndpoint, overrides: dict[str, Any]) -> dict[str, Any]:
    """The endpoint's default sampling parameters with a job's or call's over them."""
    merged = {**(endpoint.params or {}), **overrides}
    return {key: merged[key] for key in PARAM_TYPES if merged.get(key) is not None}


def chat(
    endpoint: ModelEndpoint,
    messages: list[dict[str, Any]],
    *,
    attempts: int | None = None,
    **params: Any,
) -> ChatResult:
    """One chat completion of `messages`; raises `EndpointError` once every attempt failed."""
    attempts = attempts or settings.GENERATION_MAX_ATTEMPTS
    sent = {k: v for k, v in effective_params(endpoint, params).items() if k in SENT_PARAMS}
    for attempt in range(1, attempts + 1):
        try:
            return _attempt(endpoint, messages, sent)
        except EndpointError as error:
            if not error.retryable or attempt == attempts:
                raise
            pause = _backoff(attempt, error.retry_after)
            if pause is None:
                raise
            logger.info(
                "endpoint %s: %s (attempt %d of %d), again in %.1fs",
                endpoint.name,
                error,
                attempt,
                attempts,
                pause,
            )
            time.sleep(pause)
    raise AssertionError("unreachable: the last attempt returns or raises")


def _backoff(attempt: int, retry_after: float | None) -> float | None:
    """Seconds before the next attempt; None when the server asks for longer than we wait."""
    ceiling = settings.GENERATION_MAX_BACKOFF_SECONDS
    pause = min(settings.GENERATION_BACKOFF_SECONDS * 2 ** (attempt - 1), ceiling)
    pause *= random.uniform(0.5, 1.0)  # spread the workers that failed together
    if retry_after is not None:
        if retry_after > ceiling:
            return None
        pause = max(pause, retry_after)
    return pause


def _attempt(
    endpoint: ModelEndpoint, messages: list[dict[str, Any]], sent: dict[str, Any]
) -> ChatResult:
    try:
        check_outbound_url(endpoint.base_url)
        key = endpoint_key(endpoint.api_key_encrypted, endpoint.api_key_env)
    except OutboundRefused as error:
        raise EndpointError(Reason.REFUSED, f"base_url: {error}") from None
    except KeyUnavailable as error:
        raise EndpointError(Reason.KEY, str(error)) from None
    try:
        slot = acquire(endpoint, wait_s=max(endpoint.timeout_s, 10.0) * 4)
    except LimitWaitTimeout as error:
        raise EndpointError(Reason.BUSY, str(error)) from None
    try:
        return _send(endpoint, key, messages, sent)
    finally:
        release(slot)


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """The verifying TLS context, made once per process: loading the CA store costs tens of
    milliseconds of CPU, more than a whole call to a small model nearby."""
    return ssl.create_default_context()


def _send(
    endpoint: ModelEndpoint, key: str, messages: list[dict[str, Any]], sent: dict[str, Any]
) -> ChatResult:
    started = time.monotonic()
    http = openai.DefaultHttpxClient(
        follow_redirects=False, timeout=endpoint.timeout_s, verify=_tls_context()
    )
    # A server without keys ignores the header; the SDK insists on some key.
    with openai.OpenAI(
        base_url=endpoint.base_url,
        api_key=key or "no-key",
        timeout=endpoint.timeout_s,
        max_retries=0,  # our loop retries, so every attempt passes the limits
        http_client=http,
    ) as client:
        try:
            completion = client.chat.completions.create(
                model=endpoint.model,
                messages=cast(Any, messages),  # plain role/content dicts, as the API takes
                n=1,
                **sent,
            )
        except openai.APIStatusError as error:
            raise _status_error(error) from None
        except openai.APITimeoutError:
            raise EndpointError(
                Reason.TIMEOUT, f"no answer within {endpoint.timeout_s:g}s (timeout_s)"
            ) from None
        except openai.APIConnectionError as error:
            raise EndpointError(Reason.CONNECTION, f"cannot connect: {error}") from None
        except (openai.APIResponseValidationError, ValueError) as error:
            raise EndpointError(Reason.MALFORMED, f"the answer is not JSON: {error}") from None
    latency_ms = int((time.monotonic() - started) * 1000)
    return _result(completion, latency_ms)


def _status_error(error: openai.APIStatusError) -> EndpointError:
    status = error.status_code
    body = _short(error.response.text)
    if status == 429:
        return EndpointError(
            Reason.RATE_LIMITED,
            f"HTTP 429 (rate limited): {body}",
            status=status,
            retry_after=retry_after_seconds(error.response.headers),
        )
    if status >= 500 or status == 408:
        return EndpointError(
            Reason.SERVER,
            f"HTTP {status}: {body}",
            status=status,
            retry_after=retry_after_seconds(error.response.headers),
        )
    return EndpointError(Reason.CLIENT, f"HTTP {status}: {body}", status=status)


def retry_after_seconds(headers: Any) -> float | None:
    """What `Retry-After` (seconds or an HTTP date) or `retry-after-ms` asks for, if anything."""
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return max(float(value) / divisor, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def _result(completion: Any, latency_ms: int) -> ChatResult:
    """The first choice of a chat completion, checked; a malformed one raises MALFORMED."""
    choices = getattr(completion, "choices", None)
    if not isinstance(choices, list) or not choices:
        raise EndpointError(Reason.MALFORMED, f"no choices in the answer: {_short(completion)}")
    message = getattr(choices[0], "message", None)
    text = getattr(message, "content", None)
    if not isinstance(text, str):
        raise EndpointError(Reason.MALFORMED, "the first choice has no text content")
    usage = getattr(completion, "usage", None)
    return ChatResult(
        text=text,
        tokens_in=_count(getattr(usage, "prompt_tokens", None)),
        tokens_out=_count(getattr(usage, "completion_tokens", None)),
        latency_ms=latency_ms,
        finish_reason=str(getattr(choices[0], "finish_reason", "") or "")[:40],
        raw=completion.model_dump(mode="json"),
    )


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and value >= 0 else None


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 300 else text[:300] + "..."
