"""Files that cannot be imported are reported by line and field, never as a raw exception."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from annotate.formats import ImportFormatError
from annotate.importing.jobs import claim_import_job, run_import_job
from annotate.importing.parquet_pages import batch_rows
from annotate.importing.pipeline import import_file
from annotate.models import ImportJob, Pair, Project
from tests.conftest import client_for
from tests.factories import pair_rows, write_jsonl

pytestmark = pytest.mark.django_db

HEADER = "prompt,response_a,response_b\n"
MiB = 1024 * 1024


def _errors(project: Project, path: Path) -> list[str]:
    with pytest.raises(ImportFormatError) as caught:
        import_file(project, path)
    assert Pair.objects.count() == 0
    return [str(e) for e in caught.value.errors]


def test_a_csv_field_longer_than_pythons_default_limit_imports(
    project: Project, tmp_path: Path
) -> None:
    path = tmp_path / "long.csv"
    path.write_text(HEADER + f'"q","{"x" * 200_000}","short"\n')
    assert import_file(project, path).pairs_created == 1


def test_a_csv_field_over_the_limit_names_its_line(
    project: Project, tmp_path: Path, settings: Any
) -> None:
    settings.IMPORT_MAX_LINE_BYTES = 1024
    path = tmp_path / "huge.csv"
    path.write_text(HEADER + '"q1","a","b"\n' + f'"q2","{"x" * 2000}","b"\n')
    assert _errors(project, path) == ["line 3: longer than 1024 bytes (IMPORT_MAX_LINE_BYTES)"]


def test_a_csv_row_over_the_limit_across_lines_names_the_line_it_crosses_it_on(
    project: Project, tmp_path: Path, settings: Any
) -> None:
    # given a quoted field of five 300-byte lines: each line is short, the row is not
    settings.IMPORT_MAX_LINE_BYTES = 1024
    field = "\n".join(["y" * 299] * 5)
    path = tmp_path / "tall.csv"
    path.write_text(HEADER + '"q1","a","b"\n' + f'"q2","{field}","b"\n')
    # when / then: the row's fourth line (the file's sixth) takes it past 1024 bytes
    assert _errors(project, path) == ["line 6: longer than 1024 bytes (IMPORT_MAX_LINE_BYTES)"]


def test_a_jsonl_line_over_the_limit_is_named_and_the_lines_after_it_are_checked(
    project: Project, tmp_path: Path, settings: Any
) -> None:
    # given a long line between a good one and one that lacks a response
    settings.IMPORT_MAX_LINE_BYTES = 1024
    good, long = pair_rows(2)
    long["response_a"] = "x" * 2000
    lacking = {"prompt": "q", "response_a": "a"}
    path = write_jsonl(tmp_path / "long.jsonl", [good, long, lacking])
    # when / then
    assert _errors(project, path) == [
        "line 2: longer than 1024 bytes (IMPORT_MAX_LINE_BYTES)",
        "line 3, field 'response_b': is missing",
    ]


def test_a_jsonl_line_of_exactly_the_limit_imports(
    project: Project, tmp_path: Path, settings: Any
) -> None:
    # given a line of 1024 bytes (newline aside) that crosses a 1024-byte read boundary
    settings.IMPORT_MAX_LINE_BYTES = 1024
    row = pair_rows(1)[0]
    row["response_a"] = ""
    row["response_a"] = "x" * (1024 - len(json.dumps(row)))
    path = tmp_path / "exact.jsonl"
    path.write_text("\n" * 100 + json.dumps(row) + "\n")
    assert len(json.dumps(row)) == 1024
    # when
    summary = import_file(project, path)
    # then
    assert summary.pairs_created == 1
    assert Pair.objects.get().response_a.text == row["response_a"]


def test_the_read_limits_are_settings_with_documented_defaults(settings: Any) -> None:
    assert settings.IMPORT_MAX_LINE_BYTES == 16 * 1024 * 1024
    assert settings.IMPORT_MAX_DECOMPRESSED_BYTES == 16 * settings.MAX_IMPORT_UPLOAD_BYTES
    assert settings.IMPORT_MAX_PARQUET_PAGE_BYTES == 128 * 1024 * 1024
    assert settings.IMPORT_MAX_RESPONSES_PER_PROMPT == 32
    assert settings.IMPORT_MAX_PAIRS_PER_ROW == 496


def _parquet(path: Path, rows: list[dict[str, Any]], **options: Any) -> Path:
    pq.write_table(pa.Table.from_pylist(rows), path, **options)
    return path


def test_a_parquet_cell_over_the_limit_names_its_row_and_column(
    project: Project, tmp_path: Path, settings: Any
) -> None:
    settings.IMPORT_MAX_LINE_BYTES = 1024
    rows = pair_rows(3)
    rows[1]["response_a"] = "x" * 2000
    path = _parquet(tmp_path / "long.parquet", rows)
    assert _errors(project, path) == [
        "line 2, field 'response_a': longer than 1024 bytes (IMPORT_MAX_LINE_BYTES)"
    ]


def test_a_parquet_page_over_the_limit_is_refused_before_it_is_decoded(
    project: Project, tmp_path: Path, settings: Any
) -> None:
    # given a zstd-packed cell of 1 MiB: a small file whose page unpacks to over 64 KiB
    settings.IMPORT_MAX_PARQUET_PAGE_BYTES = 64 * 1024
    rows = pair_rows(2)
    rows[1]["response_b"] = "y" * (1024 * 1024)
    path = _parquet(tmp_path / "bomb.parquet", rows, compression="zstd", use_dictionary=False)
    assert path.stat().st_size < 20_000
    # when / then: named by its row group's first row and its column
    [error] = _errors(project, path)
    assert error.startswith("line 1, field 'response_b': a page unpacks to 104")
    assert error.endswith("bytes, more than 65536 (IMPORT_MAX_PARQUET_PAGE_BYTES)")


def test_parquet_batches_are_sized_from_the_page_headers(tmp_path: Path) -> None:
    # given short rows, and rows of 1 MiB whose pages hold at most 8 values each
    short = [{"prompt": f"p{i}", "response_a": "a", "response_b": f"b{i}"} for i in range(4000)]
    long = [{"prompt": f"p{i}", "response_a": "a" * MiB, "response_b": "b"} for i in range(40)]
    paths = {
        "short": _parquet(tmp_path / "short.parquet", short),
        "long": _parquet(tmp_path / "long.parquet", short + long, write_batch_size=8),
    }
    # when
    plans = {}
    for name, path in paths.items():
        with path.open("rb") as handle:
            metadata = pq.ParquetFile(path).metadata
            plans[name] = batch_rows(
                handle, metadata, max_page_bytes=16 * MiB, batch_bytes=8 * MiB, most=2000
            )
    # then short rows go 2000 at a time, 1 MiB rows about 8 MiB at a time
    assert plans == {"short": [2000], "long": [7]}


def test_a_file_that_is_not_parquet_is_named_as_such(project: Project, tmp_path: Path) -> None:
    path = tmp_path / "pairs.parquet"
    path.write_text("prompt,response_a,response_b\n")
    [error] = _errors(project, path)
    assert error.startswith("line 1: not a readable Parquet file (")


def test_a_latin1_csv_names_the_line_and_the_encoding(project: Project, tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes((HEADER + '"q1","a","b"\n' + '"caf\xe9","a","b"\n').encode("latin-1"))
    assert _errors(project, path) == [
        "line 3: is not UTF-8 text (byte 0xe9 at column 5); save the file as UTF-8"
    ]


def test_a_jsonl_line_nested_200000_deep_names_its_line(project: Project, tmp_path: Path) -> None:
    path = tmp_path / "deep.jsonl"
    deep = '{"prompt": "q", "response_a": "a", "response_b": "b", "meta": {"x": '
    deep += "[" * 200_000 + "]" * 200_000 + "}}\n"
    path.write_text(json.dumps(pair_rows(1)[0]) + "\n" + deep)
    [error] = _errors(project, path)
    assert error == "line 2: nested more than 32 levels deep"


def test_a_jsonl_line_nested_past_the_limit_names_line_and_field(
    project: Project, tmp_path: Path
) -> None:
    row = {**pair_rows(1)[0], "meta": {"x": json.loads("[" * 40 + "]" * 40)}}
    [error] = _errors(project, write_jsonl(tmp_path / "deep.jsonl", [row]))
    assert error.startswith("line 1, field 'meta.x")
    assert error.endswith("is nested more than 32 levels deep")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('"lone \\ud800"', "contains a lone surrogate"),
        ('"nul \\u0000"', "contains a NUL character"),
    ],
)
def test_unstorable_text_in_jsonl_names_line_and_field(
    project: Project, tmp_path: Path, text: str, problem: str
) -> None:
    path = tmp_path / "bad.jsonl"
    good = json.dumps(pair_rows(1)[0])
    path.write_text(f'{good}\n{{"prompt": "q", "response_a": {text}, "response_b": "b"}}\n')
    assert _errors(project, path) == [f"line 2, field 'response_a': {problem}"]


def test_a_failed_upload_is_deleted_and_reported_by_line(
    admin: Any, project: Project, django_capture_on_commit_callbacks: Any
) -> None:
    # given: an uploaded file whose second line is not UTF-8
    body = b'{"prompt": "q", "response_a": "a", "response_b": "b"}\n{"prompt": "caf\xe9"}\n'
    upload = SimpleUploadedFile("bad.jsonl", body)
    with django_capture_on_commit_callbacks():
        response = client_for(admin).post(
            "/api/projects/proj/imports", {"file": upload}, format="multipart"
        )
    job = ImportJob.objects.get(pk=response.json()["id"])
    stored = Path(job.file.path)
    assert stored.exists()
    # when
    assert claim_import_job(job.pk)
    run_import_job(job.pk)
    # then
    job.refresh_from_db()
    assert job.status == "failed"
    assert job.errors == [
        "line 2: is not UTF-8 text (byte 0xe9 at column 16); save the file as UTF-8"
    ]
    assert not stored.exists()
    assert not job.file


def test_the_upload_limit_is_a_setting_of_512_mb(
    admin: Any, project: Project, settings: Any
) -> None:
    assert settings.MAX_IMPORT_UPLOAD_BYTES == 512 * 1024 * 1024
    settings.MAX_IMPORT_UPLOAD_BYTES = 10
    upload = SimpleUploadedFile("big.jsonl", b"x" * 11)
    response = client_for(admin).post(
        "/api/projects/proj/imports", {"file": upload}, format="multipart"
    )
    assert response.status_code == 400
    assert "larger than 10 bytes" in response.json()["file"][0]
    assert not ImportJob.objects.exists()
