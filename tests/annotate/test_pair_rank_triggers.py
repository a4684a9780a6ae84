"""Every pair has a rank row (database triggers) that follows its status, whoever writes it."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth.models import User

from annotate.importing.pipeline import import_file
from annotate.models import Pair, PairRank, PairStatus, Project, Prompt, Response
from annotate.projects.lifecycle import delete_project, purge_project
from annotate.review.actions import invalidate_judgement
from tests.annotate.workspace_support import judge_next
from tests.factories import database_triggers, make_project, pair_rows, write_jsonl

pytestmark = pytest.mark.django_db

TRIGGERS = {"annotate_pair_ranked", "annotate_pair_rank_follows"}

Rank = tuple[int, bool, float, int]


def _ranks(project: Project) -> dict[int, Rank]:
    """Each of the project's pairs' rank row: project id, pending, priority, tiebreak."""
    rows = PairRank.objects.filter(pair__project=project).values_list(
        "pair_id", "project_id", "pending", "priority", "tiebreak"
    )
    return {pair_id: (project_id, pending, p, t) for pair_id, project_id, pending, p, t in rows}


def _unranked(project: Project) -> dict[int, Rank]:
    """What a new rank row holds for each of the project's pairs: its own values, priority 0."""
    rows = Pair.objects.filter(project=project).values_list("pk", "status", "tiebreak")
    return {
        pk: (project.pk, status == PairStatus.PENDING, 0.0, tiebreak)
        for pk, status, tiebreak in rows
    }


def _new_pairs(project: Project, n: int, *, start: int = 0) -> list[Pair]:
    """n unsaved pairs of new responses, each with its own tiebreak."""
    pairs = []
    for i in range(start, start + n):
        prompt = Prompt.objects.create(
            project=project, messages=[{"role": "user", "content": f"q {i}"}], content_hash=f"p{i}"
        )
        a, b = (
            Response.objects.create(prompt=prompt, text=f"{side} {i}", content_hash=f"{side}{i}")
            for side in ("a", "b")
        )
        pairs.append(
            Pair(
                project=project,
                prompt=prompt,
                response_a=a,
                response_b=b,
                content_key=f"k{i}",
                tiebreak=1000 + 7 * i,
            )
        )
    return pairs


def test_the_triggers_that_keep_the_ranks_exist() -> None:
    # A migration that rebuilds the pair table on SQLite drops them.
    assert database_triggers() >= TRIGGERS


def test_a_pair_made_one_at_a_time_or_in_bulk_is_ranked_last_in_its_queue(
    project: Project,
) -> None:
    # when one pair is created, then three in one statement
    first, *rest = _new_pairs(project, 4)
    first.save()
    Pair.objects.bulk_create(rest)
    # then each has a pending rank row with its project and tiebreak, at priority 0
    ranks = _ranks(project)
    assert len(ranks) == 4
    assert ranks == _unranked(project)
    assert ranks[first.pk] == (project.pk, True, 0.0, 1000)


def test_an_imported_pair_is_ranked(project: Project, tmp_path: Path) -> None:
    # when six pairs are imported, two with a label (complete on arrival at overlap 1)
    rows = pair_rows(6, labelled=False)
    rows[0]["label"] = rows[1]["label"] = "a"
    import_file(project, write_jsonl(tmp_path / "p.jsonl", rows), labels="judgements")
    # then every pair has its rank row, pending only where the pair is
    ranks = _ranks(project)
    assert len(ranks) == Pair.objects.filter(project=project).count() == 6
    assert ranks == _unranked(project)
    assert sorted(pending for _, pending, _, _ in ranks.values()) == [False] * 2 + [True] * 4


def test_a_rank_follows_its_pair_through_judging_and_review(
    project: Project, admin: User, annotator: User, second_annotator: User, tmp_path: Path
) -> None:
    # given two pending pairs, one of them ranked first
    import_file(project, write_jsonl(tmp_path / "p.jsonl", pair_rows(2, labelled=False)))
    top = Pair.objects.filter(project=project).order_by("pk").first()
    assert top is not None
    PairRank.objects.filter(pair=top).update(priority=0.9)
    # when the annotator judges it (overlap 1: the pair is complete)
    judgement = judge_next(annotator, project, "a")
    assert judgement.pair_id == top.pk
    # then its rank is no longer pending, and keeps its priority
    top.rank.refresh_from_db()
    assert (top.rank.pending, top.rank.priority) == (False, 0.9)
    assert _ranks(project) == {**_unranked(project), top.pk: (project.pk, False, 0.9, top.tiebreak)}
    # when the admin invalidates the vote, so the pair needs one again
    invalidate_judgement(judgement, by=admin, reason="spam")
    # then the pair is pending again, and so is its rank
    top.refresh_from_db()
    top.rank.refresh_from_db()
    assert top.status == PairStatus.PENDING
    assert top.rank.pending
    # and the queue serves it again, first (to someone who has not judged it)
    assert judge_next(second_annotator, project, "b").pair_id == top.pk


def test_a_rank_follows_a_new_tiebreak(project: Project) -> None:
    (pair,) = _new_pairs(project, 1)
    pair.save()
    Pair.objects.filter(pk=pair.pk).update(tiebreak=42)
    assert PairRank.objects.get(pair=pair).tiebreak == 42


def test_deleting_a_projects_pairs_deletes_their_ranks(project: Project) -> None:
    # given two projects with ranked pairs
    other = make_project("other")
    Pair.objects.bulk_create(_new_pairs(project, 3))
    Pair.objects.bulk_create(_new_pairs(other, 2, start=3))
    project_id = project.pk
    # when the project is deleted and its rows purged
    delete_project(project)
    purge_project(project_id)
    # then its pairs' ranks are gone and the other project's are left
    assert not PairRank.objects.filter(project_id=project_id).exists()
    assert set(PairRank.objects.values_list("project_id", flat=True)) == {other.pk}
    assert len(_ranks(other)) == 2
