from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from django.core.management import call_command

from annotate.exporting.datasets import export_chunks, export_rows, pseudonym
from annotate.importing.pipeline import import_file, refresh_pair_counts
from annotate.models import Judgement, Pair
from tests.factories import demo_rows, make_project, pair_rows, write_jsonl

pytestmark = pytest.mark.django_db


def _export(project: Any, tmp_path: Path, fmt: str, suffix: str = ".jsonl", **kw: Any) -> Path:
    path = tmp_path / f"{project.slug}-{fmt}{suffix}"
    path.write_bytes(b"".join(export_chunks(project, fmt=fmt, file_type=suffix[1:], **kw)))
    return path


def _preferences(project: Any) -> set[tuple[str, str, str]]:
    rows, _ = export_rows(project, fmt="trl")
    return {
        (json.dumps(r["prompt"]), json.dumps(r["chosen"]), json.dumps(r["rejected"])) for r in rows
    }


def _multi_turn_rows(n: int) -> list[dict[str, Any]]:
    """Conversations whose last user turn is judged (message-list prompts)."""
    return [
        {
            "prompt": [
                {"role": "user", "content": f"Name a prime number above {i}."},
                {"role": "assistant", "content": f"{i + 1 if i % 2 else i + 2} might be one."},
                {"role": "user", "content": "Are you sure? Explain."},
            ],
            "response_a": f"Let me check the divisors of the number after {i} again.",
            "response_b": "Yes.",
            "label": "a" if i % 3 else "b",
        }
        for i in range(n)
    ]


def test_trl_export_loads_in_datasets_and_imports_back_unchanged(tmp_path: Path) -> None:
    # given: real labelled data (the demo slice) and multi-turn conversations
    from datasets import load_dataset

    source = make_project("source")
    rows = demo_rows(40) + _multi_turn_rows(6)
    import_file(source, write_jsonl(tmp_path / "source.jsonl", rows))
    # when
    exported = _export(source, tmp_path, "trl")
    dataset = load_dataset("json", data_files=str(exported), split="train")
    copy = make_project("copy")
    import_file(copy, exported)
    # then
    # one pair per distinct comparison; ties are left out
    decided = (
        Pair.objects.filter(project=source, judgements__choice__in=["a", "b"]).distinct().count()
    )
    assert len(dataset) == decided > 0
    assert dataset.column_names == ["prompt", "chosen", "rejected"]
    assert isinstance(dataset[0]["prompt"], list)  # multi-turn: TRL's conversational form
    assert Pair.objects.filter(project=copy).count() == decided
    assert _preferences(copy) == _preferences(source)


def test_trl_export_of_single_turn_prompts_uses_plain_strings(tmp_path: Path) -> None:
    from datasets import load_dataset

    project = make_project()
    import_file(project, write_jsonl(tmp_path / "p.jsonl", pair_rows(6)))
    dataset = load_dataset(
        "parquet", data_files=str(_export(project, tmp_path, "trl", ".parquet")), split="train"
    )
    assert len(dataset) == 6
    assert dataset[0] == {
        "prompt": "q question 0?",
        "chosen": "answer one to q 0",
        "rejected": "answer two to q 0, longer",
    }


def _vote(pair: Pair, choices: list[str], users: list[Any]) -> None:
    for i, (choice, user) in enumerate(zip(choices, users, strict=False)):
        Judgement.objects.create(
            pair=pair, annotator=user, choice=choice, client_id=f"{pair.pk}-{i}"
        )
    refresh_pair_counts(pair.project, {pair.pk})


def test_it_exports_the_majority_and_leaves_out_ties_and_splits(
    tmp_path: Path, admin: Any, annotator: Any, second_annotator: Any
) -> None:
    # given three pairs: 2 of 3 say b; a 1-1 split; a majority of "tie"
    project = make_project()
    import_file(project, write_jsonl(tmp_path / "p.jsonl", pair_rows(3, labelled=False)))
    users = [admin, annotator, second_annotator]
    first, second, third = Pair.objects.order_by("external_id")
    _vote(first, ["b", "b", "a"], users)
    _vote(second, ["a", "b"], users)
    _vote(third, ["tie", "tie", "a"], users)
    # when
    rows, _ = export_rows(project, fmt="trl")
    strict, _ = export_rows(project, fmt="trl", min_agreement=0.7)
    # then
    assert list(rows) == [
        {
            "prompt": "q question 0?",
            "chosen": "answer two to q 0, longer",
            "rejected": "answer one to q 0",
        }
    ]
    assert list(strict) == []


def test_hh_export_writes_full_dialogues(tmp_path: Path) -> None:
    project = make_project()
    import_file(project, write_jsonl(tmp_path / "p.jsonl", pair_rows(1)))
    rows = [json.loads(line) for line in _export(project, tmp_path, "hh").read_text().splitlines()]
    assert rows == [
        {
            "chosen": "\n\nHuman: q question 0?\n\nAssistant: answer one to q 0",
            "rejected": "\n\nHuman: q question 0?\n\nAssistant: answer two to q 0, longer",
        }
    ]


def test_judgement_export_pseudonymizes_annotators(tmp_path: Path, annotator: Any) -> None:
    # given
    project = make_project()
    import_file(project, write_jsonl(tmp_path / "p.jsonl", pair_rows(2, labelled=False)))
    pair = Pair.objects.first()
    assert pair is not None
    Judgement.objects.create(
        pair=pair,
        annotator=annotator,
        choice="a",
        shown_left="b",
        strength=2,
        rationale="clearer",
        duration_ms=4100,
        client_id="c1",
    )
    refresh_pair_counts(project, {pair.pk})
    # when
    table = pq.read_table(_export(project, tmp_path, "judgements", ".parquet"))
    # then
    [row] = table.to_pylist()
    assert row["annotator"] == pseudonym(project, annotator.pk) != ""
    assert annotator.username not in json.dumps(row)
    assert (row["choice"], row["shown_left"], row["strength"], row["duration_ms"]) == (
        "a",
        "b",
        2,
        4100,
    )
    other = make_project("other")
    assert pseudonym(other, annotator.pk) != row["annotator"]


def test_the_export_command_picks_parquet_by_extension(tmp_path: Path) -> None:
    project = make_project("cmd")
    import_file(project, write_jsonl(tmp_path / "p.jsonl", pair_rows(5)))
    out = tmp_path / "out.parquet"
    call_command("export_preferences", "cmd", "--format", "trl", "--output", str(out))
    assert pq.read_table(out).num_rows == 5
