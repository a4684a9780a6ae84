"""A cursor, a judgement's `after` or a page size out of range is a 400 (or clamped), never
a 500: on every keyset list, the data browser page, the judging API and the project list."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from annotate.models import ImportJob, Pair, Project
from generation.judges_models import Judge, JudgeRun
from generation.models import GenerationJob, ModelEndpoint
from tests.conftest import client_for
from tests.factories import make_pairs, make_project
from webhooks.models import Delivery, Subscription

pytestmark = pytest.mark.django_db

BIGINT = 2**63
# Each passes the cursor's shape but names no row: no number, an infinite one, an id past a
# bigint, infinities and NaN spelled out, two ids, and an id too long for Python to read.
BAD_CURSORS = [
    ".~1",
    "e~1",
    "--~1",
    "1e999~1",
    "-1e999~1",
    f"1~{BIGINT}",
    "1~99999999999999999999",
    "inf~1",
    "-inf~1",
    "nan~1",
    "1~1~1",
    "1~" + "9" * 5000,
]
LISTS = {
    "pairs": "/api/projects/{slug}/pairs",
    "pairs-by-priority": "/api/projects/{slug}/pairs?sort=priority",
    "imports": "/api/projects/{slug}/imports",
    "generations": "/api/projects/{slug}/generations",
    "judge-runs": "/api/projects/{slug}/judges/{judge}/runs",
    "webhooks": "/api/projects/{slug}/webhooks",
    "deliveries": "/api/projects/{slug}/webhooks/{webhook}/deliveries",
}


@pytest.fixture
def urls(admin: User, project: Project, tmp_path: Path) -> dict[str, str]:
    """Each keyset list's URL, with a few rows in each."""
    make_pairs(project, tmp_path, 3, labelled=False)
    ImportJob.objects.create(project=project, created_by=admin, original_name="f.jsonl")
    GenerationJob.objects.create(project=project, created_by=admin)
    endpoint = ModelEndpoint.objects.create(
        project=project, name="e", base_url="http://127.0.0.1:9/v1", model="m"
    )
    judge = Judge.objects.create(
        project=project, endpoint=endpoint, rater=User.objects.create_user("rater")
    )
    JudgeRun.objects.create(judge=judge, status="succeeded")
    webhook = Subscription.objects.create(
        project=project, url="https://hooks.example.com/a", events=["pair.completed"]
    )
    Delivery.objects.create(
        subscription=webhook, event="pair.completed", body="{}", next_attempt_at=timezone.now()
    )
    ids = {"slug": project.slug, "judge": judge.pk, "webhook": webhook.pk}
    return {name: url.format(**ids) for name, url in LISTS.items()}


def _with(url: str, **query: str) -> tuple[str, dict[str, str]]:
    path, _, fixed = url.partition("?")
    params = dict(part.split("=") for part in fixed.split("&") if part)
    return path, {**params, **query}


@pytest.mark.parametrize("after", BAD_CURSORS)
@pytest.mark.parametrize("name", LISTS)
def test_a_bad_cursor_is_a_400_naming_after(
    admin: User, urls: dict[str, str], name: str, after: str
) -> None:
    path, query = _with(urls[name], after=after)
    response = client_for(admin).get(path, query)
    assert response.status_code == 400, response.content[:300]
    assert set(response.json()) == {"after"}


@pytest.mark.parametrize("after", BAD_CURSORS)
def test_the_pairs_page_answers_a_bad_cursor_with_its_form_error(
    admin: User, project: Project, urls: dict[str, str], after: str
) -> None:
    client = Client()
    client.force_login(admin)
    response = client.get(f"/projects/{project.slug}/pairs", {"after": after})
    assert response.status_code == 400
    assert set(response.context["form"].errors) == {"after"}


@pytest.mark.parametrize("name", LISTS)
def test_a_cursor_at_the_edge_of_the_range_is_a_page(
    admin: User, urls: dict[str, str], name: str
) -> None:
    path, query = _with(urls[name], after=f"1e308~{BIGINT - 1}")
    response = client_for(admin).get(path, query)
    assert response.status_code == 200, response.content[:300]


