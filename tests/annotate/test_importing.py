from __future__ import annotations

import csv
import json
import threading
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from annotate.formats import ImportFormatError
from annotate.importing.pipeline import import_file
from annotate.models import Judgement, Pair, PairStatus, Prompt, Response
from tests.factories import make_project, pair_rows, write_jsonl

pytestmark = pytest.mark.django_db

MULTI_TURN = [
    {"role": "user", "content": "Hi, I need a recipe."},
    {"role": "assistant", "content": "Sure, for what?"},
    {"role": "user", "content": "Pancakes."},
]

JOKE = "\n\nHuman: Hi\n\nAssistant: Hello!\n\nHuman: Tell a joke"

ROWS_BY_FORMAT: dict[str, list[dict[str, Any]]] = {
    "pairs": [
        {"prompt": "2+2?", "response_a": "4", "response_b": "5", "label": "a", "model_a": "m1"},
        {"prompt": MULTI_TURN, "response_a": "Flour, eggs.", "response_b": "No.", "label": "a"},
        {"prompt": "Capital of France?", "response_a": "Lyon", "response_b": "Paris", "label": "b"},
    ],
    "responses": [
        {
            "prompt": "Name a colour",
            "responses": [{"text": "red", "model": "m1"}, {"text": "blue"}, {"text": "green"}],
        },
    ],
    "trl": [
        {"prompt": "2+2?", "chosen": "4", "rejected": "5"},
        {
            "prompt": MULTI_TURN,
            "chosen": [{"role": "assistant", "content": "Flour, eggs."}],
            "rejected": [{"role": "assistant", "content": "No."}],
        },
    ],
    "hh": [
        {
            "chosen": "\n\nHuman: 2+2?\n\nAssistant: 4",
            "rejected": "\n\nHuman: 2+2?\n\nAssistant: 5",
        },
        {
            "chosen": JOKE + "\n\nAssistant: Knock knock",
            "rejected": JOKE + "\n\nAssistant: No",
        },
    ],
}
# (pairs, judgements) each format's rows make.
EXPECTED = {"pairs": (3, 3), "responses": (3, 0), "trl": (2, 2), "hh": (2, 2)}


def _write(path: Path, rows: list[dict[str, Any]]) -> Path:
    if path.suffix == ".jsonl":
        return write_jsonl(path, rows)
    encoded = [
        {k: json.dumps(v) if isinstance(v, list | dict) else v for k, v in row.items()}
        for row in rows
    ]
    if path.suffix == ".csv":
        columns = sorted({key for row in rows for key in row})
        with path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows(encoded)
        return path
    columns = sorted({key for row in rows for key in row})
    table = pa.table({c: [row.get(c) for row in encoded] for c in columns})
    pq.write_table(table, path)
    return path


def _winners() -> set[tuple[str, str]]:
    """(last prompt turn, preferred response text) of every a/b judgement."""
    result = set()
    for j in Judgement.objects.select_related(
        "pair__prompt", "pair__response_a", "pair__response_b"
    ):
        winner = j.pair.response_a if j.choice == "a" else j.pair.response_b
        result.add((j.pair.prompt.messages[-1]["content"], winner.text))
    return result


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
@pytest.mark.parametrize("fmt", sorted(ROWS_BY_FORMAT))
def test_it_imports_each_format_from_each_file_type(tmp_path: Path, fmt: str, suffix: str) -> None:
    # given
    project = make_project()
    path = _write(tmp_path / f"data{suffix}", ROWS_BY_FORMAT[fmt])
    # when
    summary = import_file(project, path)
    # then
    pairs, judgements = EXPECTED[fmt]
    assert summary.format == fmt
    assert (Pair.objects.count(), Judgement.objects.count()) == (pairs, judgements)
    assert summary.pairs_created == pairs
    if fmt in ("trl", "hh"):
        assert ("2+2?", "4") in _winners()
    if fmt == "pairs":
        assert _winners() == {
            ("2+2?", "4"),
            ("Pancakes.", "Flour, eggs."),
            ("Capital of France?", "Paris"),
        }
        assert Response.objects.get(text="4").model_name == "m1"
    if fmt in ("pairs", "trl"):
        assert Prompt.objects.get(turn_count=2).messages == MULTI_TURN
    if fmt == "hh":
        joke = Prompt.objects.get(turn_count=2)
        assert [m["role"] for m in joke.messages] == ["user", "assistant", "user"]


