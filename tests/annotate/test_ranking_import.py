"""A `responses` import into a ranking project: one ranking item per prompt, split when a
prompt has more responses than the project ranks together."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from annotate.formats import ImportFormatError, ranking_items
from annotate.importing.pipeline import import_file
from annotate.models import Pair, RankedResponse
from tests.factories import make_project, write_jsonl

pytestmark = pytest.mark.django_db


def _row(prompt: str, n: int) -> dict[str, Any]:
    return {
        "prompt": prompt,
        "responses": [{"text": f"{prompt} answer {i}", "model": f"m{i % 3}"} for i in range(n)],
    }


def _members(pair: Pair) -> list[str]:
    return [
        r.response.text for r in RankedResponse.objects.filter(pair=pair).select_related("response")
    ]


@pytest.mark.parametrize(
    ("count", "most", "windows"),
    [
        (3, 4, [[0, 1, 2]]),
        (4, 4, [[0, 1, 2, 3]]),
        (6, 5, [[0, 1, 2, 3, 4], [1, 2, 3, 4, 5]]),
        (12, 5, [[0, 1, 2, 3, 4], [4, 5, 6, 7, 8], [7, 8, 9, 10, 11]]),
        (7, 3, [[0, 1, 2], [2, 3, 4], [4, 5, 6]]),
    ],
)
def test_it_splits_many_responses_into_overlapping_items(
    count: int, most: int, windows: list[list[int]]
) -> None:
    assert [list(w) for w in ranking_items(count, most)] == windows


def test_it_makes_one_ranking_item_per_prompt(tmp_path: Path) -> None:
    # given
    project = make_project("ranked", comparison="ranking", max_ranked=4)
    path = write_jsonl(tmp_path / "r.jsonl", [_row("p1", 4), _row("p2", 3)])
    # when
    summary = import_file(project, path)
    # then
    assert (summary.format, summary.pairs_created, summary.responses_created) == ("responses", 2, 7)
    first, second = Pair.objects.filter(project=project).order_by("pk")
    assert _members(first) == [f"p1 answer {i}" for i in range(4)]
    assert _members(second) == [f"p2 answer {i}" for i in range(3)]
    assert (first.response_a.text, first.response_b.text) == ("p1 answer 0", "p1 answer 1")
    assert first.response_a.sources.get().model_name == "m0"


def test_a_prompt_with_more_responses_than_max_ranked_becomes_overlapping_items(
    tmp_path: Path,
) -> None:
    # given
    project = make_project("ranked", comparison="ranking", max_ranked=5)
    path = write_jsonl(tmp_path / "r.jsonl", [_row("p", 12)])
    # when
    summary = import_file(project, path)
    # then every item has five responses, linked through shared ones, and its own a/b pair
    items = list(Pair.objects.filter(project=project).order_by("pk"))
    assert summary.pairs_created == 3
    assert summary.responses_created == 12
    assert [_members(p) for p in items] == [
        [f"p answer {i}" for i in window]
        for window in ([0, 1, 2, 3, 4], [4, 5, 6, 7, 8], [7, 8, 9, 10, 11])
    ]
    assert len({(p.response_a_id, p.response_b_id) for p in items}) == 3


def test_a_reimport_makes_nothing_twice(tmp_path: Path) -> None:
    project = make_project("ranked", comparison="ranking", max_ranked=4)
    path = write_jsonl(tmp_path / "r.jsonl", [_row("p1", 4), _row("p2", 6)])
    import_file(project, path)
    again = import_file(project, path)
    assert (again.pairs_created, again.pairs_existing, again.responses_created) == (0, 3, 0)
    assert Pair.objects.count() == RankedResponse.objects.values("pair").distinct().count() == 3


def test_it_refuses_a_pairs_row_among_responses_naming_the_line_and_imports_nothing(
    tmp_path: Path,
) -> None:
    # given
    project = make_project("ranked", comparison="ranking")
    rows = [_row("p1", 4), {"prompt": "q", "response_a": "x", "response_b": "y"}]
    path = write_jsonl(tmp_path / "r.jsonl", rows)
    # when
    with pytest.raises(ImportFormatError) as refused:
        import_file(project, path)
    # then
    assert [(e.line, e.field) for e in refused.value.errors] == [(2, "responses")]
    assert "ranking project imports the responses format" in str(refused.value)
    assert not Pair.objects.exists()


def test_a_pairwise_project_still_pairs_every_two_responses(tmp_path: Path) -> None:
    project = make_project("pairs")
    import_file(project, write_jsonl(tmp_path / "r.jsonl", [_row("p", 4)]))
    assert Pair.objects.filter(project=project).count() == 6
    assert not RankedResponse.objects.exists()


def test_a_ranked_row_brings_its_vote_restricted_to_each_item(tmp_path: Path) -> None:
    # given a rankings row of six responses, ranked 4 at a time: items 0-3 and 2-5
    project = make_project("ranked", comparison="ranking", max_ranked=4)
    row = {**_row("p", 6), "ranking": [[5], [0, 3], [1], [2, 4]], "annotator": "ann-1"}
    path = write_jsonl(tmp_path / "r.jsonl", [row])
    # when
    summary = import_file(project, path)
    again = import_file(project, path)
    # then
    first, second = Pair.objects.filter(project=project).order_by("pk")
    ids = [r.response_id for r in RankedResponse.objects.filter(pair=first)]
    ids += [r.response_id for r in RankedResponse.objects.filter(pair=second)][2:]
    by_index = dict(enumerate(ids))
    votes = {j.pair_id: j for j in first.judgements.all() | second.judgements.all()}
    assert votes[first.pk].ranking == [
        sorted([by_index[0], by_index[3]]),
        [by_index[1]],
        [by_index[2]],
    ]
    assert votes[second.pk].ranking == [
        [by_index[5]],
        [by_index[3]],
        sorted([by_index[2], by_index[4]]),
    ]
    assert votes[first.pk].source == "import" and votes[first.pk].annotator.first_name == "ann-1"
    assert (summary.judgements_created, again.judgements_created, again.judgements_existing) == (
        2,
        0,
        2,
    )


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"ranking": [[0], [1]], "annotator": "a"}, "ranking"),
        ({"ranking": [[0], [1, 1], [2]], "annotator": "a"}, "ranking"),
        ({"ranking": [[0], [1], [2]]}, "annotator"),
    ],
)
def test_it_refuses_a_bad_ranked_row_naming_the_field(
    tmp_path: Path, extra: dict[str, Any], field: str
) -> None:
    project = make_project("ranked", comparison="ranking")
    path = write_jsonl(tmp_path / "r.jsonl", [{**_row("p", 3), **extra}])
    with pytest.raises(ImportFormatError) as refused:
        import_file(project, path)
    assert [(e.line, e.field) for e in refused.value.errors] == [(1, field)]
