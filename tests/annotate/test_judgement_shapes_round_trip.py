"""The `judgements` export and import with what a judgement holds beyond the choice: one
column per criterion, the ranking and the ratings, exported, imported into a fresh project with
the same settings and exported again unchanged; bad shapes named by line."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from annotate.formats import ImportFormatError
from annotate.importing.pipeline import import_file
from annotate.models import Judgement, Project
from annotate.projects.members import set_member
from tests.conftest import client_for, streamed
from tests.factories import make_project, pair_rows, write_jsonl

pytestmark = pytest.mark.django_db

CRITERIA = [
    {"name": "helpful", "guidance": "", "required": True},
    {"name": "safe", "guidance": "", "required": False},
]
# What differs between two projects holding the same votes: database ids, the per-project
# pseudonyms, and where the vote came from.
LOCAL = ("pair_id", "annotator", "source")


def _export(user: Any, project: Project, file: str = "jsonl") -> bytes:
    url = f"/api/projects/{project.slug}/export"
    response = client_for(user).get(url, {"format": "judgements", "file": file})
    assert response.status_code == 200, response.content
    return streamed(response)


def _rows(body: bytes, file: str = "jsonl") -> list[dict[str, Any]]:
    if file == "parquet":
        return pq.read_table(io.BytesIO(body)).to_pylist()
    return [json.loads(line) for line in body.splitlines()]


def _portable(rows: list[dict[str, Any]]) -> list[str]:
    """The rows without what is local to one project, in a stable order, with which rows
    share an annotator kept (as the annotator's first row)."""
    first: dict[str, int] = {}
    kept = []
    for index, row in enumerate(rows):
        who = first.setdefault(row["annotator"], index)
        kept.append({k: v for k, v in row.items() if k not in LOCAL} | {"who": who})
    return sorted(json.dumps(row, sort_keys=True) for row in kept)


def _judge(user: Any, assignment: int, **body: Any) -> Any:
    body.setdefault("client_id", f"{user.pk}-{assignment}")
    url = f"/api/assignments/{assignment}/judgement?next=1"
    response = client_for(user).post(url, body, format="json")
    assert response.status_code == 201, response.json()
    return response.json()["next"]


def _criterion_by_pair(rows: list[dict[str, Any]]) -> dict[int, Any]:
    return {row["pair_id"]: row["criterion_helpful"] for row in rows}


def _member(project: Project, *users: Any) -> None:
    for user in users:
        set_member(project, username=user.username, role="annotator")


def test_a_pairwise_export_with_criteria_and_ratings_imports_back_unchanged(
    admin: Any, annotator: Any, second_annotator: Any, tmp_path: Path
) -> None:
    # given two annotators' votes with criteria and ratings on two pairs
    settings = {"criteria": CRITERIA, "rating_scale": [1, 2, 3, 4, 5], "judgements_per_pair": 2}
    pairs = write_jsonl(tmp_path / "pairs.jsonl", pair_rows(2, labelled=False))
    first = make_project("first", admin=admin, **settings)
    _member(first, annotator, second_annotator)
    import_file(first, pairs)
    for user, vote in ((annotator, "left"), (second_annotator, "right")):
        lease = client_for(user).post(f"/api/projects/{first.slug}/next").json()
        while lease:
            body = {"criteria": {"helpful": vote, "safe": "tie"}, "ratings": {vote: 5}}
            lease = _judge(user, lease["assignment"], choice=vote, **body)
    exported = _export(admin, first)
    rows = _rows(exported)
    # then the export has one column per criterion and the ratings in the pair's a/b order
    assert len(rows) == 4
    assert {row["criterion_safe"] for row in rows} == {"tie"}
    assert all(row["criterion_helpful"] == row["choice"] for row in rows)
    assert all(row["ratings"] == ([5, None] if row["choice"] == "a" else [None, 5]) for row in rows)
    parquet = _rows(_export(admin, first, "parquet"), "parquet")
    assert _portable(parquet) == _portable(rows)
    # when both files are imported into fresh projects with the same settings
    for file, data in (("jsonl", exported), ("parquet", _export(admin, first, "parquet"))):
        fresh = make_project(f"fresh-{file}", admin=admin, **settings)
        import_file(fresh, pairs)
        (tmp_path / f"v.{file}").write_bytes(data)
        summary = import_file(fresh, tmp_path / f"v.{file}")
        # then exporting again gives the same rows
        assert summary.judgements_created == 4
        assert _portable(_rows(_export(admin, fresh))) == _portable(rows)


def test_a_ranking_export_with_criteria_and_ratings_imports_back_unchanged(
    admin: Any, annotator: Any, tmp_path: Path
) -> None:
    # given rankings with ties, a criterion's ranking and labelled ratings
    settings = {
        "comparison": "ranking",
        "max_ranked": 4,
        "criteria": CRITERIA[:1],
        "rating_scale": ["bad", "ok", "good"],
    }
    items = [
        {"prompt": f"p{i}?", "responses": [f"w{i}", f"x{i}", f"y{i}", f"z{i}"]} for i in range(3)
    ]
    responses = write_jsonl(tmp_path / "items.jsonl", items)
    first = make_project("first", admin=admin, **settings)
    _member(first, annotator)
    import_file(first, responses)
    lease = client_for(annotator).post(f"/api/projects/{first.slug}/next").json()
    while lease:
        ids = [r["id"] for r in lease["responses"]]
        body = {
            "ranking": [[ids[2]], [ids[0], ids[3]], [ids[1]]],
            "criteria": {"helpful": [[i] for i in ids]},
            "ratings": {str(ids[2]): "good", str(ids[1]): "bad"},
        }
        lease = _judge(annotator, lease["assignment"], **body)
    exported = _export(admin, first)
    rows = _rows(exported)
    # then each row names its item by its texts and holds positions into its responses
    assert len(rows) == 3
    for row in rows:
        texts = row["responses"]
        assert sorted(texts) == sorted(
            next(i for i in items if i["prompt"] == row["prompt"])["responses"]
        )
        assert len(row["ranking"]) == 3 and sum(map(len, row["ranking"])) == 4
        assert sorted(map(len, row["criterion_helpful"])) == [1, 1, 1, 1]
        assert sorted(r for r in row["ratings"] if r) == ["bad", "good"]
    assert _portable(_rows(_export(admin, first, "parquet"), "parquet")) == _portable(rows)
    # and both files load in `datasets` with one type per column
    from datasets import load_dataset

    for file in ("jsonl", "parquet"):
        (tmp_path / f"export.{file}").write_bytes(_export(admin, first, file))
        loader = "json" if file == "jsonl" else "parquet"
        data = load_dataset(loader, data_files=str(tmp_path / f"export.{file}"), split="train")
        assert len(data) == 3
        assert data[0]["criterion_helpful"] == _criterion_by_pair(rows)[data[0]["pair_id"]]
    # when imported into a fresh project with the same settings and items
    fresh = make_project("fresh", admin=admin, **settings)
    import_file(fresh, responses)
    summary = import_file(fresh, write_jsonl(tmp_path / "v.jsonl", rows))
    # then exporting again gives the same rows
    assert summary.judgements_created == 3
    assert _portable(_rows(_export(admin, fresh))) == _portable(rows)
    again = Judgement.objects.filter(pair__project=fresh).values_list("ranking", flat=True)
    assert all(sum(map(len, ranking)) == 4 for ranking in again)
    # and the same rows as CSV, lists and objects as JSON text in their cells, import the same
    by_csv = make_project("by-csv", admin=admin, **settings)
    import_file(by_csv, responses)
    summary = import_file(by_csv, _write_csv(tmp_path / "v.csv", rows))
    assert summary.judgements_created == 3
    assert _portable(_rows(_export(admin, by_csv))) == _portable(rows)


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    """Rows as CSV: lists and objects as JSON text, nulls as empty cells."""
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {
                    k: json.dumps(v) if isinstance(v, list | dict) else ("" if v is None else v)
                    for k, v in row.items()
                }
            )
    return path