def test_it_reports_every_bad_line_and_writes_nothing(tmp_path: Path) -> None:
    # given: bad JSON on line 2, a missing field on line 4, an unknown label on line 5
    good = pair_rows(5)
    lines = [json.dumps(good[0]), '{"prompt": "broken', json.dumps(good[1])]
    lines.append(json.dumps({k: v for k, v in good[2].items() if k != "response_b"}))
    lines.append(json.dumps({**good[3], "label": "left"}))
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n")
    project = make_project()
    # when
    with pytest.raises(ImportFormatError) as caught:
        import_file(project, path)
    # then
    found = {(e.line, e.field) for e in caught.value.errors}
    assert found == {(2, ""), (4, "response_b"), (5, "label")}
    assert "line 4, field 'response_b': is missing" in str(caught.value)
    assert (Prompt.objects.count(), Pair.objects.count(), Judgement.objects.count()) == (0, 0, 0)


def test_it_names_csv_lines_counting_the_header(tmp_path: Path) -> None:
    rows = pair_rows(3)
    rows[1]["prompt"] = ""
    path = _write(tmp_path / "bad.csv", rows)
    with pytest.raises(ImportFormatError) as caught:
        import_file(make_project(), path)
    assert [(e.line, e.field) for e in caught.value.errors] == [(3, "prompt")]


def test_it_adds_nothing_when_the_same_file_is_imported_twice(tmp_path: Path) -> None:
    # given
    project = make_project()
    path = write_jsonl(tmp_path / "p.jsonl", pair_rows(20))
    import_file(project, path)
    # when
    again = import_file(project, path)
    # then
    assert (again.pairs_created, again.judgements_created, again.prompts_created) == (0, 0, 0)
    assert again.pairs_existing == 20
    assert "Nothing new" in again.describe()
    assert (Pair.objects.count(), Judgement.objects.count()) == (20, 20)


def test_it_treats_a_reversed_pair_as_the_same_pair_and_maps_its_label(tmp_path: Path) -> None:
    # given: the same two responses, a/b swapped, labelled for the same winner
    project = make_project()
    import_file(
        project,
        write_jsonl(
            tmp_path / "1.jsonl",
            [{"prompt": "p", "response_a": "good", "response_b": "bad", "label": "a"}],
        ),
    )
    # when
    summary = import_file(
        project,
        write_jsonl(
            tmp_path / "2.jsonl",
            [{"prompt": "p", "response_a": "bad", "response_b": "good", "label": "b"}],
        ),
    )
    # then: one pair, and the label is recognised as the same judgement
    assert Pair.objects.count() == 1
    assert summary.judgements_created == 0
    assert _winners() == {("p", "good")}


def test_it_marks_pairs_complete_at_the_overlap_target(tmp_path: Path) -> None:
    project = make_project(judgements_per_pair=1)
    import_file(project, write_jsonl(tmp_path / "p.jsonl", pair_rows(4)))
    assert set(Pair.objects.values_list("status", "judgement_count")) == {(PairStatus.COMPLETE, 1)}


def test_it_keeps_labels_as_hidden_gold_when_asked(tmp_path: Path) -> None:
    project = make_project()
    import_file(project, write_jsonl(tmp_path / "p.jsonl", pair_rows(4)), labels="gold")
    assert Judgement.objects.count() == 0
    assert list(Pair.objects.order_by("external_id").values_list("gold_label", flat=True)) == [
        "a",
        "b",
        "a",
        "b",
    ]
    assert set(Pair.objects.values_list("status", flat=True)) == {PairStatus.PENDING}


def test_the_command_prints_what_it_created_and_skipped(tmp_path: Path, capsys: Any) -> None:
    make_project("cmd")
    path = write_jsonl(tmp_path / "p.jsonl", pair_rows(3))
    call_command("import_pairs", "cmd", str(path))
    call_command("import_pairs", "cmd", str(path))
    out = capsys.readouterr().out
    assert "pairs: 3 created, 0 already present" in out
    assert "pairs: 0 created, 3 already present" in out


def test_the_command_fails_on_invalid_input(tmp_path: Path) -> None:
    make_project("cmd")
    path = tmp_path / "bad.jsonl"
    path.write_text('{"prompt": "x", "response_a": "y"}\n')
    with pytest.raises(CommandError, match="line 1"):
        call_command("import_pairs", "cmd", str(path))
    assert Pair.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_imports_of_one_file_store_each_pair_once(tmp_path: Path) -> None:
    # given
    project = make_project()
    path = write_jsonl(tmp_path / "p.jsonl", pair_rows(300))
    errors: list[BaseException] = []

    def run() -> None:
        try:
            import_file(project, path)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    # when
    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # then
    assert errors == []
    assert (Prompt.objects.count(), Pair.objects.count(), Judgement.objects.count()) == (
        300,
        300,
        300,
    )
    assert set(Pair.objects.values_list("judgement_count", flat=True)) == {1}
