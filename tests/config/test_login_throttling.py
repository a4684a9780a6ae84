"""Repeated failed logins lock that username out, wherever they are tried; not the address."""

from __future__ import annotations

from typing import Any

import pytest
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
