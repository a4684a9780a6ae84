"""Decompression bombs stay within bounded memory and are refused by line.

One child process (its own SQLite database) imports every bomb in turn and reports each one's
peak resident memory (VmHWM, reset between bombs through /proc/self/clear_refs), so the figures
are the importer's own, not pytest's. A bomb is one compressed block written many times over
(gzip members, bzip2 and xz streams and zstd frames may follow one another), so building
gigabytes of input takes a fraction of a second.
"""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import zstandard

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
MiB = 1024 * 1024
GiB = 1024 * MiB
# The importer's baseline (Django, pyarrow) is about 100 MB; a bomb may add one line's worth.
PEAK_LIMIT_MB = 600
GROWTH_LIMIT_MB = 200

COMPRESSORS: dict[str, tuple[str, Callable[[bytes], bytes]]] = {
    "gzip": (".gz", lambda data: gzip.compress(data, compresslevel=6)),
    "bzip2": (".bz2", lambda data: bz2.compress(data, 9)),
    "xz": (".xz", lambda data: lzma.compress(data, preset=1)),
    "zstd": (".zst", lambda data: zstandard.ZstdCompressor(level=3).compress(data)),
}
# Unpacked size of each codec's one-line bomb: what it takes a few seconds to unpack here.
LINE_BOMB_BYTES = {"gzip": 2 * GiB, "bzip2": 1 * GiB, "xz": 2 * GiB, "zstd": 4 * GiB}

CHILD = """
import json, os, sys, time
from pathlib import Path

import django

django.setup()
from django.core.management import call_command
from django.test import override_settings

from django.core.files import File

from annotate.formats import ImportFormatError
from annotate.importing.jobs import claim_import_job, run_import_job
from annotate.importing.pipeline import import_file
from annotate.models import ImportJob
from annotate.projects.lifecycle import create_project

def kib(key):
    line = next(l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith(key))
    return int(line.split()[1])

call_command("migrate", verbosity=0)
results = {}
for case in json.loads(Path(sys.argv[1]).read_text()):
    project = create_project(slug=case["name"])
    Path("/proc/self/clear_refs").write_text("5")  # restart VmHWM from the current RSS
    before, start = kib("VmRSS"), time.perf_counter()
    errors, total = [], 0
    with override_settings(**case["settings"]):
        if case.get("job"):  # as an upload is: a job, with progress (one more pass to count)
            with open(case["path"], "rb") as upload:
                name = Path(case["path"]).name
                job = ImportJob.objects.create(
                    project=project, file=File(upload, name), original_name=name
                )
            claim_import_job(job.pk)
            run_import_job(job.pk)
            job.refresh_from_db()
            errors, total = job.errors, job.result.get("invalid_rows", 0)
        else:
            try:
                import_file(project, case["path"])
            except ImportFormatError as exc:
                errors, total = [str(e) for e in exc.errors], exc.total
    results[case["name"]] = {
        "errors": errors,
        "total": total,
        "rss_mb": before / 1024,
        "peak_mb": kib("VmHWM") / 1024,
        "seconds": time.perf_counter() - start,
    }
print(json.dumps(results))
"""


