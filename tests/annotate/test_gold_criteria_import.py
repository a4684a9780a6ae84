"""Pairwise gold per criterion from a file, gold that differs from an existing pair's, and
the quality report's gold accuracy counting check questions as the pause does."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from annotate.formats import ImportFormatError
from annotate.importing.pipeline import import_file
from annotate.judging.gold import gold_record
from annotate.models import Judgement, Pair, Project
from annotate.quality.report import quality_report
from tests.annotate.statistics_support import fetched
from tests.conftest import client_for
from tests.factories import make_project, write_jsonl

pytestmark = pytest.mark.django_db

CRITERIA = [
    {"name": "helpful", "guidance": "", "required": False},
    {"name": "honest", "guidance": "", "required": False},
]


def _row(label: str | None, *, reversed_: bool = False, prompt: str = "2+2?", **extra: Any) -> Any:
    a, b = ("5", "4") if reversed_ else ("4", "5")
    row: dict[str, Any] = {"prompt": prompt, "response_a": a, "response_b": b, **extra}
    if label is not None:
        row["label"] = label
    return row


def _project(**options: Any) -> Project:
    return make_project("crit", criteria=CRITERIA, **options)


def _gold(tmp_path: Path, project: Project, rows: list[dict[str, Any]], name: str = "g") -> Any:
    return import_file(project, write_jsonl(tmp_path / f"{name}.jsonl", rows), labels="gold")


def _stored() -> list[tuple[str, Any]]:
    return list(Pair.objects.order_by("pk").values_list("gold_label", "gold_criteria"))


def test_columns_and_an_object_set_the_pairs_gold_per_criterion(tmp_path: Path) -> None:
    # given one row with criterion_ columns and one with a criteria object
    rows = [
        _row("a", criterion_helpful="a", criterion_honest="both_bad"),
        _row("b", prompt="3+3?", criteria={"honest": "tie"}),
        _row("tie", prompt="4+4?"),
    ]
    # when
    _gold(tmp_path, _project(), rows)
    # then each pair has its gold label and the criteria its row gave, in the project's order
    assert _stored() == [
        ("a", {"helpful": "a", "honest": "both_bad"}),
        ("b", {"honest": "tie"}),
        ("tie", None),
    ]


def test_a_reversed_rows_criteria_are_read_in_the_pairs_terms(tmp_path: Path) -> None:
    # given the same pair twice, the second row with its responses swapped
    rows = [_row("a", criterion_helpful="b"), _row("b", reversed_=True, criterion_helpful="a")]
    # when
    _gold(tmp_path, _project(), rows)
    # then they agree
    assert _stored() == [("a", {"helpful": "b"})]


def test_an_unknown_criterion_is_refused_at_its_line(tmp_path: Path) -> None:
    rows = [_row("a"), _row("a", prompt="3+3?", criterion_kind="a")]
    with pytest.raises(ImportFormatError) as caught:
        _gold(tmp_path, _project(), rows)
    assert [(e.line, e.field) for e in caught.value.errors] == [(2, "criterion_kind")]
    assert "'kind' is not a criterion of this project (helpful, honest)" in str(caught.value)
    assert Pair.objects.count() == 0


def test_criteria_need_the_rows_gold_label_and_a_known_vote(tmp_path: Path) -> None:
    rows = [_row(None, criterion_helpful="a"), _row("a", prompt="x", criteria={"honest": "c"})]
    with pytest.raises(ImportFormatError) as caught:
        _gold(tmp_path, _project(), rows)
    assert [(e.line, e.field) for e in caught.value.errors] == [(1, "label"), (2, "criteria")]
    assert caught.value.total == 2


def test_rows_that_disagree_on_a_criterion_are_counted_conflicts(tmp_path: Path) -> None:
    # given lines 1 and 3 agree on the label but not on helpful (line 3 is swapped)
    rows = [
        _row("a", criterion_helpful="a"),
        _row("a", prompt="3+3?"),
        _row("b", reversed_=True, criterion_helpful="a"),
    ]
    with pytest.raises(ImportFormatError) as caught:
        _gold(tmp_path, _project(), rows)
    assert [(e.line, e.field) for e in caught.value.errors] == [(1, "criteria"), (3, "criteria")]
    assert caught.value.total == 2
    assert "lines 1 and 3 give one pair different gold for 'helpful'" in str(caught.value)
    assert Pair.objects.count() == 0


def test_a_gold_differing_from_an_existing_pairs_is_a_conflict(tmp_path: Path) -> None:
    # given a gold pair from an earlier file
    project = _project()
    _gold(tmp_path, project, [_row("a", criterion_helpful="a")], name="first")
    # when a second file says otherwise of its label (line 2) and of helpful (line 3)
    rows = [
        _row("tie", prompt="new?"),
        _row("b"),
        _row("a", reversed_=True, criterion_helpful="a"),
    ]
    with pytest.raises(ImportFormatError) as caught:
        _gold(tmp_path, project, rows, name="second")
    # then both lines are named, and nothing of the file is written
    assert [(e.line, e.field) for e in caught.value.errors] == [
        (2, "label"),
        (3, "label"),
        (3, "criteria"),
    ]
    assert "the pair already has a different gold label" in str(caught.value)
    assert "the pair already has a different gold for 'helpful'" in str(caught.value)
    assert _stored() == [("a", {"helpful": "a"})]


def test_the_same_gold_again_is_no_conflict(tmp_path: Path) -> None:
    # given a plain pairwise project's gold pair, imported again, once swapped
    project = make_project("plain")
    _gold(tmp_path, project, [_row("a")], name="first")
    summary = _gold(tmp_path, project, [_row("b", reversed_=True)], name="second")
    assert summary.pairs_existing == 1
    assert _stored() == [("a", None)]


def test_criteria_columns_are_ignored_without_criteria_or_gold(tmp_path: Path) -> None:
    # given a project without criteria: a criterion column means nothing there
    _gold(tmp_path, make_project("plain"), [_row("a", criterion_helpful="a")])
    assert _stored() == [("a", None)]
    # and labels as judgements leave gold alone
    project = _project()
    import_file(project, write_jsonl(tmp_path / "v.jsonl", [_row("b", criterion_helpful="x")]))
    assert list(project.pairs.values_list("gold_label", "gold_criteria")) == [("", None)]


def test_csv_criterion_columns_with_empty_cells(tmp_path: Path) -> None:
    # given a CSV file where the second row leaves helpful empty
    path = tmp_path / "gold.csv"
    fields = ["prompt", "response_a", "response_b", "label", "criterion_helpful"]
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerow(_row("a", criterion_helpful="b"))
        writer.writerow(_row("b", prompt="3+3?", criterion_helpful=""))
    import_file(_project(), path, labels="gold")
    assert _stored() == [("a", {"helpful": "b"}), ("b", None)]


def _vote(pair: Pair, user: Any, choice: str, criteria: dict[str, str] | None = None) -> None:
    Judgement.objects.create(
        pair=pair,
        annotator=user,
        choice=choice,
        criteria=criteria,
        client_id=f"{user.pk}-{pair.pk}",
    )


def test_the_reports_gold_accuracy_counts_each_criterion_as_the_pause_does(
    tmp_path: Path, django_user_model: Any, admin: Any
) -> None:
    # given gold pairs imported with gold per criterion, and an annotator who gets every
    # overall preference right but helpful wrong once
    project = make_project("crit", criteria=CRITERIA, admin=admin)
    rows = [
        _row("a", criterion_helpful="b"),
        _row("b", prompt="3+3?", criterion_helpful="b", criterion_honest="a"),
    ]
    _gold(tmp_path, project, rows)
    first, second = Pair.objects.order_by("pk")
    rater = django_user_model.objects.create_user("rater")
    _vote(first, rater, "a", {"helpful": "a"})  # overall right, helpful wrong
    _vote(second, rater, "b", {"helpful": "b"})  # right twice; honest not voted: not asked
    # when
    report = quality_report(project)
    body = fetched(client_for(admin), f"/api/projects/{project.slug}/quality").json()
    # then 3 of 4 check questions, the record the pause reads, on the report and the API
    assert gold_record(rater.pk, project) == (3, 4)
    (row,) = report["annotators"]
    assert (row["gold"]["k"], row["gold"]["n"]) == (3, 4)
    assert (body["annotators"][0]["gold"]["k"], body["annotators"][0]["gold"]["n"]) == (3, 4)


def test_a_plain_projects_gold_accuracy_is_its_votes_against_the_labels(
    tmp_path: Path, django_user_model: Any
) -> None:
    # given a plain pairwise project with two gold pairs, one voted right, one wrong
    project = make_project("plain")
    _gold(tmp_path, project, [_row("a"), _row("tie", prompt="3+3?")])
    first, second = Pair.objects.order_by("pk")
    rater = django_user_model.objects.create_user("rater")
    _vote(first, rater, "a")
    _vote(second, rater, "b")
    # when
    with CaptureQueriesContext(connection) as queries:
        report = quality_report(project)
    # then 1 of 2, read from the votes the report reads anyway (no gold criteria looked up)
    (row,) = report["annotators"]
    assert (row["gold"]["k"], row["gold"]["n"]) == (1, 2)
    assert not any("gold_criteria" in q["sql"] for q in queries.captured_queries)
