"""Files that cannot be imported are reported by line and field, never as a raw exception."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from annotate import formats
from annotate.formats import ImportFormatError
from annotate.importing.jobs import claim_import_job, run_import_job
from annotate.importing.pipeline import import_file
from annotate.models import ImportJob, Pair, Project
from tests.conftest import client_for
from tests.factories import pair_rows, write_jsonl

pytestmark = pytest.mark.django_db

HEADER = "prompt,response_a,response_b\n"


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
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(formats, "MAX_CSV_FIELD", 1000)
    path = tmp_path / "huge.csv"
    path.write_text(HEADER + '"q1","a","b"\n' + f'"q2","{"x" * 2000}","b"\n')
    [error] = _errors(project, path)
    assert error.startswith("line 3: unreadable CSV (field larger than field limit")


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
