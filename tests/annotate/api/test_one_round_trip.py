"""`POST /api/assignments/ID/judgement?next=1`: judge and get the next pair in one request."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotate.importing.pipeline import import_file
from annotate.models import Assignment, Judgement, Membership, Pair, PairRank, Project
from annotate.projects.counts import stored_counts
from tests.annotate.statistics_support import compute_requested
from tests.conftest import client_for
from tests.factories import pair_rows, write_jsonl

pytestmark = pytest.mark.django_db


@pytest.fixture
def pending(project: Project, tmp_path: Path) -> Project:
    """The project with 4 pending pairs whose priorities are 0..3 (pair q-3 first)."""
    import_file(project, write_jsonl(tmp_path / "p.jsonl", pair_rows(4, labelled=False)))
    for pair in Pair.objects.all():
        priority = float(pair.external_id.split("-")[1])
        PairRank.objects.filter(pair=pair).update(priority=priority)
    return project


def _next(client: Any, project: Project, **body: Any) -> Any:
    return client.post(f"/api/projects/{project.slug}/next", body, format="json")


def _judge(client: Any, assignment: int, *, query: str = "?next=1", **extra: Any) -> Any:
    body = {"choice": "left", "client_id": str(uuid.uuid4()), **extra}
    return client.post(f"/api/assignments/{assignment}/judgement{query}", body, format="json")


def _external_id(body: dict[str, Any]) -> str:
    return Pair.objects.get(pk=body["pair"]).external_id


def test_it_answers_a_judgement_with_the_next_pair_when_asked(
    annotator: Any, pending: Project
) -> None:
    # given: the page shows q-3 and has prefetched q-2
    client = client_for(annotator)
    shown = _next(client, pending).json()
    prefetched = _next(client, pending, after=shown["assignment"]).json()
    # when q-3 is judged, asking for the pair after the prefetched one
    response = _judge(client, shown["assignment"], after=prefetched["assignment"])
    # then it is stored, and the answer carries a new lease on q-1, blind, with progress
    body = response.json()
    assert response.status_code == 201
    assert Judgement.objects.get(pk=body["judgement"]).pair.external_id == "q-3"
    following = body["next"]
    assert _external_id(following) == "q-1"
    assert following["assignment"] not in (shown["assignment"], prefetched["assignment"])
    assert {following["left"]["text"], following["right"]["text"]} == {
        "answer one to q 1",
        "answer two to q 1, longer",
    }
    assert "model-x" not in response.content.decode()
    assert following["progress"] == body["progress"]
    assert body["progress"]["mine"] == 1


def test_a_body_field_asks_for_the_next_pair_too(annotator: Any, pending: Project) -> None:
    client = client_for(annotator)
    shown = _next(client, pending).json()
    body = _judge(client, shown["assignment"], query="", next=True).json()
    assert _external_id(body["next"]) == "q-2"


def test_without_next_the_answer_is_as_before(annotator: Any, pending: Project) -> None:
    client = client_for(annotator)
    shown = _next(client, pending).json()
    body = _judge(client, shown["assignment"], query="").json()
    assert set(body) == {"judgement", "choice", "progress"}
    assert Assignment.objects.filter(annotator=annotator).count() == 1


def test_a_retried_judgement_gets_the_same_next_pair_and_no_extra_lease(
    annotator: Any, pending: Project
) -> None:
    # given a judgement whose answer was lost on the way back
    client = client_for(annotator)
    shown = _next(client, pending).json()
    body = {"choice": "right", "client_id": "retry-me"}
    path = f"/api/assignments/{shown['assignment']}/judgement?next=1"
    first = client.post(path, body, format="json")
    # when the page sends it again
    again = client.post(path, body, format="json")
    # then it is stored once and the same next lease is handed out again
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["judgement"] == first.json()["judgement"]
    assert again.json()["next"]["assignment"] == first.json()["next"]["assignment"]
    assert Judgement.objects.filter(client_id="retry-me").count() == 1
    assert Assignment.objects.filter(annotator=annotator).count() == 2


def test_it_answers_next_null_when_nothing_is_left(annotator: Any, pending: Project) -> None:
    client = client_for(annotator)
    assignment = _next(client, pending).json()["assignment"]
    for _ in range(3):
        assignment = _judge(client, assignment).json()["next"]["assignment"]
    body = _judge(client, assignment).json()
    assert body["next"] is None
    assert Judgement.objects.filter(annotator=annotator).count() == 4


def test_it_leases_nothing_for_someone_no_longer_a_member(annotator: Any, pending: Project) -> None:
    # given an annotator removed from the project while holding a lease
    client = client_for(annotator)
    shown = _next(client, pending).json()
    Membership.objects.filter(project=pending, user=annotator).delete()
    # when they judge it and ask for more
    response = _judge(client, shown["assignment"])
    # then the judgement of their lease is kept, but no new pair is leased
    assert response.status_code == 201
    assert response.json()["next"] is None
    assert Assignment.objects.filter(annotator=annotator).count() == 1


def test_it_refuses_a_bad_next_flag_with_400(annotator: Any, pending: Project) -> None:
    client = client_for(annotator)
    shown = _next(client, pending).json()
    response = _judge(client, shown["assignment"], query="?next=maybe")
    assert response.status_code == 400
    assert not Judgement.objects.exists()


def _token_client(user: Any) -> APIClient:
    """A client that signs in as the annotation page's API users do, with a token."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def _statements(run: Any) -> list[str]:
    """The SQL statements `run()` sends, but for the transaction's BEGIN and COMMIT (SQLite's
    BEGIN IMMEDIATE goes through the cursor, PostgreSQL's does not)."""
    sent: list[str] = []

    def record(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if not sql.lstrip().upper().startswith(("BEGIN", "COMMIT")):
            sent.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        run()
    return sent


def test_the_hot_path_takes_a_pinned_number_of_queries(
    annotator: Any, pending: Project, django_assert_num_queries: Any
) -> None:
    # given a shown pair and a prefetched one (caches warm), inside the test's transaction, so
    # each request's transaction is a savepoint: two statements more than in production
    client = _token_client(annotator)
    shown = _next(client, pending).json()
    # when / then: a new lease is the project, the held-lease check, the locking candidate
    # query, the lease's insert and the membership's judgement count
    with django_assert_num_queries(5 + 2):
        prefetched = _next(client, pending, after=shown["assignment"]).json()
    # a judgement: one locking read (assignment, pair, project, membership), three writes
    with django_assert_num_queries(4 + 2):
        _judge(client, shown["assignment"], query="")
    # and both in one request and one transaction, with no savepoint of their own
    with django_assert_num_queries(6 + 2):
        body = _judge(client, prefetched["assignment"]).json()
    assert _external_id(body["next"]) == "q-1"


@pytest.mark.django_db(transaction=True)
def test_a_judgement_with_the_next_pair_is_six_statements(annotator: Any, pending: Project) -> None:
    # given a shown pair, outside any test transaction (the statements production sends), after
    # a first judgement (which reads the token and whether the project has webhooks once)
    client = _token_client(annotator)
    shown = _judge(client, _next(client, pending).json()["assignment"]).json()["next"]
    # when it is judged asking for the next pair
    sent = _statements(lambda: _judge(client, shown["assignment"]))
    # then: no token or user read (cached), no savepoint, no webhook read (no subscription)
    kinds = [" ".join(sql.split()[:3]) for sql in sent]
    assert len(sent) <= 6, "\n".join(sent)
    assert [kind.split()[0] for kind in kinds] == [
        "SELECT",  # the lease and its pair, locked; the annotator's membership and held lease
        "INSERT",  # the judgement (a trigger counts it on the membership)
        "UPDATE",  # the lease, closed
        "UPDATE",  # the pair's vote count and status
        "SELECT",  # the next candidate pair, locked
        "INSERT",  # the new lease, if its slot is still free
    ], "\n".join(sent)
    assert list(Judgement.objects.values_list("pair__status", flat=True)) == ["complete"] * 2


@pytest.mark.django_db(transaction=True)
def test_a_large_projects_progress_reads_the_stored_count_not_its_pairs(
    annotator: Any, pending: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a project large enough that its counts are a worker's, and counted by one
    monkeypatch.setattr("annotate.projects.counts.COUNT_NOW_BELOW", 1)
    client = _token_client(annotator)
    shown = _judge(client, _next(client, pending).json()["assignment"]).json()["next"]
    compute_requested()
    stored = stored_counts(pending).payload or {}
    # when a judgement finds the progress counter and the project's size uncached (as every
    # few seconds per annotator and process)
    cache.delete_many([f"progress:{pending.pk}:{annotator.pk}", f"project-large:{pending.pk}"])
    body: dict[str, Any] = {}
    sent = _statements(lambda: body.update(_judge(client, shown["assignment"]).json()))
    # then no statement counts the project's pairs: the remaining pairs are the stored count,
    # and the cold counter costs three index reads beyond the judgement's six statements
    counts = [sql for sql in sent if "COUNT(" in sql and 'FROM "annotate_pair"' in sql]
    assert not counts, "\n".join(counts)
    assert body["progress"] == {"mine": 2, "remaining": stored["pending"]}
    assert len(sent) <= 6 + 3, "\n".join(sent)
