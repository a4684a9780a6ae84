"""Every field of an import is checked against what its column holds, by line and field.

A value a column cannot hold (a model name over 200 characters, an infinite strength, a date
no time zone conversion survives, a row that pairs into a million pairs) is a line-numbered
error naming the field, and the file imports nothing; never a server error afterwards.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from annotate.exporting.datasets import export_chunks
from annotate.formats import ImportFormatError
from annotate.importing.jobs import claim_import_job, run_import_job
from annotate.importing.pipeline import import_file
from annotate.models import MAX_DURATION_MS, ImportJob, Judgement, Pair, Project
from tests.conftest import client_for
from tests.factories import pair_rows, write_jsonl

pytestmark = pytest.mark.django_db

VOTE = {"prompt": "q", "response_a": "a", "response_b": "b", "annotator": "ann", "choice": "a"}


def _errors(project: Project, path: Path) -> list[str]:
    with pytest.raises(ImportFormatError) as caught:
        import_file(project, path)
    assert not Pair.objects.exists()
    assert not Judgement.objects.exists()
    return [str(e) for e in caught.value.errors]


def _lines(path: Path, *lines: str) -> Path:
    """A JSONL file of these lines as written (for JSON that json.dumps would not write)."""
    path.write_text("".join(line + "\n" for line in lines))
    return path


def test_a_responses_row_over_the_response_limit_is_refused_before_pairing(
    project: Project, tmp_path: Path
) -> None:
    # given the probe's row: 1,500 responses would have made 1,124,250 pairs
    row = {"prompt": "q", "responses": [f"answer {i}" for i in range(1500)]}
    path = write_jsonl(tmp_path / "wide.jsonl", [row])
    # when / then
    assert _errors(project, path) == [
        "line 1, field 'responses': has 1500 responses; at most 32 "
        "(IMPORT_MAX_RESPONSES_PER_PROMPT)"
    ]


def test_a_responses_row_over_the_pair_limit_names_its_numbers(
    project: Project, tmp_path: Path, settings: Any
) -> None:
    settings.IMPORT_MAX_PAIRS_PER_ROW = 10
    rows = [
        {"prompt": "five", "responses": [f"r{i}" for i in range(5)]},
        {"prompt": "six", "responses": [f"r{i}" for i in range(6)]},
    ]
    path = write_jsonl(tmp_path / "pairs.jsonl", rows)
    assert _errors(project, path) == [
        "line 2, field 'responses': makes 15 pairs (every two of 6 responses); "
        "at most 10 (IMPORT_MAX_PAIRS_PER_ROW)"
    ]


def test_a_responses_row_at_the_limits_pairs_every_two_responses(
    project: Project, tmp_path: Path
) -> None:
    row = {"prompt": "q", "responses": [f"answer {i}" for i in range(32)]}
    summary = import_file(project, write_jsonl(tmp_path / "full.jsonl", [row]))
    assert summary.pairs_created == 32 * 31 // 2


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ({**pair_rows(1)[0], "model_a": "m" * 201}, "model_a"),
        (
            {"prompt": "q", "responses": ["a", {"text": "b", "model": "m" * 201}]},
            "responses[1].model",
        ),
        ({**VOTE, "model_b": "m" * 201}, "model_b"),
    ],
)
def test_a_model_name_longer_than_its_column_is_refused(
    project: Project, tmp_path: Path, row: dict[str, Any], field: str
) -> None:
    path = write_jsonl(tmp_path / "model.jsonl", [row])
    assert _errors(project, path) == [f"line 1, field '{field}': is longer than 200 characters"]


def test_a_pair_id_longer_than_its_column_is_refused_not_cut(
    project: Project, tmp_path: Path
) -> None:
    # given a 201-character id on line 2
    rows = pair_rows(2)
    rows[1]["id"] = "i" * 201
    path = write_jsonl(tmp_path / "ids.jsonl", rows)
    # when / then
    assert _errors(project, path) == ["line 2, field 'id': is longer than 200 characters"]
    # and one of 200 is kept whole
    rows[1]["id"] = "i" * 200
    import_file(project, write_jsonl(tmp_path / "ok.jsonl", rows))
    assert Pair.objects.filter(external_id="i" * 200).exists()


def test_a_vote_naming_a_pair_id_longer_than_the_column_is_refused(
    project: Project, tmp_path: Path
) -> None:
    row = {"pair_external_id": "i" * 201, "annotator": "ann", "choice": "a"}
    path = write_jsonl(tmp_path / "votes.jsonl", [row])
    assert _errors(project, path) == [
        "line 1, field 'pair_external_id': is longer than 200 characters"
    ]


DIGITS = "9" * 5000


@pytest.mark.parametrize(
    ("line", "field", "shown"),
    [
        (
            '{"prompt": "q", "response_a": "a", "response_b": "b", "annotator": "ann", '
            '"choice": "a", "strength": 1e999}',
            "strength",
            "'1e999'",
        ),
        (
            '{"prompt": "q", "response_a": "a", "response_b": "b", "meta": {"n": ' + DIGITS + "}}",
            "meta.n",
            "'99999999999999999...999999999999999999'",
        ),
        (
            '{"prompt": "q", "response_a": "a", "response_b": "b", "model_a": -Infinity}',
            "model_a",
            "'-Infinity'",
        ),
        (
            '{"prompt": "q", "response_a": "a", "response_b": "b", "meta": {"x": [1, NaN]}}',
            "meta.x[1]",
            "'NaN'",
        ),
    ],
)
def test_a_number_no_column_holds_is_refused_by_line_and_field(
    project: Project, tmp_path: Path, line: str, field: str, shown: str
) -> None:
    path = _lines(tmp_path / "numbers.jsonl", json.dumps(pair_rows(1)[0]), line)
    assert _errors(project, path) == [
        f"line 2, field '{field}': must be a finite number (got {shown})"
    ]


def test_a_csv_cell_of_json_with_an_infinite_number_is_refused_by_field(
    project: Project, tmp_path: Path
) -> None:
    path = tmp_path / "meta.csv"
    path.write_text('prompt,response_a,response_b,meta\nq,a,b,"{""x"": 1e999}"\n')
    assert _errors(project, path) == [
        "line 2, field 'meta.x': must be a finite number (got '1e999')"
    ]


@pytest.mark.parametrize(
    ("field", "value", "bounds"),
    [
        ("strength", "1e999", "1 to 3"),
        ("strength", 4, "1 to 3"),
        ("strength", True, "1 to 3"),
        ("strength", 1.5, "1 to 3"),
        ("strength", "9" * 5000, "1 to 3"),
        ("duration_ms", MAX_DURATION_MS + 1, f"0 to {MAX_DURATION_MS}"),
        ("duration_ms", -1, f"0 to {MAX_DURATION_MS}"),
    ],
)
def test_a_vote_number_out_of_its_range_is_refused(
    project: Project, tmp_path: Path, field: str, value: Any, bounds: str
) -> None:
    path = write_jsonl(tmp_path / "votes.jsonl", [{**VOTE, field: value}])
    [error] = _errors(project, path)
    assert error.startswith(f"line 1, field '{field}': must be a whole number from {bounds} (got ")


def test_vote_numbers_in_range_are_kept(project: Project, tmp_path: Path) -> None:
    row = {**VOTE, "strength": "2", "duration_ms": MAX_DURATION_MS}
    import_file(project, write_jsonl(tmp_path / "votes.jsonl", [row]))
    assert Judgement.objects.values_list("strength", "duration_ms").get() == (2, MAX_DURATION_MS)


@pytest.mark.parametrize(
    "moment",
    [
        "9999-12-31T23:59:59-14:00",
        "0001-01-01T00:00:00+14:00",
        "1969-12-31T23:59:59+00:00",
        "2999-01-01T00:00:00Z",
    ],
)
def test_a_vote_time_out_of_range_is_refused(project: Project, tmp_path: Path, moment: str) -> None:
    # given the probe's times, which were accepted and then broke the pair page and the export
    path = write_jsonl(tmp_path / "votes.jsonl", [{**VOTE, "created_at": moment}])
    latest = (timezone.now() + timedelta(days=1)).date().isoformat()
    # when / then
    assert _errors(project, path) == [
        f"line 1, field 'created_at': must be between 1970-01-01 and a day from now, {latest} "
        f"(got '{moment}')"
    ]


def test_a_vote_time_at_the_edges_is_kept_and_exported(project: Project, tmp_path: Path) -> None:
    # given the first moment allowed, written in the time zone furthest east
    rows = [
        {**VOTE, "created_at": "1970-01-01T14:00:00+14:00"},
        {**VOTE, "annotator": "other", "created_at": timezone.now().isoformat()},
    ]
    import_file(project, write_jsonl(tmp_path / "votes.jsonl", rows))
    # when the judgements are exported
    exported = b"".join(export_chunks(project, fmt="judgements", file_type="jsonl"))
    # then
    first = min(Judgement.objects.values_list("created_at", flat=True))
    assert first.isoformat() == "1970-01-01T00:00:00+00:00"
    assert len(exported.splitlines()) == 2


def test_a_vote_with_unstorable_text_is_refused_by_field(project: Project, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "votes.jsonl", [{**VOTE, "rationale": "nul \x00"}])
    assert _errors(project, path) == ["line 1, field 'rationale': contains a NUL character"]


def test_meta_larger_than_a_mebibyte_is_refused(project: Project, tmp_path: Path) -> None:
    row = {**pair_rows(1)[0], "meta": {"notes": "x" * (1024 * 1024)}}
    path = write_jsonl(tmp_path / "meta.jsonl", [row])
    assert _errors(project, path) == ["line 1, field 'meta': is larger than 1048576 bytes as JSON"]


def test_a_prompt_of_more_than_a_thousand_messages_is_refused(
    project: Project, tmp_path: Path
) -> None:
    turns = [{"role": "user", "content": "hi"}] * 1001
    row = {"prompt": turns, "response_a": "a", "response_b": "b"}
    path = write_jsonl(tmp_path / "turns.jsonl", [row])
    assert _errors(project, path) == ["line 1, field 'prompt': has 1001 messages; at most 1000"]


def test_an_upload_with_a_long_model_name_fails_by_line_not_on_the_server(
    admin: Any, project: Project, django_capture_on_commit_callbacks: Any
) -> None:
    # given an uploaded file whose row names a 300-character model
    row = {**pair_rows(1)[0], "model_a": "m" * 300}
    upload = SimpleUploadedFile("pairs.jsonl", (json.dumps(row) + "\n").encode())
    with django_capture_on_commit_callbacks():
        response = client_for(admin).post(
            f"/api/projects/{project.slug}/imports", {"file": upload}, format="multipart"
        )
    job_id = response.json()["id"]
    # when the worker runs it
    assert claim_import_job(job_id)
    run_import_job(job_id)
    # then
    job = ImportJob.objects.get(pk=job_id)
    assert job.status == "failed"
    assert job.errors == ["line 1, field 'model_a': is longer than 200 characters"]
    assert not Pair.objects.exists()
