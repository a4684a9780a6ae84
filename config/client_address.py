"""The address a request came from, as the login lockouts count it."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def client_address(request: HttpRequest) -> str | None:
    """The connection's address; behind a proxy (BEHIND_PROXY), the one it says it served.

    The proxy appends the address it served to X-Forwarded-For, so only the last entry is
    trusted: the ones before it are whatever the client sent. This is the address the API's
    throttles count too (REST_FRAMEWORK["NUM_PROXIES"]).
    """
    if settings.BEHIND_PROXY:
        last = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")[-1].strip()
        if last:
            return last
    return request.META.get("REMOTE_ADDR")
