"""The API's token check keeps a token's user a few seconds, and forgets it when it changes."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def _client(user: User) -> tuple[APIClient, Token]:
    token = Token.objects.create(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client, token


def test_a_known_token_is_not_read_again(annotator: User) -> None:
    client, _ = _client(annotator)
    assert client.get("/api/projects").status_code == 200
    with CaptureQueriesContext(connection) as captured:
        assert client.get("/api/projects").status_code == 200
    assert not any("authtoken_token" in q["sql"] for q in captured.captured_queries)


def test_a_deleted_token_is_refused_at_once(annotator: User) -> None:
    client, token = _client(annotator)
    assert client.get("/api/projects").status_code == 200
    token.delete()
    assert client.get("/api/projects").status_code == 401


def test_a_deactivated_user_is_refused_at_once(annotator: User) -> None:
    client, _ = _client(annotator)
    assert client.get("/api/projects").status_code == 200
    annotator.is_active = False
    annotator.save()
    assert client.get("/api/projects").status_code == 401


def test_a_wrong_token_is_refused(annotator: User) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    assert client.get("/api/projects").status_code == 401
