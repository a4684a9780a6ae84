"""Typed readers for settings from the environment that fail loudly on junk."""

from __future__ import annotations

import os

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def env_str(name: str, default: str = "") -> str:
    """Return the variable, or `default` when it is unset or empty."""
    return os.environ.get(name) or default


def env_bool(name: str, default: bool) -> bool:
    """Return a boolean; anything but 1/0/true/false/yes/no/on/off is an error."""
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use true or false)")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    """Return an integer, refusing non-numbers and values below `minimum`."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={value} must be at least {minimum}")
    return value


def env_float(name: str, default: float, *, minimum: float | None = None) -> float:
    """Return a number, refusing non-numbers (and NaN) and values below `minimum`."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a number") from None
    if value != value or (minimum is not None and value < minimum):
        raise ImproperlyConfigured(f"{name}={raw} must be a number of at least {minimum}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    """Return a comma-separated list with blanks dropped."""
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]


_PERIODS = {"second", "minute", "hour", "day"}


def env_rate(name: str, default: str) -> str | None:
    """Return a request rate such as `20/minute` (DRF's form); `off` turns the limit off."""
    raw = (os.environ.get(name) or default).strip().lower()
    if raw == "off":
        return None
    count, _, period = raw.partition("/")
    if not (count.isascii() and count.isdigit()) or int(count) < 1 or period not in _PERIODS:
        raise ImproperlyConfigured(
            f"{name}={raw!r} is not a rate (use N/second, N/minute, N/hour, N/day or off)"
        )
    return f"{int(count)}/{period}"
