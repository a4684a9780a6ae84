"""Each membership's judgement count (database triggers) stays exact whoever writes the votes."""

from __future__ import annotations

import importlib
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.contrib.auth.models import User

from annotate.importing.pipeline import import_file
from annotate.importing.raters import rater_username
from annotate.judging.queue import lease_next_pair, progress
from annotate.judging.recording import record_judgement
from annotate.models import Judgement, Membership, Pair, Project, Role
from annotate.projects.members import set_member
from annotate.review.actions import invalidate_judgement, restore_judgement
from tests.conftest import client_for
from tests.factories import database_triggers, make_project, pair_rows, write_jsonl

pytestmark = pytest.mark.django_db

TRIGGERS = {
    "annotate_judgement_counted",
    "annotate_judgement_uncounted",
    "annotate_judgement_recounted",
    "annotate_membership_counted",
}


def _counts(project: Project) -> dict[int, int]:
    return dict(
        Membership.objects.filter(project=project).values_list("user_id", "judgement_count")
    )


def _true_counts(project: Project) -> dict[int, int]:
    judged = Counter(
        Judgement.objects.filter(pair__project=project).values_list("annotator_id", flat=True)
    )
    return {user_id: judged.get(user_id, 0) for user_id in _counts(project)}


def _judge(user: User, project: Project, n: int) -> None:
    for _ in range(n):
        assignment = lease_next_pair(user, project)
        assert assignment is not None
        record_judgement(assignment.pk, user, choice="left", client_id=str(uuid.uuid4()))


@pytest.fixture
def pending(project: Project, tmp_path: Path) -> Project:
    import_file(project, write_jsonl(tmp_path / "p.jsonl", pair_rows(6, labelled=False)))
    return project


def test_the_triggers_that_keep_the_counts_exist() -> None:
    # A migration that rebuilds the judgement or membership table on SQLite drops them.
    assert database_triggers() >= TRIGGERS


def test_judging_counts_each_vote_for_its_annotator_only(
    annotator: User, admin: User, pending: Project
) -> None:
    # when the annotator judges three pairs
    _judge(annotator, pending, 3)
    # then their count says so, the other members' do not move, and progress reads it
    counts = _counts(pending)
    assert counts.pop(annotator.pk) == 3 and counts[admin.pk] == 0
    assert set(counts.values()) == {0}
    assert progress(annotator, pending)["mine"] == 3
    assert client_for(annotator).post(
        f"/api/projects/{pending.slug}/next", {}, format="json"
    ).json()["progress"] == {"mine": 3, "remaining": 3}


def test_review_keeps_the_count_and_deletes_take_votes_off(
    annotator: User, admin: User, pending: Project
) -> None:
    # given three votes
    _judge(annotator, pending, 3)
    first, second, _ = Judgement.objects.order_by("pk")
    # when one is invalidated and restored (the count is of every vote, like the page's)
    invalidate_judgement(first, by=admin, reason="spam")
    assert _counts(pending)[annotator.pk] == 3
    restore_judgement(first, by=admin)
    # and one vote, then a pair with its vote, are deleted
    second.delete()
    Pair.objects.filter(pk=first.pair_id).delete()
    # then
    assert _counts(pending)[annotator.pk] == 1 == Judgement.objects.count()


def test_imported_votes_count_for_raters_who_are_members(tmp_path: Path) -> None:
    # given pairs, and one rater made a member before the import
    project = make_project(judgements_per_pair=2)
    import_file(project, write_jsonl(tmp_path / "p.jsonl", pair_rows(4, labelled=False)))
    early = User.objects.create_user(rater_username(project, "ann-1"))
    set_member(project, username=early.username, role=Role.ANNOTATOR)
    votes = [
        {"pair_external_id": f"q-{i}", "annotator": name, "choice": "a"}
        for i in range(3)
        for name in ("ann-1", "ann-2")
    ]
    # when the votes are imported (bulk inserts), and the other rater becomes a member after
    import_file(project, write_jsonl(tmp_path / "v.jsonl", votes))
    set_member(project, username=rater_username(project, "ann-2"), role=Role.ANNOTATOR)
    # then both count three, as the table says
    assert sorted(_counts(project).values()) == [3, 3]
    assert _counts(project) == _true_counts(project)


def test_a_deleted_user_leaves_no_count_behind(annotator: User, pending: Project) -> None:
    _judge(annotator, pending, 2)
    annotator.delete()  # the votes stay, anonymous; the membership goes
    assert Judgement.objects.filter(annotator__isnull=True).count() == 2
    assert annotator.pk not in _counts(pending)


def test_the_migration_fills_the_counts_of_votes_made_before_it(
    annotator: User, pending: Project
) -> None:
    # given votes whose count was lost (made before the counters existed)
    _judge(annotator, pending, 2)
    Membership.objects.update(judgement_count=0)
    # when the migration's backfill runs
    migration = importlib.import_module("annotate.migrations.0011_judging_counters")
    migration.backfill(apps, None)
    # then
    assert _counts(pending) == _true_counts(pending) and _counts(pending)[annotator.pk] == 2


def test_progress_moves_with_each_vote_between_recounts(
    annotator: User, pending: Project, django_assert_max_num_queries: Any
) -> None:
    # given a first progress read (it counts, then is kept a few seconds)
    assert progress(annotator, pending) == {"mine": 0, "remaining": 6}
    # when two votes are made; then each takes one off, without counting the pairs again
    _judge(annotator, pending, 2)
    with django_assert_max_num_queries(1):  # the membership's count
        assert progress(annotator, pending) == {"mine": 2, "remaining": 4}