def test_shapes_the_project_cannot_take_are_named_by_line(admin: Any, tmp_path: Path) -> None:
    # given a pairwise project with one criterion and a 1-3 scale
    project = make_project("shapes", admin=admin, criteria=CRITERIA[:1], rating_scale=[1, 2, 3])
    import_file(project, write_jsonl(tmp_path / "p.jsonl", pair_rows(2, labelled=False)))
    vote = {"pair_external_id": "q-0", "choice": "a"}
    rows = [
        vote | {"annotator": "u1", "criterion_helpful": "b", "ratings": [3, 1]},
        vote | {"annotator": "u2", "criterion_kind": "a"},
        vote | {"annotator": "u3", "criteria": {"helpful": "left"}},
        vote | {"annotator": "u4", "ratings": [3, 9]},
        vote | {"annotator": "u5", "ratings": [3]},
        vote | {"annotator": "u6", "ranking": [[0], [1]]},
    ]
    # when
    with pytest.raises(ImportFormatError) as error:
        import_file(project, write_jsonl(tmp_path / "v.jsonl", rows))
    # then every bad line is named with its field, and nothing is written
    message = str(error.value)
    assert "line 1" not in message
    assert "line 2, field 'criterion_kind': 'kind' is not a criterion of this project" in message
    assert "line 3, field 'criteria': must be one of a, b, tie, both_bad" in message
    assert "line 4, field 'ratings': 9 is not on this project's scale" in message
    assert "line 5, field 'ratings': must list one rating" in message
    assert "line 6, field 'ranking': this project compares pairs" in message
    assert Judgement.objects.count() == 0


