"""The webhooks API: who may use it, what it refuses, and that a secret is shown only once."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User

from annotate.models import Project
from tests.conftest import client_for
from webhooks.models import Subscription

pytestmark = pytest.mark.django_db

URL = "https://hooks.example.com/prefloop"


@pytest.fixture(autouse=True)
def _allowed(settings: Any) -> None:
    settings.OUTBOUND_HOSTS = ["hooks.example.com"]


def _create(admin: User | None, project: Project, **body: Any) -> Any:
    data = {"url": URL, "events": ["pair.completed", "import.failed"], **body}
    return client_for(admin).post(f"/api/projects/{project.slug}/webhooks", data, format="json")


@pytest.mark.parametrize(
    ("persona", "expected"), [("admin", 201), ("annotator", 403), ("outsider", 404), (None, 401)]
)
def test_only_project_admins_add_webhooks(
    persona: str | None, expected: int, request: pytest.FixtureRequest, project: Project
) -> None:
    user = request.getfixturevalue(persona) if persona else None
    response = _create(user, project)
    assert response.status_code == expected
    assert Subscription.objects.count() == (1 if expected == 201 else 0)


def test_the_secret_is_generated_shown_once_and_never_again(admin: User, project: Project) -> None:
    # when
    created = _create(admin, project)
    # then
    secret = created.json()["secret"]
    assert secret.startswith("whsec_") and len(secret) > 30
    page = client_for(admin).get(f"/api/projects/{project.slug}/webhooks").json()
    listed = page["results"]
    assert listed == [{k: v for k, v in created.json().items() if k != "secret"}]
    assert (page["next"], page["cursor"]) == (None, None)
    changed = client_for(admin).patch(
        f"/api/projects/{project.slug}/webhooks/{listed[0]['id']}",
        {"secret": "a-new-secret-of-mine"},
        format="json",
    )
    assert changed.status_code == 200 and "secret" not in changed.json()
    assert Subscription.objects.get().secret == "a-new-secret-of-mine"


def test_a_given_secret_is_kept(admin: User, project: Project) -> None:
    response = _create(admin, project, secret="my-own-long-secret")
    assert response.json()["secret"] == "my-own-long-secret"


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"url": "http://127.0.0.1:8000/hook"}, "url", "OUTBOUND_HOSTS"),
        ({"url": "ftp://hooks.example.com/x"}, "url", "http"),
        ({"events": ["pair.done"]}, "events", "not a valid choice"),
        ({"events": []}, "events", "empty"),
        ({"secret": "short"}, "secret", "16"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(
    admin: User, project: Project, body: dict[str, Any], field: str, words: str
) -> None:
    response = _create(admin, project, **body)
    assert response.status_code == 400
    assert words in str(response.json()[field])


def test_a_loopback_url_is_refused_unless_listed(
    admin: User, project: Project, settings: Any
) -> None:
    settings.OUTBOUND_HOSTS = []
    assert _create(admin, project, url="http://127.0.0.1:9/hook").status_code == 400
    settings.OUTBOUND_HOSTS = ["127.0.0.1:9"]
    assert _create(admin, project, url="http://127.0.0.1:9/hook").status_code == 201


def test_patch_pauses_resumes_and_changes_events(admin: User, project: Project) -> None:
    hook = _create(admin, project).json()
    path = f"/api/projects/{project.slug}/webhooks/{hook['id']}"
    paused = client_for(admin).patch(path, {"is_active": False}, format="json").json()
    assert paused["is_active"] is False and paused["paused_reason"] == "Paused by a project admin."
    resumed = (
        client_for(admin)
        .patch(path, {"is_active": True, "events": ["model.served"]}, format="json")
        .json()
    )
    assert resumed["is_active"] is True and resumed["paused_reason"] == ""
    assert resumed["events"] == ["model.served"]
    bad = client_for(admin).patch(path, {"url": "http://10.0.0.1/x"}, format="json")
    assert bad.status_code == 400 and "url" in bad.json()


@pytest.mark.parametrize(("persona", "expected"), [("annotator", 403), ("outsider", 404)])
def test_others_may_not_change_list_or_read_deliveries(
    persona: str, expected: int, request: pytest.FixtureRequest, admin: User, project: Project
) -> None:
    hook = _create(admin, project).json()
    user = request.getfixturevalue(persona)
    path = f"/api/projects/{project.slug}/webhooks"
    assert client_for(user).get(path).status_code == expected
    assert client_for(user).get(f"{path}/{hook['id']}").status_code == expected
    assert client_for(user).patch(f"{path}/{hook['id']}", {}, format="json").status_code == expected
    assert client_for(user).delete(f"{path}/{hook['id']}").status_code == expected
    assert client_for(user).get(f"{path}/{hook['id']}/deliveries").status_code == expected


def test_an_admin_reads_one_webhook_as_listed_without_its_secret(
    admin: User, project: Project
) -> None:
    # given a subscription, paused by hand
    hook = _create(admin, project).json()
    path = f"/api/projects/{project.slug}/webhooks/{hook['id']}"
    client_for(admin).patch(path, {"is_active": False}, format="json")
    # when
    response = client_for(admin).get(path)
    # then it reads as the list shows it, with the pause and no secret
    assert response.status_code == 200
    [listed] = client_for(admin).get(f"/api/projects/{project.slug}/webhooks").json()["results"]
    assert response.json() == listed
    assert response.json()["is_active"] is False and "secret" not in response.json()
    assert response.json()["paused_reason"] == "Paused by a project admin."
    assert client_for(None).get(path).status_code == 401
    assert client_for(admin).get(f"{path}0").status_code == 404


def test_another_projects_webhook_is_a_404_and_delete_removes_it(
    admin: User, project: Project
) -> None:
    from tests.factories import make_project

    other = make_project("other", admin=admin)
    hook = _create(admin, project).json()
    assert (
        client_for(admin).get(f"/api/projects/{other.slug}/webhooks/{hook['id']}").status_code
        == 404
    )
    assert (
        client_for(admin).delete(f"/api/projects/{other.slug}/webhooks/{hook['id']}").status_code
        == 404
    )
    assert (
        client_for(admin).delete(f"/api/projects/{project.slug}/webhooks/{hook['id']}").status_code
        == 204
    )
    assert not Subscription.objects.exists()


def test_deliveries_list_their_attempts(admin: User, project: Project) -> None:
    from webhooks.models import Attempt, Delivery

    hook = _create(admin, project).json()
    delivery = Delivery.objects.create(
        subscription_id=hook["id"],
        event="pair.completed",
        body="{}",
        next_attempt_at="2030-01-01T00:00:00Z",
        attempts=1,
        last_error="HTTP 500",
    )
    Attempt.objects.create(
        delivery=delivery, number=1, status_code=500, latency_ms=12, error="HTTP 500"
    )
    path = f"/api/projects/{project.slug}/webhooks/{hook['id']}/deliveries"
    [row] = client_for(admin).get(path).json()["results"]
    assert row["event"] == "pair.completed" and row["status"] == "pending"
    assert row["attempt_log"] == [
        {
            "number": 1,
            "status_code": 500,
            "latency_ms": 12,
            "error": "HTTP 500",
            "created_at": row["attempt_log"][0]["created_at"],
        }
    ]
    assert client_for(admin).get(path, {"limit": 0}).status_code == 400
    assert set(client_for(admin).get(path, {"after": "x"}).json()) == {"after"}
    assert client_for(admin).get(path, {"status": "delivered"}).json()["results"] == []


def test_deliveries_page_by_limit_and_the_cursor_keeps_the_status(
    admin: User, project: Project
) -> None:
    from webhooks.models import Delivery

    # given five deliveries, two of them delivered
    hook = _create(admin, project).json()
    made = [
        Delivery.objects.create(
            subscription_id=hook["id"],
            event="pair.completed",
            body="{}",
            next_attempt_at="2030-01-01T00:00:00Z",
            status="delivered" if i in (1, 3) else "pending",
        )
        for i in range(5)
    ]
    client = client_for(admin)
    url: str | None = f"/api/projects/{project.slug}/webhooks/{hook['id']}/deliveries"
    # when the delivered ones are walked a row a page
    pages = []
    query: dict[str, Any] = {"status": "delivered", "limit": 1}
    while url is not None:
        body = client.get(url, query).json()
        pages.append([row["id"] for row in body["results"]])
        url, query = body["next"], {}
    # then they come newest first, one a page, and nothing else
    assert pages == [[made[3].pk], [made[1].pk]]
