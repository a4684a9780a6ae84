"""The HTTP layer: one httpx client, token auth, retries with backoff, errors, pagination."""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any

import httpx

from prefloop_client.errors import PrefloopError, error_for

# Answers that mean "not now": throttled, or a proxy or server that could not take the call.
RETRY_STATUSES = frozenset({429, 502, 503, 504})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to wait before trying a call again."""

    retries: int = 4
    backoff: float = 0.5  # seconds before the first retry; doubled each time
    max_wait: float = 60.0  # no single wait is longer, whatever Retry-After says
    jitter: float = 0.1  # share of each backoff wait added at random, so callers spread out

    def wait(self, attempt: int, retry_after: float | None) -> float:
        """Seconds before retry number `attempt` (0-based): Retry-After when the server gave it."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_wait)
        base = self.backoff * 2.0**attempt
        return min(base * (1 + random.uniform(0, self.jitter)), self.max_wait)


def retry_after_seconds(response: httpx.Response) -> float | None:
    """Retry-After in seconds: a number of seconds or an HTTP date; None when absent or junk."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(float(when.timestamp()) - time.time(), 0.0)


class Transport:
    """Sends calls to one server with a token; retries what is safe to retry."""

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        timeout: float | httpx.Timeout = 30.0,
        retry: RetryPolicy | None = None,
        http: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = url.rstrip("/")
        self.retry = retry or RetryPolicy()
        self.sleep = sleep
        headers = {"Accept": "application/json", "User-Agent": "prefloop-client/0.1"}
        if token:
            headers["Authorization"] = f"Token {token}"
        self.http = http or httpx.Client(timeout=timeout, follow_redirects=False)
        self.http.headers.update(headers)

    def url(self, path: str) -> str:
        """An absolute URL for an API path (`/api/...`) or an absolute URL as it is."""
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.base_url}/{path.lstrip('/')}"

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        data: dict[str, Any] | None = None,
        files: dict[str, tuple[str, IO[bytes], str]] | None = None,
        idempotent: bool | None = None,
        expect: tuple[int, ...] = (),
        stream: bool = False,
    ) -> httpx.Response:
        """Send a call, retrying 429/502/503/504 (and connection failures); raise on errors.

        `idempotent` (default: by method) also allows retrying a call whose answer was lost
        (a read timeout, a dropped connection). Status codes in `expect` are returned, not raised.
        """
        safe = method.upper() in IDEMPOTENT_METHODS if idempotent is None else idempotent
        attempt = 0
        while True:
            for _, handle, _ in (files or {}).values():
                handle.seek(0)  # a retried upload sends the whole file again
            try:
                request = self.http.build_request(
                    method,
                    self.url(path),
                    json=json,
                    params=_query(params),
                    data=data,
                    files=files,
                )
                response = self.http.send(request, stream=stream)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                # The call never reached the server: always safe to send again.
                if attempt >= self.retry.retries:
                    raise PrefloopError(f"cannot reach {self.base_url}: {exc}") from exc
            except (httpx.ReadTimeout, httpx.WriteTimeout, httpx.RemoteProtocolError) as exc:
                if not safe or attempt >= self.retry.retries:
                    raise PrefloopError(f"no answer from {self.base_url}: {exc}") from exc
            else:
                if response.status_code not in RETRY_STATUSES or attempt >= self.retry.retries:
                    return self._checked(response, expect)
                wait = self.retry.wait(attempt, retry_after_seconds(response))
                response.close()
                self.sleep(wait)
                attempt += 1
                continue
            self.sleep(self.retry.wait(attempt, None))
            attempt += 1

    def _checked(self, response: httpx.Response, expect: tuple[int, ...]) -> httpx.Response:
        if response.status_code < 400 or response.status_code in expect:
            return response
        response.read()
        raise error_for(response, retry_after=retry_after_seconds(response))

    def get(self, path: str, **params: Any) -> Any:
        """GET a JSON answer."""
        return self.request("GET", path, params=params).json()

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Any:
        """POST a JSON body, returning the JSON answer (None for an empty one)."""
        response = self.request("POST", path, json=body, **kwargs)
        return response.json() if response.content else None

    def patch(self, path: str, body: Any) -> Any:
        response = self.request("PATCH", path, json=body, idempotent=True)
        return response.json() if response.content else None

    def delete(self, path: str, **params: Any) -> Any:
        response = self.request("DELETE", path, params=params)
        return response.json() if response.content else None

    def paginate(self, path: str, **params: Any) -> Iterator[dict[str, Any]]:
        """Every item of a listing, page after page (`next` links: offset or cursor pages)."""
        page: Any = self.get(path, **params)
        while True:
            if isinstance(page, list):
                yield from page
                return
            yield from page.get("results", [])
            following = page.get("next")
            if not following:
                return
            page = self.request("GET", following).json()

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _query(params: dict[str, Any] | None) -> dict[str, Any] | None:
    """Query parameters as the server reads them: booleans as 1/0, None left out."""
    if params is None:
        return None
    query: dict[str, Any] = {}
    for key, value in params.items():
        if value is None:
            continue
        query[key] = int(value) if isinstance(value, bool) else value
    return query
