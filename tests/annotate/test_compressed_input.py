"""Compressed imports (gzip, bzip2, xz, zstd) read transparently, told by their first bytes."""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import json
import lzma
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from annotate.formats import ImportFormatError
from annotate.importing.jobs import claim_import_job, run_import_job
from annotate.importing.pipeline import import_file
from annotate.models import ImportJob, Pair, Project
from tests.conftest import client_for
from tests.factories import make_project, pair_rows

pytestmark = pytest.mark.django_db

COMPRESSORS: dict[str, tuple[str, Callable[[bytes], bytes]]] = {
    "gzip": (".gz", gzip.compress),
    "bzip2": (".bz2", bz2.compress),
    "xz": (".xz", lzma.compress),
    "zstd": (".zst", zstandard.ZstdCompressor().compress),
}


def _jsonl(rows: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def _csv(rows: list[dict[str, Any]]) -> bytes:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return text.getvalue().encode()


def _parquet(rows: list[dict[str, Any]]) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), buffer)
    return buffer.getvalue()


ENCODERS = {"jsonl": _jsonl, "csv": _csv, "parquet": _parquet}


@pytest.mark.parametrize("compression", COMPRESSORS)
@pytest.mark.parametrize("file_type", ENCODERS)
def test_it_imports_a_compressed_file(tmp_path: Path, compression: str, file_type: str) -> None:
    # given five pairs in a compressed file named as such
    suffix, compress = COMPRESSORS[compression]
    path = tmp_path / f"pairs.{file_type}{suffix}"
    path.write_bytes(compress(ENCODERS[file_type](pair_rows(5))))
    # when
    summary = import_file(make_project(), path)
    # then
    assert (summary.rows, summary.pairs_created, summary.judgements_created) == (5, 5, 5)


def test_it_tells_compression_by_its_magic_bytes_not_the_name(tmp_path: Path) -> None:
    path = tmp_path / "pairs.jsonl"  # gzip inside, though the name says plain JSONL
    path.write_bytes(gzip.compress(_jsonl(pair_rows(3))))
    assert import_file(make_project(), path).pairs_created == 3


@pytest.mark.parametrize("compression", COMPRESSORS)
def test_it_names_the_invalid_lines_of_a_compressed_file(tmp_path: Path, compression: str) -> None:
    # given line 2 is not JSON and line 4 lacks a response
    suffix, compress = COMPRESSORS[compression]
    rows = [json.dumps(r) for r in pair_rows(4)]
    rows[1] = "{not json"
    rows[3] = json.dumps({"prompt": "p", "response_a": "x"})
    path = tmp_path / f"bad.jsonl{suffix}"
    path.write_bytes(compress(("\n".join(rows) + "\n").encode()))
    # when / then: the same line-numbered errors as the uncompressed file
    with pytest.raises(ImportFormatError) as caught:
        import_file(make_project(), path)
    assert [e.line for e in caught.value.errors] == [2, 4]
    assert "invalid JSON" in str(caught.value.errors[0])
    assert not Pair.objects.exists()


def test_a_truncated_file_is_an_error_at_the_line_where_it_breaks(tmp_path: Path) -> None:
    # given a gzip file cut off in its middle
    packed = gzip.compress(_jsonl(pair_rows(200)))
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(packed[: len(packed) // 2])
    # when / then
    with pytest.raises(ImportFormatError) as caught:
        import_file(make_project(), path)
    error = caught.value.errors[-1]
    assert error.line > 1 and "cannot read the file past here" in str(error)
    assert not Pair.objects.exists()


def test_the_command_imports_a_compressed_file(tmp_path: Path) -> None:
    project = make_project()
    path = tmp_path / "pairs.jsonl.zst"
    path.write_bytes(zstandard.ZstdCompressor().compress(_jsonl(pair_rows(4))))
    call_command("import_pairs", project.slug, str(path))
    assert Pair.objects.filter(project=project).count() == 4
    bad = tmp_path / "bad.jsonl.xz"
    bad.write_bytes(lzma.compress(b'{"prompt": "p", "response_a": "x"}\n'))
    with pytest.raises(CommandError, match="line 1"):
        call_command("import_pairs", project.slug, str(bad))


def test_an_uploaded_compressed_file_is_imported(
    settings: Any,
    tmp_path: Path,
    admin: Any,
    project: Project,
    django_capture_on_commit_callbacks: Any,
) -> None:
    # given a gzip-compressed CSV upload through the API
    settings.MEDIA_ROOT = tmp_path
    upload = SimpleUploadedFile("pairs.csv.gz", gzip.compress(_csv(pair_rows(6))))
    with django_capture_on_commit_callbacks():
        response = client_for(admin).post(
            f"/api/projects/{project.slug}/imports", {"file": upload}, format="multipart"
        )
    assert response.status_code == 202, response.content
    # when the worker runs the job
    job_id = response.json()["id"]
    assert claim_import_job(job_id)
    run_import_job(job_id)
    # then
    job = ImportJob.objects.get(pk=job_id)
    assert job.status == "succeeded", job.errors
    assert job.result["pairs_created"] == 6


@pytest.mark.parametrize("compression", COMPRESSORS)
def test_a_compressed_file_that_unpacks_past_the_limit_stops_at_that_line(
    tmp_path: Path, settings: Any, compression: str
) -> None:
    # given 2000 pairs of about 200 bytes a line, and a limit of 100 KiB unpacked
    settings.IMPORT_MAX_DECOMPRESSED_BYTES = 100 * 1024
    suffix, compress = COMPRESSORS[compression]
    body = _jsonl(pair_rows(2000))
    path = tmp_path / f"pairs.jsonl{suffix}"
    path.write_bytes(compress(body))
    # when
    with pytest.raises(ImportFormatError) as caught:
        import_file(make_project(), path)
    # then the reader stopped within the line the limit falls in (the rows before it are fine)
    [error] = caught.value.errors
    assert error.line == body[: 100 * 1024].count(b"\n") + 1
    assert error.message == (
        "the file unpacks to more than 102400 bytes (IMPORT_MAX_DECOMPRESSED_BYTES)"
    )
    assert not Pair.objects.exists()


def test_a_compressed_parquet_that_unpacks_past_the_limit_is_refused(
    tmp_path: Path, settings: Any
) -> None:
    # given a Parquet file of 2 MiB of text, gzip-compressed, and a limit of 1 MiB
    settings.IMPORT_MAX_DECOMPRESSED_BYTES = 1024 * 1024
    rows = pair_rows(4)
    rows[0]["response_a"] = os.urandom(1024 * 1024).hex()  # Parquet's own snappy keeps it 2 MiB
    path = tmp_path / "pairs.parquet.gz"
    path.write_bytes(gzip.compress(_parquet(rows)))
    # when / then: unpacking it to a temporary file stops at the limit
    with pytest.raises(ImportFormatError) as caught:
        import_file(make_project(), path)
    assert [str(e) for e in caught.value.errors] == [
        "line 1: the file unpacks to more than 1048576 bytes (IMPORT_MAX_DECOMPRESSED_BYTES)"
    ]


def test_the_unpacked_limit_applies_to_compressed_files_only(tmp_path: Path, settings: Any) -> None:
    # an uncompressed file is as large as it looks: the upload limit is its bound
    settings.IMPORT_MAX_DECOMPRESSED_BYTES = 1024
    path = tmp_path / "pairs.jsonl"
    path.write_bytes(_jsonl(pair_rows(50)))
    assert import_file(make_project(), path).pairs_created == 50
