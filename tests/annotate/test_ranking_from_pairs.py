"""A `pairs` import into a ranking project: the pairs sharing a prompt become its ranking
items, made as a `responses` row of the same candidates would make them."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings

from annotate.formats import ImportFormatError
from annotate.importing.pipeline import import_file
from annotate.models import Judgement, Pair, Project, Response
from tests.factories import item_response_ids, make_project, write_jsonl

pytestmark = pytest.mark.django_db


def _pair(prompt: str, a: str, b: str, **extra: Any) -> dict[str, Any]:
    return {"prompt": prompt, "response_a": a, "response_b": b, **extra}


def _texts(pair: Pair) -> list[str]:
    ids = item_response_ids(pair)
    texts = dict(Response.objects.filter(pk__in=ids).values_list("pk", "text"))
    return [texts[pk] for pk in ids]


def _items(project: Project) -> list[list[str]]:
    return [_texts(p) for p in Pair.objects.filter(project=project).order_by("pk")]


ROWS = [
    _pair("p", "A", "B", model_a="m1", model_b="m2"),
    _pair("q", "X", "Y"),
    _pair("p", "C", "A", model_a="m3", model_b="m4"),
    _pair("p", "B", "D", model_b="m5"),
]


def test_pairs_sharing_a_prompt_become_one_item_in_first_seen_order(tmp_path: Path) -> None:
    # given
    project = make_project("ranked", comparison="ranking", max_ranked=4)
    path = write_jsonl(tmp_path / "p.jsonl", ROWS)
    # when
    summary = import_file(project, path)
    # then p's four responses are one item in the order the file first names them
    assert _items(project) == [["A", "B", "C", "D"], ["X", "Y"]]
    sources = {
        r.text: sorted(r.sources.values_list("model_name", flat=True))
        for r in Response.objects.filter(prompt__project=project)
    }
    assert sources == {
        "A": ["m1", "m4"],
        "B": ["m2"],
        "C": ["m3"],
        "D": ["m5"],
        "X": [],
        "Y": [],
    }
    first = Pair.objects.filter(project=project).order_by("pk").first()
    assert first is not None
    assert (first.response_a.text, first.response_b.text) == ("A", "B")
    assert (summary.format, summary.rows, summary.rows_gathered) == ("pairs", 4, 4)
    assert (summary.prompts_created, summary.responses_created, summary.pairs_created) == (2, 6, 2)
    assert summary.sources_created == 5
    assert "pairs rows: 4 gathered into the ranking items of their 2 prompts" in (
        summary.describe()
    )


def test_reimporting_the_pairs_is_a_no_op(tmp_path: Path) -> None:
    # given
    project = make_project("ranked", comparison="ranking", max_ranked=4)
    path = write_jsonl(tmp_path / "p.jsonl", ROWS)
    import_file(project, path)
    # when
    again = import_file(project, path)
    # then
    assert (again.pairs_created, again.pairs_existing) == (0, 2)
    assert (again.responses_created, again.responses_existing, again.sources_created) == (0, 6, 0)
    assert again.rows_gathered == 4
    assert "Nothing new" in again.describe()
    assert Pair.objects.filter(project=project).count() == 2


def test_a_responses_row_of_the_same_candidates_finds_the_same_items(tmp_path: Path) -> None:
    # given six candidates of one prompt, ranked three at a time: items 0-2, 2-4 and 3-5
    project = make_project("ranked", comparison="ranking", max_ranked=3)
    rows = [_pair("p", "A", "B"), _pair("p", "C", "D"), _pair("p", "E", "F"), _pair("p", "A", "F")]
    import_file(project, write_jsonl(tmp_path / "p.jsonl", rows))
    before = _items(project)
    # when
    same = {"prompt": "p", "responses": ["A", "B", "C", "D", "E", "F"]}
    summary = import_file(project, write_jsonl(tmp_path / "r.jsonl", [same]))
    # then
    assert before == [["A", "B", "C"], ["C", "D", "E"], ["D", "E", "F"]]
    assert (summary.pairs_created, summary.pairs_existing) == (0, 3)
    assert _items(project) == before


def test_the_pairs_find_the_items_a_responses_row_made(tmp_path: Path) -> None:
    # given
    project = make_project("ranked", comparison="ranking", max_ranked=4)
    row = {"prompt": "p", "responses": ["A", "B", "C"]}
    import_file(project, write_jsonl(tmp_path / "r.jsonl", [row]))
    # when
    rows = [_pair("p", "A", "B"), _pair("p", "C", "B")]
    summary = import_file(project, write_jsonl(tmp_path / "p.jsonl", rows))
    # then
    assert (summary.pairs_created, summary.pairs_existing, summary.responses_created) == (0, 1, 0)
    assert _items(project) == [["A", "B", "C"]]


def test_a_prompt_of_one_pair_is_an_item_of_two_as_a_responses_row_of_two(tmp_path: Path) -> None:
    # given
    project = make_project("ranked", comparison="ranking", max_ranked=4)
    path = write_jsonl(tmp_path / "p.jsonl", [_pair("p", "A", "B"), _pair("p", "B", "A")])
    # when
    import_file(project, path)
    row = {"prompt": "p", "responses": ["B", "A"]}
    again = import_file(project, write_jsonl(tmp_path / "r.jsonl", [row]))
    # then
    assert _items(project) == [["A", "B"]]
    assert (again.pairs_created, again.pairs_existing) == (0, 1)


@pytest.mark.parametrize("labels", ["judgements", "gold"])
def test_labelled_pairs_are_refused_by_line_and_nothing_is_imported(
    tmp_path: Path, labels: str
) -> None:
    # given
    project = make_project("ranked", comparison="ranking")
    rows = [_pair("p", "A", "B"), _pair("p", "A", "C", label="a"), _pair("q", "X", "Y", label="b")]
    path = write_jsonl(tmp_path / "p.jsonl", rows)
    # when
    with pytest.raises(ImportFormatError) as refused:
        import_file(project, path, labels=labels)
    # then
    assert [(e.line, e.field) for e in refused.value.errors] == [(2, "label"), (3, "label")]
    assert "import votes as `rankings` rows" in str(refused.value)
    assert "--labels ignore" in str(refused.value)
    assert not Pair.objects.exists() and not Response.objects.exists()


def test_with_labels_ignored_labelled_pairs_import_as_items_without_votes(tmp_path: Path) -> None:
    # given
    project = make_project("ranked", comparison="ranking")
    rows = [_pair("p", "A", "B", label="a"), _pair("p", "A", "C", label="tie")]
    path = write_jsonl(tmp_path / "p.jsonl", rows)
    # when
    summary = import_file(project, path, labels="ignore")
    # then
    assert _items(project) == [["A", "B", "C"]]
    assert summary.judgements_created == 0 and not Judgement.objects.exists()


def test_bad_rows_are_refused_by_line_and_nothing_is_imported(tmp_path: Path) -> None:
    # given a missing response, a row of another format, and a pair of one text twice
    project = make_project("ranked", comparison="ranking")
    rows = [
        _pair("p", "A", "B"),
        {"prompt": "p", "response_a": "C"},
        {"prompt": "p", "responses": ["A", "D"]},
        _pair("q", "X", "X"),
    ]
    path = write_jsonl(tmp_path / "p.jsonl", rows)
    # when
    with pytest.raises(ImportFormatError) as refused:
        import_file(project, path)
    # then
    assert [e.line for e in refused.value.errors] == [2, 3, 4]
    assert refused.value.errors[0].field == "response_b"
    assert "a responses row among pairs" in refused.value.errors[1].message
    assert not Pair.objects.exists()


@override_settings(IMPORT_MAX_RESPONSES_PER_PROMPT=3)
def test_a_prompt_past_the_responses_limit_is_refused_at_the_line_that_passes_it(
    tmp_path: Path,
) -> None:
    # given
    project = make_project("ranked", comparison="ranking")
    rows = [_pair("p", "A", "B"), _pair("q", "X", "Y"), _pair("p", "B", "C"), _pair("p", "A", "D")]
    path = write_jsonl(tmp_path / "p.jsonl", rows)
    # when
    with pytest.raises(ImportFormatError) as refused:
        import_file(project, path)
    # then
    assert [(e.line, e.field) for e in refused.value.errors] == [(4, "response_b")]
    assert "IMPORT_MAX_RESPONSES_PER_PROMPT" in str(refused.value)
    assert not Response.objects.exists() and not Pair.objects.exists()


def test_a_csv_of_pairs_with_empty_labels_imports_as_items(tmp_path: Path) -> None:
    # given
    project = make_project("ranked", comparison="ranking")
    path = tmp_path / "p.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, ["prompt", "response_a", "response_b", "label"])
        writer.writeheader()
        writer.writerows([_pair("p", "A", "B", label=""), _pair("p", "C", "B", label="")])
    # when
    summary = import_file(project, path)
    # then
    assert _items(project) == [["A", "B", "C"]]
    assert summary.rows_gathered == 2
