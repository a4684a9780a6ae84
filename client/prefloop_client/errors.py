"""Exceptions for the server's refusals, each carrying its message and the field it names."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True)
class LineError:
    """One refused row of an upload: its line (1-based), the field, and why."""

    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line is not None else "file"
        return (
            f"{where}, field '{self.field}': {self.message}"
            if self.field
            else (f"{where}: {self.message}")
        )


# How the server words a row error: "line 3, field 'prompt': must be ..." or "line 3: ...".
_LINE_ERROR = re.compile(r"^line (\d+)(?:, field '([^']*)')?: (.*)$", re.DOTALL)


def parse_line_error(text: str) -> LineError:
    """A server's row error string as a LineError (line None when it names no line)."""
    match = _LINE_ERROR.match(text)
    if match is None:
        return LineError(None, "", text)
    return LineError(int(match[1]), match[2] or "", match[3])


class PrefloopError(Exception):
    """Any refusal or failure reported by the server (or on the way to it)."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        field: str | None = None,
        body: Any = None,
        errors: list[LineError] | None = None,
    ) -> None:
        self.message = message
        self.status = status
        self.field = field
        self.body = body
        self.errors = errors or []
        super().__init__(f"{field}: {message}" if field else message)


class ValidationError(PrefloopError):
    """400: the input was refused; `field` names the first field the server named."""


class AuthenticationFailed(PrefloopError):
    """401: no valid token or credentials."""


class PermissionDenied(PrefloopError):
    """403: signed in, but the role (or a pause) does not allow it."""


class NotFound(PrefloopError):
    """404: no such object, or one outside the caller's projects."""


class Conflict(PrefloopError):
    """409: the state does not allow it (an archived project, no served model, a client_id
    already used for another judgement)."""


class RateLimited(PrefloopError):
    """429 after the retries: `retry_after` is the server's wait in seconds, when it said."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ServerError(PrefloopError):
    """5xx: the server failed (or a proxy in front of it), after the retries."""


class JobFailed(PrefloopError):
    """A background job (an import, a training run, a score request) ended in failure."""


_BY_STATUS: dict[int, type[PrefloopError]] = {
    400: ValidationError,
    401: AuthenticationFailed,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    429: RateLimited,
}


def first_field_message(body: Any, prefix: str = "") -> tuple[str | None, str]:
    """The first (field, message) of a DRF error body; field None for `detail`-style ones."""
    if isinstance(body, str):
        return (prefix or None), body
    if isinstance(body, list):
        if not body:
            return (prefix or None), ""
        return first_field_message(body[0], prefix)
    if isinstance(body, dict):
        if "detail" in body and not prefix:
            return None, str(body["detail"])
        for key, value in body.items():
            if key == "non_field_errors":
                return first_field_message(value, prefix)
            name = f"{prefix}.{key}" if prefix else str(key)
            return first_field_message(value, name)
    return (prefix or None), str(body)


def error_for(response: httpx.Response, *, retry_after: float | None = None) -> PrefloopError:
    """The exception for an error answer, carrying the server's message and field."""
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    field, message = first_field_message(body)
    if not message:
        message = f"HTTP {response.status_code} {response.reason_phrase}"
    errors = [
        LineError(e.get("line"), e.get("field") or "", e.get("message") or "")
        for e in (body.get("errors") or [] if isinstance(body, dict) else [])
        if isinstance(e, dict)
    ]
    kind = _BY_STATUS.get(response.status_code)
    if kind is None:
        kind = ServerError if response.status_code >= 500 else PrefloopError
    kwargs: dict[str, Any] = {
        "status": response.status_code,
        "field": field,
        "body": body,
        "errors": errors,
    }
    if kind is RateLimited:
        return RateLimited(message, retry_after=retry_after, **kwargs)
    return kind(message, **kwargs)
