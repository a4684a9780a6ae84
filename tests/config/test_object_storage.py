"""Object storage from the environment, and the uploads and versions that travel through it.

Against a real S3-compatible server on loopback (moto's server mode, `s3_server`).
"""

from __future__ import annotations

import io
import json
import tarfile
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.files.base import ContentFile

from annotate.importing.jobs import run_import_job
from annotate.models import ImportJob, Pair, Project
from config.storage import FILESYSTEM, S3, default_storage_from_env, local_copy
from rewards.ml.checkpoint import FORMAT, META_FILE
from rewards.models import RewardModel
from rewards.worker.artifacts import local_model_dir, store_checkpoint
from tests.factories import pair_rows, write_jsonl

STORAGE_ENV = (
    "STORAGE_URL",
    "AWS_STORAGE_BUCKET_NAME",
    "AWS_LOCATION",
    "AWS_S3_ENDPOINT_URL",
    "AWS_S3_REGION_NAME",
)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in STORAGE_ENV:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture
def bucket(s3_server: str, clean_env: pytest.MonkeyPatch, settings: Any, tmp_path: Path) -> Any:
    """A fresh bucket as this process's default storage (from STORAGE_URL); a boto3 Bucket."""
    name = f"prefloop-{uuid.uuid4().hex[:12]}"
    clean_env.setenv("AWS_ACCESS_KEY_ID", "test-key")
    clean_env.setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
    clean_env.setenv("STORAGE_URL", f"s3://{name}/site?endpoint_url={s3_server}&region=us-east-1")
    s3 = boto3.resource("s3", endpoint_url=s3_server, region_name="us-east-1")
    s3.create_bucket(Bucket=name)
    settings.STORAGES = {**settings.STORAGES, "default": default_storage_from_env()}
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.REWARDS_MODEL_DIR = tmp_path / "models"
    return s3.Bucket(name)


def _keys(bucket: Any) -> list[str]:
    return sorted(item.key for item in bucket.objects.all())


# ---------------------------------------------------------------- settings from the environment


def test_without_storage_settings_files_stay_on_this_disk(clean_env: pytest.MonkeyPatch) -> None:
    assert default_storage_from_env() == {"BACKEND": FILESYSTEM}


def test_storage_url_names_bucket_prefix_endpoint_and_region(
    clean_env: pytest.MonkeyPatch,
) -> None:
    # given
    clean_env.setenv(
        "STORAGE_URL", "s3://media/prod/?endpoint_url=http://127.0.0.1:9000&region=eu-west-1"
    )
    # when
    entry = default_storage_from_env()
    # then
    assert entry["BACKEND"] == S3
    options = entry["OPTIONS"]
    assert (options["bucket_name"], options["location"]) == ("media", "prod")
    assert options["endpoint_url"] == "http://127.0.0.1:9000"
    assert options["region_name"] == "eu-west-1"
    # a self-hosted endpoint is addressed by path, and same-named uploads never replace each other
    assert options["addressing_style"] == "path"
    assert options["file_overwrite"] is False


def test_the_aws_variables_configure_the_same_storage(clean_env: pytest.MonkeyPatch) -> None:
    # given
    clean_env.setenv("AWS_STORAGE_BUCKET_NAME", "team-media")
    clean_env.setenv("AWS_S3_REGION_NAME", "us-east-2")
    # when
    options = default_storage_from_env()["OPTIONS"]
    # then: AWS itself, addressed as boto3 chooses
    assert (options["bucket_name"], options["region_name"]) == ("team-media", "us-east-2")
    assert options["endpoint_url"] is None
    assert "addressing_style" not in options


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://bucket/x", "is not an s3:// URL"),
        ("s3:///prefix", "is not an s3:// URL"),
        ("s3://key:secret@bucket", "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"),
        ("s3://bucket?endpoint=http://x", "unknown option 'endpoint'"),
        ("s3://bucket?addressing_style=dns", "addressing_style='dns'"),
        ("s3://bucket?endpoint_url=127.0.0.1:9000", "is not an http(s) URL"),
    ],
)
def test_a_malformed_storage_url_is_refused_by_name(
    clean_env: pytest.MonkeyPatch, url: str, message: str
) -> None:
    clean_env.setenv("STORAGE_URL", url)
    with pytest.raises(ImproperlyConfigured, match=message.replace("(", r"\(").replace(")", r"\)")):
        default_storage_from_env()


