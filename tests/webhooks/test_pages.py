"""The webhooks page: add (secret shown once), refuse bad input, pause, resume, delete."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from annotate.models import Project
from webhooks.models import Attempt, Delivery, Subscription

pytestmark = pytest.mark.django_db


def _signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture(autouse=True)
def _allowed(settings: Any) -> None:
    settings.OUTBOUND_HOSTS = ["hooks.example.com"]


def test_an_admin_adds_a_webhook_and_sees_its_secret_once(admin: User, project: Project) -> None:
    client = _signed_in(admin)
    response = client.post(
        f"/projects/{project.slug}/webhooks/add",
        {"url": "https://hooks.example.com/a", "events": ["pair.completed", "run.finished"]},
        follow=True,
    )
    subscription = Subscription.objects.get()
    assert subscription.events == ["pair.completed", "run.finished"]
    assert subscription.secret in response.content.decode()
    again = client.get(f"/projects/{project.slug}/webhooks").content.decode()
    assert subscription.secret not in again and "https://hooks.example.com/a" in again


def test_a_refused_url_is_a_400_that_says_why(admin: User, project: Project) -> None:
    response = _signed_in(admin).post(
        f"/projects/{project.slug}/webhooks/add",
        {"url": "http://169.254.169.254/latest", "events": ["pair.completed"]},
    )
    assert response.status_code == 400
    assert "OUTBOUND_HOSTS" in response.content.decode()
    assert not Subscription.objects.exists()


@pytest.mark.parametrize(("persona", "expected"), [("annotator", 403), ("outsider", 404)])
def test_only_admins_see_the_page(
    persona: str, expected: int, request: pytest.FixtureRequest, project: Project
) -> None:
    client = _signed_in(request.getfixturevalue(persona))
    assert client.get(f"/projects/{project.slug}/webhooks").status_code == expected


def test_the_detail_page_shows_attempts_and_pauses_resumes_and_deletes(
    admin: User, project: Project
) -> None:
    subscription = Subscription.objects.create(
        project=project, url="https://hooks.example.com/a", events=["pair.completed"], secret="x"
    )
    delivery = Delivery.objects.create(
        subscription=subscription,
        event="pair.completed",
        body="{}",
        next_attempt_at="2030-01-01T00:00:00Z",
        attempts=1,
    )
    Attempt.objects.create(delivery=delivery, number=1, error="ConnectError: refused")
    client = _signed_in(admin)
    base = f"/projects/{project.slug}/webhooks/{subscription.pk}"
    assert "ConnectError: refused" in client.get(base).content.decode()
    client.post(f"{base}/pause")
    subscription.refresh_from_db()
    assert not subscription.is_active
    assert "Paused by a project admin." in client.get(base).content.decode()
    client.post(f"{base}/resume")
    subscription.refresh_from_db()
    assert subscription.is_active
    client.post(f"{base}/delete")
    assert not Subscription.objects.exists()