def test_a_good_cursor_still_pages_the_api_and_the_page(admin: User, project: Project) -> None:
    ImportJob.objects.bulk_create(
        ImportJob(project=project, created_by=admin, original_name=f"f{i}") for i in range(3)
    )
    newest, middle, oldest = ImportJob.objects.filter(project=project).order_by("-pk")
    answer = client_for(admin).get(
        f"/api/projects/{project.slug}/imports", {"after": f"{middle.pk}~{middle.pk}"}
    )
    assert answer.status_code == 200
    assert [row["id"] for row in answer.json()["results"]] == [oldest.pk]


def test_a_good_cursor_still_pages_the_pairs(admin: User, project: Project, tmp_path: Path) -> None:
    make_pairs(project, tmp_path, 3, labelled=False)
    newest, middle, oldest = Pair.objects.filter(project=project).order_by("-pk")
    after = {"after": f"{middle.pk}~{middle.pk}"}
    answer = client_for(admin).get(f"/api/projects/{project.slug}/pairs", after)
    assert answer.status_code == 200
    assert [row["id"] for row in answer.json()["results"]] == [oldest.pk]
    client = Client()
    client.force_login(admin)
    page = client.get(f"/projects/{project.slug}/pairs", after)
    assert page.status_code == 200
    assert [pair.pk for pair in page.context["page"].rows] == [oldest.pk]


@pytest.fixture
def leased(annotator: Any, project: Project, tmp_path: Path) -> tuple[Any, int]:
    """The annotator's client and a lease on one of the project's 3 pending pairs."""
    make_pairs(project, tmp_path, 3, labelled=False)
    client = client_for(annotator)
    lease = client.post(f"/api/projects/{project.slug}/next", {}, format="json").json()
    return client, lease["assignment"]


# The page's plain vote is read by a fast path; a rationale sends it through the serializers.
BODIES = {"plain": {}, "full": {"rationale": "clearer"}}


@pytest.mark.parametrize("after", [BIGINT, 10**20, -1, -BIGINT - 1, 1.5, "x"])
@pytest.mark.parametrize("body", BODIES)
def test_a_judgements_after_out_of_range_is_a_400_naming_after(
    leased: tuple[Any, int], body: str, after: Any
) -> None:
    client, assignment = leased
    vote = {"choice": "left", "client_id": "c-1", "after": after, **BODIES[body]}
    response = client.post(f"/api/assignments/{assignment}/judgement?next=1", vote, format="json")
    assert response.status_code == 400, response.content[:300]
    assert set(response.json()) == {"after"}


@pytest.mark.parametrize("after", [0, BIGINT - 1])
@pytest.mark.parametrize("body", BODIES)
def test_a_judgements_after_at_the_edge_of_the_range_is_taken(
    leased: tuple[Any, int], body: str, after: int
) -> None:
    client, assignment = leased
    vote = {"choice": "left", "client_id": "c-1", "after": after, **BODIES[body]}
    response = client.post(f"/api/assignments/{assignment}/judgement?next=1", vote, format="json")
    assert response.status_code == 201, response.content[:300]
    assert response.json()["next"] is not None


@pytest.fixture
def two_projects(admin: User, project: Project) -> User:
    """The admin of two projects."""
    make_project("second", admin=admin)
    return admin


@pytest.mark.parametrize(
    ("query", "count"),
    [
        ({"limit": "99999999999999999999999"}, 2),
        ({"limit": str(BIGINT)}, 2),
        ({"limit": "1e9"}, 2),
        ({"limit": "-1"}, 2),
        ({"limit": "1"}, 1),
        ({"offset": "99999999999999999999999"}, 0),
        ({"offset": str(BIGINT), "limit": str(BIGINT)}, 0),
        ({"offset": "x", "limit": "y"}, 2),
        ({"offset": "1"}, 1),
    ],
)
def test_the_project_list_clamps_a_page_size_or_offset_out_of_range(
    two_projects: User, query: dict[str, str], count: int
) -> None:
    response = client_for(two_projects).get("/api/projects/", query)
    assert response.status_code == 200, response.content[:300]
    assert len(response.json()["results"]) == count


def test_the_project_list_caps_its_page_size(two_projects: User, monkeypatch: Any) -> None:
    from annotate.api.projects import ProjectPagination

    assert ProjectPagination.max_limit is not None
    monkeypatch.setattr(ProjectPagination, "max_limit", 1)
    response = client_for(two_projects).get("/api/projects/", {"limit": str(10**30)})
    assert response.status_code == 200
    assert len(response.json()["results"]) == 1
