"""Which hosts the server may call: model endpoints and webhooks go where `OUTBOUND_HOSTS` says.

An admin types the URL, so an unchecked URL would let them make the server call any address
(the cloud metadata service, the database, an internal admin page). The rule is an allowlist:
a URL's host must be listed in `OUTBOUND_HOSTS` (`host` for any port, `host:port` for one);
when the list is empty, only public addresses are allowed, never loopback, private, link-local
or reserved ones. Every address a host resolves to is checked at call time too, so a public
name that resolves to a private address is refused unless its name is listed.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings


class OutboundRefused(ValueError):
    """The URL may not be called; the message says why and names the setting."""


@dataclass(frozen=True)
class Target:
    """A checked URL: its scheme, host (lowercase, no brackets) and port."""

    scheme: str
    host: str
    port: int


def _parse(url: str) -> Target:
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as error:
        raise OutboundRefused(f"{url!r} is not a URL: {error}") from None
    if parts.scheme not in ("http", "https"):
        raise OutboundRefused(f"{url!r} must start with http:// or https://")
    if not parts.hostname:
        raise OutboundRefused(f"{url!r} names no host")
    if parts.username or parts.password:
        raise OutboundRefused("credentials in the URL are not accepted; use the key field")
    default = 443 if parts.scheme == "https" else 80
    return Target(parts.scheme, parts.hostname.lower(), port or default)


def _listed(target: Target, allowed: list[str]) -> bool:
    for entry in allowed:
        entry = entry.strip().lower()
        if not entry:
            continue
        if entry.startswith("["):  # [::1]:8000 or [::1]
            host, _, rest = entry[1:].partition("]")
            port = rest.lstrip(":")
        elif entry.count(":") == 1:
            host, _, port = entry.partition(":")
        else:  # a bare name, IPv4 address or unbracketed IPv6 address
            host, port = entry, ""
        if host == target.host and (not port or port == str(target.port)):
            return True
    return False


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    return ip.is_global and not ip.is_multicast


def _addresses(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as error:
        raise OutboundRefused(f"{host} does not resolve: {error}") from None
    return sorted({str(info[4][0]) for info in infos})


def check_outbound_url(url: str, *, resolve: bool = True) -> Target:
    """Return the URL's target if the server may call it, else raise `OutboundRefused`.

    `resolve=False` checks only the name (for validating a form while offline); calls made by
    workers resolve, so a listed-by-default public name cannot point at a private address.
    """
    target = _parse(url)
    allowed = list(settings.OUTBOUND_HOSTS)
    if _listed(target, allowed):
        return target
    if allowed:
        raise OutboundRefused(
            f"{target.host}:{target.port} is not in OUTBOUND_HOSTS ({', '.join(allowed)})"
        )
    try:
        literal = [str(ipaddress.ip_address(target.host))]
    except ValueError:
        literal = []
    if not resolve and not literal:
        return target
    for address in literal or _addresses(target.host, target.port):
        if not _is_public(address):
            raise OutboundRefused(
                f"{target.host} resolves to {address}, a non-public address; "
                "list the host in OUTBOUND_HOSTS to allow it"
            )
    return target
