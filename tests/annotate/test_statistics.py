"""Stored statistics: a request reads what a worker computed, says how fresh it is, and on a
miss or a change queues one computation instead of computing (no worker here: the tests run
the task's body themselves, tests/annotate/statistics_support.py)."""

from __future__ import annotations

import os
import socket
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.utils.http import http_date

from annotate import statistics
from annotate.models import Project, StatisticsSnapshot
from annotate.statistics import compute_snapshot, refresh_snapshots
from tests.annotate.statistics_support import compute_requested, fetched
from tests.annotate.test_leaderboard_pages import import_votes, page_client
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_debounce(settings: Any) -> None:
    """Every change is queued by the next request (beat's debounce is tested on its own)."""
    settings.STATISTICS_DEBOUNCE_SECONDS = 0


@pytest.fixture
def no_computing_here(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any computation in this process fails the request that started it."""

    def refuse(project: Project, options: dict[str, str]) -> dict[str, Any]:
        raise AssertionError("a request computed a statistic")

    for kind in list(statistics._KINDS):
        monkeypatch.setitem(statistics._KINDS, kind, refuse)


def board_url(project: Project, query: str = "") -> str:
    return f"/api/projects/{project.slug}/leaderboard{query}"


def test_a_miss_answers_being_computed_and_queues_it_once(
    tmp_path: Path, admin: Any, project: Project, no_computing_here: None
) -> None:
    # given votes and no stored leaderboard yet
    import_votes(project, tmp_path)
    api = client_for(admin)
    # when ten members ask
    answers = [api.get(board_url(project)) for _ in range(10)]
    # then each is told it is being computed, in the documented shape
    first = answers[0]
    assert {a.status_code for a in answers} == {202}
    assert first["Retry-After"] == "3"
    body = first.json()
    assert body["status"] == "computing" and "worker" in body["detail"]
    assert body["freshness"] == {
        "status": "computing",
        "computed_at": None,
        "votes_reflected": None,
        "votes_now": None,
        "updating": True,
    }
    # and one computation was queued, not ten
    (snapshot,) = StatisticsSnapshot.objects.filter(project=project, kind="leaderboard")
    assert snapshot.requested_at is not None and snapshot.computed_at is None


def test_the_page_shows_a_placeholder_that_refreshes_and_the_csv_says_come_back(
    tmp_path: Path, admin: Any, project: Project, no_computing_here: None
) -> None:
    import_votes(project, tmp_path)
    page = page_client(admin).get(f"/projects/{project.slug}/leaderboard")
    assert page.status_code == 200
    html = page.content.decode()
    assert "The leaderboard being computed" in html
    assert '<meta http-equiv="refresh" content="3">' in html
    assert 'data-statistic-status="computing"' in html
    download = page_client(admin).get(f"/projects/{project.slug}/leaderboard.csv")
    assert download.status_code == 503 and download["Retry-After"] == "3"
    assert b"being computed" in download.content


def test_once_computed_it_is_served_with_its_fields_and_freshness(
    tmp_path: Path, admin: Any, project: Project
) -> None:
    # given a leaderboard a worker computed
    import_votes(project, tmp_path)
    api = client_for(admin)
    api.get(board_url(project))
    assert compute_requested() == 1
    # when asked again
    response = api.get(board_url(project))
    # then the board is served as before, with how fresh it is
    assert response.status_code == 200
    body = response.json()
    # and the CSV says it too: when the board was computed and the votes it reflects
    download = page_client(admin).get(f"/projects/{project.slug}/leaderboard.csv")
    computed = datetime.fromisoformat(body["freshness"]["computed_at"])
    assert download["Last-Modified"] == http_date(computed.timestamp())
    assert download["X-Votes-Reflected"] == str(body["freshness"]["votes_reflected"])
    assert [m["model"] for m in body["models"]] == ["strong", "mid", "weak"]
    assert body["votes"] == 48 and body["bootstrap_rounds"] == 500
    assert body["status"] == "ready"
    freshness = body["freshness"]
    assert freshness["votes_reflected"] == freshness["votes_now"] == 48
    assert freshness["updating"] is False and freshness["computed_at"]
    page = page_client(admin).get(f"/projects/{project.slug}/leaderboard").content.decode()
    assert "from 48 votes" in page and 'http-equiv="refresh"' not in page


def test_new_votes_serve_the_old_board_marked_updating_until_recomputed(
    tmp_path: Path, admin: Any, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a stored board of 4 votes
    import_votes(project, tmp_path, [("strong", "weak", 3, 1)])
    api = client_for(admin)
    assert fetched(api, board_url(project)).json()["votes"] == 4
    # when 4 more votes arrive (computing here would fail)
    import_votes(project, tmp_path, [("mid", "weak", 2, 2)])
    saved = dict(statistics._KINDS)
    monkeypatch.setitem(statistics._KINDS, "leaderboard", lambda *_: pytest.fail("computed"))
    # then a member is served the stored board at once, as of beat's last look
    before = api.get(board_url(project)).json()
    assert before["votes"] == 4 and before["freshness"]["votes_now"] == 4
    # and once beat looked, it says it is behind and being updated
    assert refresh_snapshots() == 1
    stale = api.get(board_url(project)).json()
    assert stale["votes"] == 4 and len(stale["models"]) == 2
    assert stale["freshness"]["votes_reflected"] == 4
    assert stale["freshness"]["votes_now"] == 8 and stale["freshness"]["updating"] is True
    page = page_client(admin).get(f"/projects/{project.slug}/leaderboard").content.decode()
    assert "8 now: updating" in page and '<meta http-equiv="refresh"' in page
    # and once the worker ran, the new board is served
    monkeypatch.setattr(statistics, "_KINDS", saved)
    compute_requested()
    fresh = api.get(board_url(project)).json()
    assert fresh["votes"] == 8 and len(fresh["models"]) == 3
    assert fresh["freshness"]["updating"] is False and fresh["freshness"]["votes_now"] == 8


def test_each_query_is_its_own_variant_and_unknown_parameters_make_none(
    tmp_path: Path, admin: Any, project: Project
) -> None:
    import_votes(project, tmp_path)
    api = client_for(admin)
    for query in ["", "?length_control=0", "?length_control=1", "?length_control=true&x=1"]:
        api.get(board_url(project, query))
    variants = StatisticsSnapshot.objects.filter(project=project).values_list("variant", flat=True)
    assert sorted(variants) == ["length_control=0", "length_control=1"]
    compute_requested()
    controlled = api.get(board_url(project, "?length_control=1")).json()
    plain = api.get(board_url(project)).json()
    assert controlled["length_control"] is True and controlled["length_coefficient"]
    assert plain["length_control"] is False and plain["length_coefficient"] is None


def test_the_computation_records_who_computed_it(
    tmp_path: Path, admin: Any, project: Project
) -> None:
    import_votes(project, tmp_path)
    client_for(admin).get(board_url(project))
    (snapshot,) = StatisticsSnapshot.objects.all()
    assert compute_snapshot(snapshot.pk)
    snapshot.refresh_from_db()
    assert snapshot.computed_by == f"{socket.gethostname()}:{os.getpid()}"
    assert snapshot.requested_at is None and snapshot.votes_reflected == 48


def test_beat_queues_only_changed_snapshots_and_debounces_bursts(
    tmp_path: Path, admin: Any, project: Project, settings: Any
) -> None:
    # given a stored board and quality report, both fresh
    import_votes(project, tmp_path, [("strong", "weak", 3, 1)])
    api = client_for(admin)
    fetched(api, board_url(project))
    fetched(api, f"/api/projects/{project.slug}/quality")
    assert refresh_snapshots() == 0
    # when votes arrive just after they were computed, beat counts them but waits
    import_votes(project, tmp_path, [("mid", "weak", 2, 2)])
    assert refresh_snapshots(debounce_seconds=3600) == 0
    assert api.get(board_url(project)).json()["freshness"]["votes_now"] == 8
    # and once the debounce is over it queues both, once
    assert refresh_snapshots(debounce_seconds=0) == 2
    assert refresh_snapshots(debounce_seconds=0) == 0


def test_a_request_never_counts_votes(
    tmp_path: Path, admin: Any, project: Project, django_assert_max_num_queries: Any
) -> None:
    # given a stored board
    import_votes(project, tmp_path)
    api = client_for(admin)
    fetched(api, board_url(project))
    # when read: a handful of statements (session, membership, the snapshot), no count
    with django_assert_max_num_queries(8) as queries:
        assert api.get(board_url(project)).status_code == 200
    assert not any("COUNT(" in q["sql"].upper() for q in queries.captured_queries)


def test_the_quality_report_is_stored_too_and_a_pause_refreshes_it(
    tmp_path: Path, admin: Any, annotator: Any, project: Project
) -> None:
    import_votes(project, tmp_path)
    url = f"/api/projects/{project.slug}/quality"
    api = client_for(admin)
    assert api.get(url).status_code == 202
    page = page_client(admin).get(f"/projects/{project.slug}/quality").content.decode()
    assert "The quality report being computed" in page
    report = fetched(api, url).json()
    assert report["status"] == "ready" and report["freshness"]["votes_reflected"] == 48
    assert "alpha" in report and "annotators" in report
    # when an admin pauses an annotator, the stored report is recomputed
    assert (
        api.post(f"/api/projects/{project.slug}/annotators/{annotator.pk}/pause").status_code == 204
    )
    assert StatisticsSnapshot.objects.get(kind="quality").requested_at is not None


def test_a_page_served_from_the_store_needs_no_worker_to_be_up(
    tmp_path: Path, admin: Any, project: Project, no_computing_here: None
) -> None:
    # the page of a project without votes is a placeholder too; it never fails
    client: Client = page_client(admin)
    assert client.get(f"/projects/{project.slug}/quality").status_code == 200
    assert client.get(f"/projects/{project.slug}/leaderboard").status_code == 200
