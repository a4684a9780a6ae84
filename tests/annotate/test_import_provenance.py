"""A labelled row is a vote: rows whose texts repeat are merged into one pair, never dropped."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from annotate.importing.pipeline import import_file
from annotate.leaderboard.board import project_leaderboard
from annotate.models import Judgement, Pair, Response, ResponseSource
from tests.factories import make_project, write_jsonl

pytestmark = pytest.mark.django_db


def _row(a_model: str, b_model: str, b_text: str, label: str, *, a: str = "Four.") -> Any:
    return {
        "prompt": "2+2?",
        "response_a": a,
        "response_b": b_text,
        "model_a": a_model,
        "model_b": b_model,
        "label": label,
    }


ROWS = [
    # Y and Z wrote the same text: one pair, two comparisons, two votes
    _row("X", "Y", "Five.", "a"),
    _row("X", "Z", "Five.", "a"),
    # the same comparison named the other way round, with the opposite label
    _row("Z", "X", "Four.", "a", a="Five."),
    # an exact repeat of the first row: a second vote of that comparison
    _row("X", "Y", "Five.", "a"),
    # another prompt
    {
        "prompt": "Capital?",
        "response_a": "Paris",
        "response_b": "Lyon",
        "label": "a",
        "model_a": "Y",
        "model_b": "Z",
    },
]


def test_every_labelled_row_is_a_vote_with_the_models_it_named(tmp_path: Path) -> None:
    # given a file whose first four rows name the same two texts
    project = make_project(judgements_per_pair=10)
    path = write_jsonl(tmp_path / "votes.jsonl", ROWS)

    # when it is imported
    summary = import_file(project, path)

    # then every row is a vote; the texts make two pairs and three responses
    assert Pair.objects.filter(project=project).count() == 2
    assert Judgement.objects.count() == 5
    pair = Pair.objects.get(prompt__messages__0__content="2+2?")
    assert pair.judgement_count == 4
    # in the pair's own a/b terms ("Four." first): the file's "Z vs X, a" is Z beating X
    assert pair.response_a.text == "Four."
    votes = sorted(pair.judgements.values_list("model_a", "model_b", "choice"))
    assert votes == [("X", "Y", "a"), ("X", "Y", "a"), ("X", "Z", "a"), ("X", "Z", "b")]
    # and both models that wrote "Five." are known
    five = Response.objects.get(text="Five.")
    assert set(five.sources.values_list("model_name", flat=True)) == {"Y", "Z"}
    assert ResponseSource.objects.count() == 5

    # and the summary accounts for every row
    assert summary.rows == 5
    assert (summary.comparisons_created, summary.comparisons_merged) == (2, 3)
    assert summary.comparisons_skipped == 0
    assert summary.judgements_created == 5
    assert "3 merged into a pair already present" in summary.describe()


def test_the_leaderboard_counts_every_comparison_the_file_made(tmp_path: Path) -> None:
    # given the file above
    project = make_project(judgements_per_pair=10)
    import_file(project, write_jsonl(tmp_path / "votes.jsonl", ROWS))

    # when the leaderboard is built
    board = project_leaderboard(project, rounds=200)

    # then it counts five votes: X won three (two against Y, one against Z), lost one to Z
    assert board.votes == 5
    rows = {row.model: row for row in board.models}
    assert (rows["X"].votes, rows["X"].wins, rows["X"].losses) == (4, 3, 1)
    assert (rows["Y"].votes, rows["Y"].wins, rows["Y"].losses) == (3, 1, 2)
    assert (rows["Z"].votes, rows["Z"].wins, rows["Z"].losses) == (3, 1, 2)


def test_importing_the_same_file_again_adds_nothing(tmp_path: Path) -> None:
    # given the file imported once
    project = make_project(judgements_per_pair=10)
    path = write_jsonl(tmp_path / "votes.jsonl", ROWS)
    import_file(project, path)

    # when it is imported again
    again = import_file(project, path)

    # then every row is an exact re-import
    assert Judgement.objects.count() == 5
    assert (again.comparisons_created, again.comparisons_merged) == (0, 0)
    assert again.comparisons_skipped == 5
    assert again.judgements_created == 0


def test_a_new_file_adds_only_its_new_comparisons(tmp_path: Path) -> None:
    # given the file imported once
    project = make_project(judgements_per_pair=10)
    import_file(project, write_jsonl(tmp_path / "votes.jsonl", ROWS))

    # when a second file repeats one comparison twice (one more than stored) and adds a model
    more = [_row("X", "Y", "Five.", "a")] * 3 + [_row("X", "W", "Five.", "b")]
    summary = import_file(project, write_jsonl(tmp_path / "more.jsonl", more))

    # then the third X-vs-Y vote and the X-vs-W vote are new; W is a source of "Five."
    assert summary.judgements_created == 2
    assert (summary.comparisons_merged, summary.comparisons_skipped) == (2, 2)
    assert Judgement.objects.count() == 7
    assert Response.objects.get(text="Five.").sources.filter(model_name="W").exists()


def test_unlabelled_rows_keep_every_model_that_wrote_a_text(tmp_path: Path) -> None:
    # given the same two texts from three models, no labels
    project = make_project()
    rows = [{k: v for k, v in row.items() if k != "label"} for row in ROWS[:3]]

    # when imported
    summary = import_file(project, write_jsonl(tmp_path / "pending.jsonl", rows))

    # then one pair, the second and third rows merged into it with their models kept
    assert Pair.objects.count() == 1
    assert (summary.comparisons_created, summary.comparisons_merged) == (1, 2)
    assert set(ResponseSource.objects.values_list("model_name", flat=True)) == {"X", "Y", "Z"}


def test_the_pairs_browser_finds_a_pair_by_any_model_that_wrote_its_texts(
    tmp_path: Path, admin: Any
) -> None:
    # given the merged pair, whose "Five." Y wrote first and Z too
    project = make_project(admin=admin, judgements_per_pair=10)
    import_file(project, write_jsonl(tmp_path / "votes.jsonl", ROWS))
    client = Client()
    client.force_login(admin)

    # when the admin filters by Z
    page = client.get(f"/projects/{project.slug}/pairs", {"model": "Z"}).content.decode()

    # then the pair is listed, and Z is among the suggested models
    pair = Pair.objects.get(prompt__messages__0__content="2+2?")
    assert f'data-pair="{pair.pk}"' in page
    assert '<option value="Z">' in page or 'value="Z"' in page
