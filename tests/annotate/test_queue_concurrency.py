"""16 annotators at once: no pair over its target, no pair twice, every judgement stored once.

Both loops are covered: `next` then `judgement` through the domain functions, and the page's
one-request loop (`judgement?next=1`) through the API.

Runs on whatever DATABASE_URL points at: SQLite locally (serialized writes), Postgres in CI
(row locks with SKIP LOCKED).
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from rest_framework.test import APIClient

from annotate.importing.pipeline import import_file
from annotate.judging.queue import lease_next_pair
from annotate.judging.recording import record_judgement
from annotate.models import Judgement, Membership, Pair, Role
from annotate.projects.members import set_member
from tests.factories import make_project, pair_rows, write_jsonl
from tests.plans import plan_of, statements_of

ANNOTATORS = 16


def _annotate_until_done(user: User, project: Any, acknowledged: list[str], errors: list) -> None:
    try:
        while (assignment := lease_next_pair(user, project)) is not None:
            client_id = str(uuid.uuid4())
            choice = "left" if assignment.pk % 2 else "right"
            record_judgement(assignment.pk, user, choice=choice, client_id=client_id)
            acknowledged.append(client_id)
    except BaseException as exc:  # reported by the test
        errors.append(exc)
    finally:
        connection.close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("overlap", [1, 3])
def test_concurrent_annotators_fill_every_slot_exactly(
    tmp_path: Path, django_user_model: type[User], overlap: int
) -> None:
    # given
    project = make_project(judgements_per_pair=overlap)
    _run_annotators(project, tmp_path, django_user_model)
    # then
    per_pair = Counter(Judgement.objects.values_list("pair_id", flat=True))
    assert set(per_pair.values()) == {overlap}
    assert len(per_pair) == 40
    assert set(Pair.objects.values_list("status", "judgement_count")) == {("complete", overlap)}


@pytest.mark.django_db(transaction=True)
def test_concurrent_annotators_add_a_third_vote_only_where_two_disagree(
    tmp_path: Path, django_user_model: type[User]
) -> None:
    # given adaptive overlap: 2 votes, a 3rd only when they disagree
    project = make_project(judgements_per_pair=2, max_judgements_per_pair=3)
    _run_annotators(project, tmp_path, django_user_model)
    # then
    votes: dict[int, list[str]] = {}
    for pair_id, choice in Judgement.objects.order_by("pk").values_list("pair_id", "choice"):
        votes.setdefault(pair_id, []).append(choice)
    assert len(votes) == 40
    for choices in votes.values():
        assert len(choices) == (2 if choices[0] == choices[1] else 3), choices
    assert {len(c) for c in votes.values()} == {2, 3}
    counts = dict(Pair.objects.values_list("pk", "judgement_count"))
    assert counts == {pair_id: len(c) for pair_id, c in votes.items()}
    assert set(Pair.objects.values_list("status", flat=True)) == {"complete"}


def _run_annotators(project: Any, tmp_path: Path, django_user_model: type[User]) -> None:
    """16 annotators judge until nothing is left; every acknowledged vote is stored once."""
    import_file(project, write_jsonl(tmp_path / "p.jsonl", pair_rows(40, labelled=False)))
    users = [django_user_model.objects.create_user(f"annotator{i}") for i in range(ANNOTATORS)]
    for user in users:
        set_member(project, username=user.username, role=Role.ANNOTATOR)
    acknowledged: list[str] = []
    errors: list[BaseException] = []
    # when
    threads = [
        threading.Thread(target=_annotate_until_done, args=(u, project, acknowledged, errors))
        for u in users
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert errors == []
    pairs_by_annotator = Counter(Judgement.objects.values_list("pair_id", "annotator_id"))
    assert max(pairs_by_annotator.values()) == 1
    stored = set(Judgement.objects.values_list("client_id", flat=True))
    assert len(acknowledged) == len(stored)
    assert stored == set(acknowledged)
    _assert_counted(project)


def _assert_counted(project: Any) -> None:
    """Each member's judgement count (kept by triggers under concurrent writers) is exact."""
    counted = dict(
        Membership.objects.filter(project=project).values_list("user_id", "judgement_count")
    )
    judged = Counter(Judgement.objects.values_list("annotator_id", flat=True))
    assert counted == {user_id: judged.get(user_id, 0) for user_id in counted}
    assert sum(counted.values()) == Judgement.objects.count()


def _judge_in_one_round_trip_until_done(
    user: User, project: Any, acknowledged: list[str], errors: list
) -> None:
    """The page's loop: each judgement asks for the next pair in the same request."""
    client = APIClient()
    client.force_authenticate(user)
    try:
        response = client.post(f"/api/projects/{project.slug}/next", {}, format="json")
        following = response.json() if response.status_code == 200 else None
        while following is not None:
            client_id = str(uuid.uuid4())
            choice = "left" if following["assignment"] % 2 else "right"
            response = client.post(
                f"/api/assignments/{following['assignment']}/judgement?next=1",
                {"choice": choice, "client_id": client_id},
                format="json",
            )
            assert response.status_code == 201, response.content
            acknowledged.append(client_id)
            following = response.json()["next"]
    except BaseException as exc:  # reported by the test
        errors.append(exc)
    finally:
        connection.close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("overlap", [1, 3])
def test_concurrent_one_round_trip_annotators_fill_every_slot_exactly(
    tmp_path: Path, django_user_model: type[User], overlap: int
) -> None:
    # given
    project = make_project(judgements_per_pair=overlap)
    import_file(project, write_jsonl(tmp_path / "p.jsonl", pair_rows(40, labelled=False)))
    users = [django_user_model.objects.create_user(f"annotator{i}") for i in range(ANNOTATORS)]
    for user in users:
        set_member(project, username=user.username, role=Role.ANNOTATOR)
    acknowledged: list[str] = []
    errors: list[BaseException] = []
    # when every annotator judges through `judgement?next=1` until nothing is left
    threads = [
        threading.Thread(
            target=_judge_in_one_round_trip_until_done, args=(u, project, acknowledged, errors)
        )
        for u in users
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    # then every slot is filled once, by distinct annotators, and nothing is lost or doubled
    assert errors == []
    per_pair = Counter(Judgement.objects.values_list("pair_id", flat=True))
    assert set(per_pair.values()) == {overlap}
    assert len(per_pair) == 40
    _assert_counted(project)
    assert max(Counter(Judgement.objects.values_list("pair_id", "annotator_id")).values()) == 1
    stored = set(Judgement.objects.values_list("client_id", flat=True))
    assert len(acknowledged) == len(stored) == 40 * overlap
    assert stored == set(acknowledged)
    assert set(Pair.objects.values_list("status", "judgement_count")) == {("complete", overlap)}


@pytest.mark.django_db
def test_the_next_pair_query_reads_the_queue_index(tmp_path: Path, annotator: User) -> None:
    from django.utils import timezone

    from annotate.judging.hot_sql import lock_candidate

    # given a few thousand pending pairs with statistics
    project = make_project()
    import_file(project, write_jsonl(tmp_path / "p.jsonl", pair_rows(3000, labelled=False)))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    # when the candidate query is sent, and its plan asked for
    sent = statements_of(
        lambda: lock_candidate(annotator.pk, project, timezone.now(), random_order=False)
    )
    plan = plan_of(*sent[0])
    # then: an ordered scan of the partial index, no sort of all pending pairs
    assert "pairrank_queue" in plan, plan
    assert "TEMP B-TREE FOR ORDER BY" not in plan and "Sort Key" not in plan, plan