def _bomb(path: Path, block: bytes, unpacked: int, compression: str) -> Path:
    """A file of `block` repeated until it unpacks to `unpacked` bytes, compressed."""
    packed = COMPRESSORS[compression][1](block)
    with path.open("wb") as out:
        for _ in range(unpacked // len(block)):
            out.write(packed)
    return path


def _cases(tmp: Path) -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = []
    endless = b"a" * (64 * MiB)  # no newline: one line of the whole file
    blank_lines = (b" " * (MiB - 1) + b"\n") * 64  # 64 lines of spaces, skipped as blank
    for compression, (suffix, _compress) in COMPRESSORS.items():
        block = endless if compression != "bzip2" else endless[: 16 * MiB]
        path = _bomb(
            tmp / f"line-{compression}.jsonl{suffix}",
            block,
            LINE_BOMB_BYTES[compression],
            compression,
        )
        cases.append({"name": f"line-{compression}", "path": str(path), "settings": {}})
        # Many lines: 16 GiB of blank lines, cut off at the limit (zstd: the default, 8 GiB).
        limit = {} if compression == "zstd" else {"IMPORT_MAX_DECOMPRESSED_BYTES": 512 * MiB}
        path = _bomb(tmp / f"lines-{compression}.jsonl{suffix}", blank_lines, 16 * GiB, compression)
        cases.append({"name": f"lines-{compression}", "path": str(path), "settings": limit})
    path = tmp / "line.csv.zst"
    with path.open("wb") as out:
        out.write(COMPRESSORS["zstd"][1](b"prompt,response_a,response_b\n"))
    packed = COMPRESSORS["zstd"][1](endless)
    with path.open("ab") as out:
        for _ in range(32):
            out.write(packed)
    cases.append({"name": "line-csv", "path": str(path), "settings": {}})
    path = _bomb(tmp / "upload.jsonl.gz", endless, GiB, "gzip")
    cases.append({"name": "upload-gzip", "path": str(path), "settings": {}, "job": True})
    return cases


@pytest.fixture(scope="module")
def bombs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Import every bomb in one child process; its results by case name."""
    tmp = tmp_path_factory.mktemp("bombs")
    cases = tmp / "cases.json"
    cases.write_text(json.dumps(_cases(tmp)))
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": f"sqlite:///{tmp / 'db.sqlite3'}",
        "VAR_DIR": str(tmp / "var"),
    }
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(cases)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for path in tmp.glob("*.jsonl.*"):
        path.unlink()
    return json.loads(done.stdout.strip().splitlines()[-1])


def _assert_bounded(result: dict[str, Any]) -> None:
    assert result["peak_mb"] < PEAK_LIMIT_MB, result
    assert result["peak_mb"] - result["rss_mb"] < GROWTH_LIMIT_MB, result


@pytest.mark.parametrize("compression", COMPRESSORS)
def test_a_one_line_bomb_is_refused_at_its_line_in_bounded_memory(
    bombs: dict[str, dict[str, Any]], compression: str
) -> None:
    # given a file that unpacks to gigabytes of one line (see _cases)
    result = bombs[f"line-{compression}"]
    # then
    assert result["errors"] == ["line 1: longer than 16777216 bytes (IMPORT_MAX_LINE_BYTES)"]
    _assert_bounded(result)


@pytest.mark.parametrize("compression", COMPRESSORS)
def test_a_bomb_of_many_lines_stops_where_it_unpacks_past_the_limit(
    bombs: dict[str, dict[str, Any]], compression: str
) -> None:
    # given 16 GiB of blank 1 MiB lines; the limit is 8 GiB (zstd) or lowered to 512 MiB
    result = bombs[f"lines-{compression}"]
    limit = 8 * GiB if compression == "zstd" else 512 * MiB
    # then reading stops on the line the limit falls in
    assert result["errors"] == [
        f"line {limit // MiB + 1}: the file unpacks to more than {limit} bytes "
        "(IMPORT_MAX_DECOMPRESSED_BYTES)"
    ]
    _assert_bounded(result)


def test_a_csv_bomb_of_one_row_is_refused_at_its_line_in_bounded_memory(
    bombs: dict[str, dict[str, Any]],
) -> None:
    # given a header, then 2 GiB of one CSV line
    result = bombs["line-csv"]
    # then
    assert result["errors"] == ["line 2: longer than 16777216 bytes (IMPORT_MAX_LINE_BYTES)"]
    _assert_bounded(result)


def test_an_uploaded_bomb_fails_its_job_by_line_in_bounded_memory(
    bombs: dict[str, dict[str, Any]],
) -> None:
    # given a gzip upload of 1 GiB of one line, run as the worker runs it (with progress)
    result = bombs["upload-gzip"]
    # then the job failed naming the line, not "failed on the server"
    assert result["errors"] == ["line 1: longer than 16777216 bytes (IMPORT_MAX_LINE_BYTES)"]
    _assert_bounded(result)
