"""The outbound allowlist: admins cannot make the server call addresses nobody listed."""

from __future__ import annotations

from typing import Any

import pytest

from config.outbound import OutboundRefused, check_outbound_url


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/v1",
        "http://localhost/v1",
        "http://10.0.0.5/v1",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]:8000/",
        "http://192.168.1.2/",
    ],
)
def test_loopback_private_and_metadata_addresses_are_refused_when_nothing_is_listed(
    settings: Any, url: str
) -> None:
    settings.OUTBOUND_HOSTS = []
    with pytest.raises(OutboundRefused, match="non-public|OUTBOUND_HOSTS"):
        check_outbound_url(url)


def test_a_listed_host_is_allowed_on_its_port_and_nothing_else_is(settings: Any) -> None:
    settings.OUTBOUND_HOSTS = ["127.0.0.1:8000", "localhost"]
    assert check_outbound_url("http://127.0.0.1:8000/v1").port == 8000
    assert check_outbound_url("https://LOCALHOST/v1").host == "localhost"
    with pytest.raises(OutboundRefused, match="not in OUTBOUND_HOSTS"):
        check_outbound_url("http://127.0.0.1:9000/v1")
    with pytest.raises(OutboundRefused, match="not in OUTBOUND_HOSTS"):
        check_outbound_url("https://api.example.com/v1")


def test_a_bracketed_ipv6_entry_matches(settings: Any) -> None:
    settings.OUTBOUND_HOSTS = ["[::1]:8000"]
    assert check_outbound_url("http://[::1]:8000/").host == "::1"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/", "http:// or https://"),
        ("http:///path", "names no host"),
        ("http://user:secret@example.com/", "credentials"),
        ("http://example.com:99999/", "not a URL"),
        ("file:///etc/passwd", "http:// or https://"),
    ],
)
def test_malformed_urls_are_refused_with_a_reason(settings: Any, url: str, message: str) -> None:
    settings.OUTBOUND_HOSTS = ["example.com"]
    with pytest.raises(OutboundRefused, match=message):
        check_outbound_url(url)