# ---------------------------------------------------------------- files through object storage


@pytest.mark.django_db
def test_an_upload_in_object_storage_is_imported_from_there(
    bucket: Any, project: Project, admin: Any, tmp_path: Path
) -> None:
    # given: an upload stored as the web process stores it
    rows = write_jsonl(tmp_path / "pairs.jsonl", pair_rows(3, labelled=False))
    job = ImportJob.objects.create(
        project=project, created_by=admin, original_name="pairs.jsonl", status="running"
    )
    job.file.save("pairs.jsonl", ContentFile(rows.read_bytes()))
    # when: the worker runs the job
    run_import_job(job.pk)
    # then: it read the object (nothing under MEDIA_ROOT) and imported every row
    job.refresh_from_db()
    assert job.status == "succeeded", job.errors
    assert Pair.objects.filter(project=project).count() == 3
    assert _keys(bucket) == [f"site/{job.file.name}"]
    assert not (tmp_path / "media").exists()


def test_a_stored_file_is_read_through_a_temporary_copy(bucket: Any, tmp_path: Path) -> None:
    # given
    from django.core.files.storage import default_storage

    name = default_storage.save("imports/a.jsonl", ContentFile(b'{"x": 1}\n'))
    stored = SimpleNamespace(storage=default_storage, name=name)
    # when
    with local_copy(stored, temp_dir=str(tmp_path)) as path:
        text = path.read_text()
        copy = path
    # then: the copy had the content and is gone afterwards
    assert text == '{"x": 1}\n'
    assert copy.name == "a.jsonl"
    assert not copy.exists()


@pytest.mark.django_db
def test_a_worker_without_the_version_fetches_it_from_object_storage(
    bucket: Any, project: Project, tmp_path: Path, settings: Any
) -> None:
    # given: a version stored by the worker that trained it (an opaque checkpoint folder)
    trained = tmp_path / "trained"
    (trained / "weights").mkdir(parents=True)
    (trained / META_FILE).write_text(json.dumps({"format": FORMAT}))
    (trained / "weights" / "adapter.bin").write_bytes(b"\x00" * 1000)
    model = RewardModel.objects.create(project=project, version=1, mode="heads")
    store_checkpoint(model, trained)
    # when: another machine (its own model folder) loads it, twice
    settings.REWARDS_MODEL_DIR = tmp_path / "elsewhere"
    folder = local_model_dir(model)
    bucket.objects.all().delete()
    again = local_model_dir(model)
    # then: the first load fetched the archive, the second used the local copy
    assert folder == again == tmp_path / "elsewhere" / f"model-{model.pk}"
    assert (folder / "weights" / "adapter.bin").read_bytes() == b"\x00" * 1000
    assert model.artifact.name == "reward-models/proj-v1.tar"


@pytest.mark.django_db
def test_a_version_archived_before_as_tar_gz_still_loads(
    project: Project, tmp_path: Path, settings: Any
) -> None:
    # given: a version stored as gzip archives were before (on the local disk storage)
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.REWARDS_MODEL_DIR = tmp_path / "models"
    trained = tmp_path / "trained"
    trained.mkdir()
    (trained / META_FILE).write_text(json.dumps({"format": FORMAT}))
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        archive.add(trained, arcname=".")
    model = RewardModel.objects.create(project=project, version=1, mode="heads")
    model.artifact.save("proj-v1.tar.gz", ContentFile(buffer.getvalue()))
    # when
    folder = local_model_dir(model)
    # then
    assert json.loads((folder / META_FILE).read_text()) == {"format": FORMAT}
