"""A project's counts on the list, the project page and the API: a large project's read as a
worker stored them, "counting…" until the first count is in, counted again after imports,
overlap and member changes (no worker here: tests/annotate/statistics_support.py runs the
task's body); a small project's taken as they are asked for."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from annotate.models import Project, Role
from annotate.projects.lifecycle import create_project, update_project
from annotate.projects.members import set_member
from tests.annotate.statistics_support import compute_requested, fetched
from tests.conftest import client_for
from tests.factories import make_pairs

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_debounce(settings: Any) -> None:
    settings.STATISTICS_DEBOUNCE_SECONDS = 0


@pytest.fixture
def large(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every project with a pair counts as large: its counts are the stored ones."""
    monkeypatch.setattr("annotate.projects.counts.COUNT_NOW_BELOW", 1)


def _page(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_small_projects_counts_are_taken_as_they_are_asked_for(
    tmp_path: Path, admin: Any, project: Project
) -> None:
    # given three judged pairs, never counted by a worker
    make_pairs(project, tmp_path, 3)
    # when the API, the page and the list are read
    body = client_for(admin).get(f"/api/projects/{project.slug}/").json()
    page = _page(admin).get(f"/projects/{project.slug}/").content.decode()
    listed = _page(admin).get("/").content.decode()
    # then each has the exact counts already
    assert body["counts_status"] == "ready" and body["counts_as_of"]
    assert (body["counts"]["pairs"], body["counts"]["annotators"]) == (3, 2)
    assert f'data-count="pending">{body["counts"]["pending"]}<' in page
    assert "Counted just now" in page
    assert '<td class="num">3</td>' in listed and "counting…" not in listed


@pytest.mark.usefixtures("large")
def test_it_says_counting_until_a_worker_has_counted(
    tmp_path: Path, admin: Any, project: Project
) -> None:
    # given pairs and no count taken yet
    make_pairs(project, tmp_path, 3)
    # when the page and the API are read
    page = _page(admin).get(f"/projects/{project.slug}/").content.decode()
    body = client_for(admin).get(f"/api/projects/{project.slug}/").json()
    listed = _page(admin).get("/").content.decode()
    # then they say so rather than count
    assert 'data-count="pending">–<' in page and "counting…" in page
    assert body["counts_status"] == "computing" and body["counts_as_of"] is None
    assert set(body["counts"].values()) == {None}
    assert "counting…" in listed


@pytest.mark.usefixtures("large")
def test_it_serves_the_exact_counts_once_counted(
    tmp_path: Path, admin: Any, project: Project
) -> None:
    # given three judged pairs, counted by a worker
    make_pairs(project, tmp_path, 3)
    fetched(client_for(admin), f"/api/projects/{project.slug}/")
    # when the API, the page and the list are read
    body = client_for(admin).get(f"/api/projects/{project.slug}/").json()
    page = _page(admin).get(f"/projects/{project.slug}/").content.decode()
    listed = _page(admin).get("/").content.decode()
    # then each shows the same exact counts, with when they were taken
    counts = body["counts"]
    assert (counts["pairs"], counts["annotators"]) == (3, 2)
    assert counts["pending"] + counts["complete"] == 3 and counts["judgements"] >= 3
    assert body["counts_status"] == "ready" and body["counts_as_of"]
    assert f'data-count="judgements">{counts["judgements"]}<' in page and "Counted" in page
    assert f'<td class="num">{counts["pairs"]}</td>' in listed


@pytest.mark.usefixtures("large")
def test_an_overlap_change_and_a_new_member_are_counted_again(
    admin: Any, outsider: Any, tmp_path: Path, project: Project
) -> None:
    # given counted pairs, each with one vote
    make_pairs(project, tmp_path, 2)
    api = client_for(admin)
    before = fetched(api, f"/api/projects/{project.slug}/").json()["counts"]
    # when overlap drops to one vote per pair and someone joins as an annotator
    update_project(project, judgements_per_pair=1)
    set_member(project, username=outsider.username, role=Role.ANNOTATOR)
    compute_requested()
    after = api.get(f"/api/projects/{project.slug}/").json()["counts"]
    # then the counts show both without waiting for a vote
    assert after["complete"] == 2 and after["pending"] == 0
    assert after["annotators"] == before["annotators"] + 1


@pytest.mark.parametrize("size", ["small", "large"])
def test_the_list_reads_the_same_statements_for_one_project_or_five(
    admin: Any, tmp_path: Path, size: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given projects whose counts a worker took
    client = _page(admin)

    def statements() -> int:
        fetched(client, "/")
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/").status_code == 200
        return len(queries)

    if size == "large":
        monkeypatch.setattr("annotate.projects.counts.COUNT_NOW_BELOW", 1)
    make_pairs(create_project(slug="p0", admin=admin), tmp_path, 2)
    one = statements()
    for i in range(1, 5):
        make_pairs(create_project(slug=f"p{i}", admin=admin), tmp_path, 2)
    # when the list is read, then it costs the same statements
    assert statements() == one


@pytest.mark.usefixtures("large")
def test_the_progress_endpoint_serves_stored_pair_counts_and_live_member_counts(
    tmp_path: Path, admin: Any, annotator: Any, project: Project
) -> None:
    # given three unlabelled pairs and bob's judgement of one, never counted by a worker
    make_pairs(project, tmp_path, 3, labels="ignore")
    bob = client_for(annotator)
    lease = bob.post(f"/api/projects/{project.slug}/next", {}, format="json").json()
    body = {"choice": "left", "duration_ms": 900, "client_id": "c-1"}
    assert bob.post(f"/api/assignments/{lease['assignment']}/judgement", body).status_code == 201
    url = f"/api/projects/{project.slug}/stats"
    # when the progress endpoint is read before any count and after the worker's
    with CaptureQueriesContext(connection) as queries:
        first = client_for(admin).get(url).json()
    counted = fetched(client_for(admin), url).json()
    own = bob.get(url).json()
    # then it says "computing" rather than count the pairs, then serves the stored counts,
    # while each member's own count is live
    assert first["counts_status"] == "computing" and first["pending"] is None
    assert first["annotators"] == [{"annotator": annotator.username, "judgements": 1}]
    assert not [q for q in queries if "COUNT(" in q["sql"].upper() and "annotate_pair" in q["sql"]]
    assert counted["counts_status"] == "ready" and counted["counts_as_of"]
    assert (counted["pending"] + counted["complete"], counted["judgements"]) == (3, 1)
    assert own["annotators"] == [{"annotator": annotator.username, "judgements": 1}]


@pytest.mark.usefixtures("large")
def test_a_large_projects_pairs_page_suggests_the_models_the_worker_stored(
    tmp_path: Path, admin: Any, project: Project
) -> None:
    # given a large project's pairs by two source models, not yet counted by a worker
    make_pairs(project, tmp_path, 3)
    page = _page(admin)
    url = f"/projects/{project.slug}/pairs"
    # when its pairs page is read before and after the worker's count
    with CaptureQueriesContext(connection) as before:
        first = page.get(url).content.decode()
    compute_requested()
    cache.clear()
    counted = page.get(url).content.decode()
    # then no request read the response sources, and the suggestions came with the counts
    assert not [q["sql"] for q in before.captured_queries if "annotate_responsesource" in q["sql"]]
    assert '<option value="model-x">' not in first
    assert '<option value="model-x">' in counted and '<option value="model-y">' in counted