def test_a_ranking_row_must_name_an_item_here_and_agree_with_its_choice(
    admin: Any, tmp_path: Path
) -> None:
    # given a ranking project with one item of three responses
    project = make_project("ranked", admin=admin, comparison="ranking")
    item = {"prompt": "p?", "responses": ["x", "y", "z"]}
    import_file(project, write_jsonl(tmp_path / "r.jsonl", [item]))
    pair = project.pairs.get()
    first = "abc"[["x", "y", "z"].index(pair.response_a.text)]
    second = "abc"[["x", "y", "z"].index(pair.response_b.text)]
    said = "a" if first < second else "b"  # x before y before z
    good = item | {"annotator": "u", "ranking": [[0], [1], [2]], "choice": said}
    rows = [
        good,
        good | {"annotator": "v", "choice": "b" if said == "a" else "a"},
        good | {"annotator": "w", "ranking": [[0], [1]]},
        good | {"annotator": "x", "responses": ["x", "y", "new"]},
        good | {"annotator": "y", "ranking": None},
    ]
    # when
    with pytest.raises(ImportFormatError) as error:
        import_file(project, write_jsonl(tmp_path / "v.jsonl", rows))
    # then
    message = str(error.value)
    assert "line 3, field 'ranking': leaves out response(s) 2" in message
    assert "line 5, field 'ranking': is required on a ranking project" in message
    # once the fields are right, the references are checked against the project
    with pytest.raises(ImportFormatError) as error:
        import_file(project, write_jsonl(tmp_path / "w.jsonl", [rows[0], rows[1], rows[3]]))
    message = str(error.value)
    assert "line 1" not in message
    assert "line 2, field 'choice': is " in message and "but the ranking says" in message
    assert "line 3, field 'responses': names no ranking item of this project" in message
    assert Judgement.objects.count() == 0
    # and the good row alone imports
    assert import_file(project, write_jsonl(tmp_path / "g.jsonl", [good])).judgements_created == 1
