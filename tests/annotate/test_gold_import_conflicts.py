"""Gold labels from a file: one pair's labelled rows must agree, or nothing is imported."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from annotate.formats import MAX_REPORTED_ERRORS, ImportFormatError
from annotate.importing.pipeline import import_file
from annotate.models import Pair, Prompt, Response
from tests.factories import make_project, pair_rows, write_jsonl

pytestmark = pytest.mark.django_db


def _row(label: str | None, *, reversed_: bool = False, prompt: str = "2+2?") -> dict[str, Any]:
    a, b = ("5", "4") if reversed_ else ("4", "5")
    row: dict[str, Any] = {"prompt": prompt, "response_a": a, "response_b": b}
    if label is not None:
        row["label"] = label
    return row


def _gold(tmp_path: Path, rows: list[dict[str, Any]], slug: str = "proj") -> Any:
    path = write_jsonl(tmp_path / f"{slug}.jsonl", rows)
    return import_file(make_project(slug), path, labels="gold")


def test_rows_that_disagree_on_a_pairs_gold_label_are_refused_by_line(tmp_path: Path) -> None:
    # given: lines 1 and 3 are the same pair, labelled a then b; line 2 is another pair
    rows = [_row("a"), _row("a", prompt="3+3?"), _row("b")]
    # when
    with pytest.raises(ImportFormatError) as caught:
        _gold(tmp_path, rows)
    # then both lines are named, and nothing is written
    assert [(e.line, e.field) for e in caught.value.errors] == [(1, "label"), (3, "label")]
    assert caught.value.total == 2
    assert "line 3, field 'label': lines 1 and 3 give one pair different gold labels" in str(
        caught.value
    )
    assert (Prompt.objects.count(), Response.objects.count(), Pair.objects.count()) == (0, 0, 0)


def test_a_reversed_row_is_read_in_the_pairs_terms(tmp_path: Path) -> None:
    # given the same pair with its responses swapped: its b is the first row's a
    summary = _gold(tmp_path, [_row("a"), _row("b", reversed_=True)])
    # then they agree: one pair, gold a
    assert summary.pairs_created == 1
    assert list(Pair.objects.values_list("gold_label", flat=True)) == ["a"]
    # and a swapped row that says a disagrees
    with pytest.raises(ImportFormatError) as caught:
        rows = [_row("tie", prompt="x"), _row("a"), _row("a", reversed_=True)]
        _gold(tmp_path, rows, slug="other")
    assert [e.line for e in caught.value.errors] == [2, 3]


def test_agreeing_rows_and_unlabelled_rows_are_no_conflict(tmp_path: Path) -> None:
    # given an unlabelled first row, then two rows that agree on b, and a pair labelled tie
    rows = [_row(None), _row("b"), _row("b"), _row("tie", prompt="3+3?")]
    # when
    _gold(tmp_path, rows)
    # then the label the rows agree on is the gold one, though the first row had none
    assert list(Pair.objects.order_by("pk").values_list("gold_label", flat=True)) == ["b", "tie"]


def test_a_tie_against_a_side_is_a_conflict_and_every_pair_is_counted(tmp_path: Path) -> None:
    # given more disagreeing pairs than an error report shows
    rows = [_row(label, prompt=f"q{i}") for i in range(MAX_REPORTED_ERRORS) for label in "ab"]
    rows += [_row("tie"), _row("a")]
    with pytest.raises(ImportFormatError) as caught:
        _gold(tmp_path, rows)
    assert len(caught.value.errors) == MAX_REPORTED_ERRORS
    assert caught.value.total == 2 * MAX_REPORTED_ERRORS + 2
    assert f"and {caught.value.total - MAX_REPORTED_ERRORS} more" in str(caught.value)


def test_csv_lines_count_the_header_and_the_command_fails(tmp_path: Path) -> None:
    # given a CSV file: the header is line 1, the disagreeing rows are lines 2 and 4
    make_project("cmd")
    path = tmp_path / "gold.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["prompt", "response_a", "response_b", "label"])
        writer.writeheader()
        writer.writerows([_row("a"), _row("b", prompt="3+3?"), _row("b")])
    # when / then
    with pytest.raises(CommandError, match=r"line 2, field 'label': lines 2 and 4 give"):
        call_command("import_pairs", "cmd", str(path), "--labels", "gold")
    assert Pair.objects.count() == 0


def test_labels_as_judgements_may_still_disagree(tmp_path: Path) -> None:
    # given the same rows imported as votes: two annotators may well disagree
    path = write_jsonl(tmp_path / "votes.jsonl", [_row("a"), _row("b"), *pair_rows(1)])
    summary = import_file(make_project(), path)
    assert summary.judgements_created == 3
