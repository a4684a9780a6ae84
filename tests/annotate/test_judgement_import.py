"""The `judgements` import format: detected, validated by line, all or nothing, round trip."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from django.contrib.auth.models import User

from annotate.exporting.datasets import iter_judgement_rows
from annotate.formats import ImportFormatError
from annotate.importing.pipeline import import_file
from annotate.leaderboard.board import project_leaderboard
from annotate.models import Judgement, Pair, PairStatus, Project
from annotate.quality.measures import project_annotator_stats
from tests.factories import make_project, pair_rows, write_jsonl

pytestmark = pytest.mark.django_db


def _votes(project: Project) -> Counter:
    """(pair external id, choice, shown_left, strength, duration) of every vote."""
    return Counter(
        Judgement.objects.filter(pair__project=project).values_list(
            "pair__external_id", "choice", "shown_left", "strength", "duration_ms"
        )
    )


def _partition(project: Project) -> set[frozenset]:
    """Which votes share an annotator, whatever the annotator is called."""
    groups: dict[int, set] = {}
    for annotator, pair, choice in Judgement.objects.filter(pair__project=project).values_list(
        "annotator_id", "pair__external_id", "choice"
    ):
        groups.setdefault(annotator, set()).add((pair, choice))
    return {frozenset(g) for g in groups.values()}


def _vote_rows() -> list[dict]:
    return [
        {"pair_external_id": "q-0", "annotator": "ann-1", "choice": "a", "shown_left": "b"},
        {"pair_external_id": "q-0", "annotator": "ann-2", "choice": "a", "duration_ms": 4200},
        {"pair_external_id": "q-1", "annotator": "ann-1", "choice": "tie", "strength": None},
        {"pair_external_id": "q-1", "annotator": "ann-2", "choice": "both_bad"},
        {"pair_external_id": "q-2", "annotator": 7, "choice": "b", "created_at": "2024-05-01"},
    ]


def test_it_imports_votes_as_raters_that_cannot_log_in(tmp_path: Path) -> None:
    # given a project with pairs
    project = make_project(judgements_per_pair=2)
    import_file(project, write_jsonl(tmp_path / "p.jsonl", pair_rows(4, labelled=False)))
    # when
    summary = import_file(project, write_jsonl(tmp_path / "v.jsonl", _vote_rows()))
    # then
    assert summary.format == "judgements" and summary.judgements_created == 5
    raters = User.objects.filter(judgements__pair__project=project).distinct()
    assert sorted(r.first_name for r in raters) == ["7", "ann-1", "ann-2"]
    assert not any(r.is_active or r.has_usable_password() for r in raters)
    q0 = Pair.objects.get(project=project, external_id="q-0")
    assert (q0.status, q0.judgement_count) == (PairStatus.COMPLETE, 2)
    late = Judgement.objects.get(pair__external_id="q-2")
    assert late.created_at.date().isoformat() == "2024-05-01"
    assert len(project_annotator_stats(project)) == 3


def test_a_reimport_is_a_no_op(tmp_path: Path) -> None:
    project = make_project()
    import_file(project, write_jsonl(tmp_path / "p.jsonl", pair_rows(4, labelled=False)))
    path = write_jsonl(tmp_path / "v.jsonl", _vote_rows())
    import_file(project, path)
    # when
    again = import_file(project, path)
    # then
    assert (again.judgements_created, again.judgements_existing) == (0, 5)
    assert Judgement.objects.count() == 5


def test_it_names_bad_lines_and_imports_nothing(tmp_path: Path) -> None:
    project = make_project()
    import_file(project, write_jsonl(tmp_path / "p.jsonl", pair_rows(2, labelled=False)))
    bad_fields = [
        {"pair_external_id": "q-0", "annotator": "x", "choice": "a"},
        {"pair_external_id": "q-1", "annotator": "x", "choice": "left"},
        {"pair_external_id": "q-1", "annotator": "y", "choice": "a", "strength": 5},
    ]
    bad_references = [
        {"pair_external_id": "q-0", "annotator": "x", "choice": "a"},
        {"pair_external_id": "q-0", "annotator": "x", "choice": "b"},
        {"pair_external_id": "nope", "annotator": "x", "choice": "a"},
    ]
    # when
    with pytest.raises(ImportFormatError) as fields:
        import_file(project, write_jsonl(tmp_path / "f.jsonl", bad_fields))
    with pytest.raises(ImportFormatError) as references:
        import_file(project, write_jsonl(tmp_path / "r.jsonl", bad_references))
    # then
    assert "line 2, field 'choice'" in str(fields.value)
    assert "line 3, field 'strength'" in str(fields.value)
    assert "line 2, field 'annotator': votes on this pair a second time" in str(references.value)
    assert "line 3, field 'pair_external_id': names no pair" in str(references.value)
    assert Judgement.objects.count() == 0


def test_rows_with_texts_create_their_pairs_in_canonical_terms(tmp_path: Path) -> None:
    # given a pair stored as (x, y), and a vote file that names it the other way round
    project = make_project()
    import_file(
        project,
        write_jsonl(tmp_path / "p.jsonl", [{"prompt": "p", "response_a": "x", "response_b": "y"}]),
    )
    rows = [
        {"prompt": "p", "response_a": "y", "response_b": "x", "annotator": "u", "choice": "a"},
        {"prompt": "new", "response_a": "1", "response_b": "2", "annotator": "u", "choice": "b"},
    ]
    # when
    import_file(project, write_jsonl(tmp_path / "v.jsonl", rows))
    # then: "y" won both times it was named
    assert Judgement.objects.get(pair__prompt__messages__0__content="p").choice == "b"
    assert Pair.objects.filter(project=project).count() == 2


def test_export_then_import_into_a_fresh_project_gives_the_same_votes(tmp_path: Path) -> None:
    # given a project with votes from three annotators
    pairs = write_jsonl(tmp_path / "p.jsonl", pair_rows(5, labelled=False))
    first = make_project("first", judgements_per_pair=3)
    import_file(first, pairs)
    rows = [
        {
            "pair_external_id": f"q-{i}",
            "annotator": f"a{k}",
            "choice": "ab"[(i + k) % 2],
            "shown_left": "ab"[k % 2],
            "duration_ms": 1000 * (i + k),
        }
        for i in range(5)
        for k in range(3)
    ]
    import_file(first, write_jsonl(tmp_path / "v.jsonl", rows))
    exported = write_jsonl(tmp_path / "export.jsonl", list(iter_judgement_rows(first)))
    # when
    fresh = make_project("fresh", judgements_per_pair=3)
    import_file(fresh, pairs)
    import_file(fresh, exported)
    # then
    assert _votes(fresh) == _votes(first) and sum(_votes(first).values()) == 15
    assert _partition(fresh) == _partition(first)
    assert json.loads(exported.read_text().splitlines()[0])["annotator"].startswith("annotator-")


def test_votes_that_carry_their_pair_and_models_feed_the_leaderboard(tmp_path: Path) -> None:
    # given votes whose rows carry the pair, its two models and each rater's choice
    project = make_project(judgements_per_pair=3)
    rows = []
    for k in range(4):
        pair = {
            "prompt": f"question {k}",
            "response_a": f"answer {k} by x",
            "response_b": f"answer {k} by y",
            "model_a": "model-x",
            "model_b": "model-y",
        }
        rows += [{**pair, "annotator": f"r{i}", "choice": "a"} for i in range(3)]
    # when
    summary = import_file(project, write_jsonl(tmp_path / "v.jsonl", rows))
    # then the pairs were made once, with their models, and every vote counts for the models
    assert (summary.pairs_created, summary.judgements_created) == (4, 12)
    assert set(Pair.objects.values_list("response_a__model_name", "response_b__model_name")) == {
        ("model-x", "model-y")
    }
    assert set(Pair.objects.values_list("status", flat=True)) == {PairStatus.COMPLETE}
    board = project_leaderboard(project, rounds=200)
    assert [row.model for row in board.models] == ["model-x", "model-y"]
    assert board.votes == 12
