"""Review: invalid judgements leave counts, snapshots, exports and stats; gold labels."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from annotate.exporting.datasets import export_chunks
from annotate.judging.queue import lease_next_pair
from annotate.models import PairStatus, Project, ReviewEvent
from annotate.projects.counts import project_counts
from annotate.review.actions import (
    ReviewError,
    invalidate_judgement,
    restore_judgement,
    set_gold_label,
)
from rewards.worker.snapshot import snapshot_project
from tests.annotate.workspace_support import judge_next
from tests.conftest import client_for
from tests.factories import make_pairs

pytestmark = pytest.mark.django_db


def _export(project: Project, fmt: str) -> list[dict[str, Any]]:
    data = b"".join(export_chunks(project, fmt=fmt, file_type="jsonl"))
    return [json.loads(line) for line in data.splitlines()]


def test_it_takes_an_invalid_judgement_out_of_every_count_and_requeues_the_pair(
    tmp_path: Path, admin: Any, annotator: Any, second_annotator: Any, project: Project
) -> None:
    # given a judged, complete pair (overlap 1)
    make_pairs(project, tmp_path, 1, labelled=False)
    judgement = judge_next(annotator, project)
    assert judgement.pair.status == PairStatus.COMPLETE
    assert len(_export(project, "trl")) == 1

    # when an admin marks the judgement invalid
    invalidate_judgement(judgement, by=admin, reason="clicked without reading")

    # then it is kept with who, when and why, and counts nowhere
    judgement.refresh_from_db()
    pair = judgement.pair
    pair.refresh_from_db()
    assert judgement.invalidated_by == admin and judgement.invalidated_at is not None
    assert judgement.invalid_reason == "clicked without reading"
    assert (pair.judgement_count, pair.status) == (0, PairStatus.PENDING)
    assert _export(project, "trl") == [] and _export(project, "judgements") == []
    assert snapshot_project(project).judgements == 0
    assert project_counts(project)["judgements"] == 0
    stats = client_for(admin).get(f"/api/projects/{project.slug}/stats").json()
    assert stats["judgements"] == 0 and stats["annotators"] == [
        {"annotator": "bob", "judgements": 0}
    ]
    # and the pair is served again, to someone who has not judged it
    served = lease_next_pair(second_annotator, project)
    assert served is not None and served.pair == pair
    assert lease_next_pair(annotator, project) is None


def test_restoring_makes_the_judgement_count_again_and_both_steps_are_audited(
    tmp_path: Path, admin: Any, annotator: Any, project: Project
) -> None:
    # given an invalidated judgement
    make_pairs(project, tmp_path, 1, labelled=False)
    judgement = judge_next(annotator, project)
    invalidate_judgement(judgement, by=admin, reason="spam")
    invalidate_judgement(judgement, by=admin, reason="again")  # a no-op

    # when it is restored
    restore_judgement(judgement, by=admin)

    # then it counts again and the audit trail has both steps
    judgement.refresh_from_db()
    judgement.pair.refresh_from_db()
    assert judgement.is_valid and judgement.invalid_reason == ""
    assert (judgement.pair.judgement_count, judgement.pair.status) == (1, PairStatus.COMPLETE)
    assert len(_export(project, "judgements")) == 1
    events = list(ReviewEvent.objects.values_list("action", "reason", "by__username"))
    assert events == [("invalidated", "spam", "alice"), ("restored", "", "alice")]


def test_it_refuses_an_invalidation_without_a_reason(
    tmp_path: Path, admin: Any, annotator: Any, project: Project
) -> None:
    make_pairs(project, tmp_path, 1, labelled=False)
    judgement = judge_next(annotator, project)
    with pytest.raises(ReviewError):
        invalidate_judgement(judgement, by=admin, reason="  ")
    judgement.refresh_from_db()
    assert judgement.is_valid


def test_the_export_majority_ignores_an_invalid_vote(
    tmp_path: Path, admin: Any, annotator: Any, second_annotator: Any, project: Project
) -> None:
    # given overlap 2 and two annotators who disagree
    project.judgements_per_pair = 2
    project.save()
    make_pairs(project, tmp_path, 1, labelled=False)
    first = judge_next(annotator, project, "a")
    second = judge_next(second_annotator, project, "b")
    assert _export(project, "trl") == []  # a split: left out

    # when the second vote is invalidated
    invalidate_judgement(second, by=admin, reason="did not read the prompt")

    # then the first decides the pair, which waits for one more judgement
    rows = _export(project, "trl")
    assert [r["chosen"] for r in rows] == [first.pair.response_a.text]
    first.pair.refresh_from_db()
    assert first.pair.status == PairStatus.PENDING


def test_gold_labels_are_set_and_cleared(tmp_path: Path, project: Project) -> None:
    make_pairs(project, tmp_path, 1, labelled=False)
    pair = project.pairs.get()
    set_gold_label(pair, label="tie")
    pair.refresh_from_db()
    assert pair.gold_label == "tie"
    set_gold_label(pair, label="")
    pair.refresh_from_db()
    assert pair.gold_label == ""
    with pytest.raises(ReviewError):
        set_gold_label(pair, label="left")
