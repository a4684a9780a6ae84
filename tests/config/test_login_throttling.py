"""Repeated failed logins lock that username out, wherever they are tried; not the address.

The address counted is the connection's; behind a proxy (BEHIND_PROXY), the one the proxy added
to X-Forwarded-For.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
from axes.models import AccessAttempt
from django.test import Client

pytestmark = pytest.mark.django_db

LIMIT = 10


def _login_page(client: Client, username: str, password: str) -> Any:
    return client.post("/login/", {"username": username, "password": password})


def _admin_login(client: Client, username: str, password: str) -> Any:
    return client.post("/admin/login/", {"username": username, "password": password})


def _token(client: Client, username: str, password: str) -> Any:
    return client.post("/api/auth/token", {"username": username, "password": password})


@pytest.mark.parametrize(
    ("attempt", "refused"), [(_login_page, 429), (_admin_login, 429), (_token, 429)]
)
def test_after_the_limit_even_the_right_password_is_refused(
    admin: Any, attempt: Any, refused: int
) -> None:
    # given
    admin.is_staff = True
    admin.save()
    client = Client()
    for _ in range(LIMIT):
        attempt(client, "alice", "wrong")
    # when
    response = attempt(client, "alice", "alice-pass")
    # then: no session, no token
    assert response.status_code == refused
    assert "_auth_user_id" not in client.session
    assert b"token" not in response.content


def test_the_right_password_works_below_the_limit(admin: Any) -> None:
    client = Client()
    for _ in range(LIMIT - 1):
        _login_page(client, "alice", "wrong")
    assert _login_page(client, "alice", "alice-pass").status_code == 302
    assert _token(Client(), "alice", "alice-pass").json()["token"]


def test_one_users_failures_do_not_lock_another_user_out_of_the_same_address(
    admin: Any, annotator: Any
) -> None:
    # given ten wrong passwords for alice from one address
    client = Client(REMOTE_ADDR="10.0.0.7")
    for _ in range(LIMIT):
        _login_page(client, "alice", "wrong")
    # then bob's right password still works from there, on the page and for a token
    assert _login_page(client, "bob", "bob-pass").status_code == 302
    assert _token(Client(REMOTE_ADDR="10.0.0.7"), "bob", "bob-pass").status_code == 200
    # and alice stays locked, from there and from elsewhere
    assert _login_page(Client(REMOTE_ADDR="10.0.0.7"), "alice", "alice-pass").status_code == 429
    assert _token(Client(REMOTE_ADDR="10.0.0.9"), "alice", "alice-pass").status_code == 429


def test_many_usernames_from_one_address_lock_the_address_when_asked(
    settings: Any, admin: Any, annotator: Any
) -> None:
    # given a deployment that also locks addresses (LOGIN_LOCK_ADDRESS=true)
    settings.AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "username", "ip_address"]
    client = Client(REMOTE_ADDR="10.0.0.7")
    for i in range(LIMIT):
        _login_page(client, f"guess{i}", "wrong")
    assert _login_page(client, "bob", "bob-pass").status_code == 429
    # another address is not affected
    assert _login_page(Client(REMOTE_ADDR="10.0.0.8"), "bob", "bob-pass").status_code == 302


def _log_in(client: Client, username: str, password: str, forwarded: str = "") -> int:
    """The login page's answer; `forwarded` is the request's X-Forwarded-For, if any."""
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    response = client.post("/login/", {"username": username, "password": password}, headers=headers)
    return int(response.status_code)


def _fail_as_many(client: Client, forwarded: str = "") -> None:
    """Wrong passwords for LIMIT different usernames: locks the address, no username."""
    for i in range(LIMIT):
        _log_in(client, f"guess{i}", "wrong", forwarded)


@pytest.fixture
def locking_addresses(settings: Any) -> Any:
    """A deployment that also locks addresses (LOGIN_LOCK_ADDRESS=true)."""
    settings.AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "username", "ip_address"]
    return settings


def test_without_a_proxy_a_forwarded_for_header_is_ignored(
    locking_addresses: Any, annotator: Any
) -> None:
    # given no proxy in front (BEHIND_PROXY=false, the default)
    assert locking_addresses.BEHIND_PROXY is False
    # when one address guesses, claiming a fresh X-Forwarded-For each time
    attacker = Client(REMOTE_ADDR="10.0.0.66")
    for i in range(LIMIT):
        _log_in(attacker, f"guess{i}", "wrong", forwarded=f"192.0.2.{i}")
    # then the forged header does not dodge the lock on its own address
    assert _log_in(attacker, "bob", "bob-pass", forwarded="192.0.2.200") == 429
    # and another address it named, or claimed to be, is not locked
    _fail_as_many(Client(REMOTE_ADDR="10.0.0.99"), forwarded="10.0.0.7")
    assert _log_in(Client(REMOTE_ADDR="10.0.0.7"), "bob", "bob-pass") == 302
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {
        "10.0.0.66",
        "10.0.0.99",
    }


def test_behind_a_proxy_the_address_it_forwarded_is_locked(
    locking_addresses: Any, annotator: Any
) -> None:
    # given every request comes through one proxy, which appends the client's address
    locking_addresses.BEHIND_PROXY = True
    proxy = Client(REMOTE_ADDR="10.0.0.1")
    # when one client guesses, putting an address of its choice in front of the proxy's entry
    for i in range(LIMIT):
        _log_in(proxy, f"guess{i}", "wrong", forwarded=f"192.0.2.{i}, 203.0.113.5")
    # then that client is locked out, whatever it puts in front
    assert _log_in(proxy, "bob", "bob-pass", forwarded="203.0.113.5") == 429
    assert _log_in(proxy, "bob", "bob-pass", forwarded="192.0.2.200, 203.0.113.5") == 429
    # and another client of the same proxy is not
    assert _log_in(proxy, "bob", "bob-pass", forwarded="203.0.113.6") == 302
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"203.0.113.5"}


def test_the_proxy_setting_comes_from_the_environment() -> None:
    code = "import config.settings as s; print(s.BEHIND_PROXY, s.AXES_CLIENT_IP_CALLABLE)"
    for value, expected in (("true", "True"), ("false", "False")):
        result = subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "DEBUG": "true", "BEHIND_PROXY": value},
            capture_output=True,
            text=True,
            check=True,
        )
        assert result.stdout.split() == [expected, "config.client_address.client_address"]
