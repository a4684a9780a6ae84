"""Exports as dataset folders: data plus a README.md card that `datasets` reads as it is."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from annotate.exporting.package import write_dataset_folder
from annotate.importing.pipeline import import_file
from annotate.judging.queue import lease_next_pair
from annotate.judging.recording import record_judgement
from annotate.models import Project
from tests.conftest import client_for, streamed
from tests.factories import demo_rows, make_pairs, write_jsonl

pytestmark = pytest.mark.django_db


@pytest.fixture
def labelled(project: Project, tmp_path: Path) -> Project:
    """40 real labelled pairs (the demo slice), each vote imported."""
    import_file(project, write_jsonl(tmp_path / "demo.jsonl", demo_rows(40)))
    return project


def _card(folder: Path) -> tuple[dict[str, Any], str]:
    text = (folder / "README.md").read_text(encoding="utf-8")
    _, header, body = text.split("---\n", 2)
    return yaml.safe_load(header), body


def _load(folder: Path, tmp_path: Path) -> Any:
    from datasets import load_dataset

    return load_dataset(str(folder), split="train", cache_dir=str(tmp_path / "hf-cache"))


def _unpack(content: bytes, package: str, into: Path) -> Path:
    if package == "zip":
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            archive.extractall(into)
    else:
        with tarfile.open(fileobj=io.BytesIO(content), mode="r:gz") as tar:
            tar.extractall(into, filter="data")
    [folder] = into.iterdir()
    return folder


@pytest.fixture
def judged(project: Project, annotator: User, second_annotator: User, tmp_path: Path) -> Project:
    """6 pairs, each judged by both annotators; they disagree on one."""
    project.judgements_per_pair = 2
    project.save()
    make_pairs(project, tmp_path, 6, labelled=False)
    for user in (annotator, second_annotator):
        for n in range(6):
            lease = lease_next_pair(user, project)
            assert lease is not None
            # both choose response a (wherever it was shown) but once, so alpha is defined
            wants_a = user == annotator or n > 0
            choice = "left" if lease.left_is_a == wants_a else "right"
            record_judgement(lease.pk, user, choice=choice, client_id=f"{user.pk}-{n}")
    return project


@pytest.mark.parametrize("package", ["zip", "tar"])
def test_the_api_archive_unpacks_to_a_folder_that_datasets_loads_with_its_card(
    package: str, judged: Project, admin: User, tmp_path: Path
) -> None:
    # when
    before = timezone.now().date()
    response = client_for(admin).get(
        f"/api/projects/{judged.slug}/export",
        {"format": "trl", "package": package, "license": "cc-by-4.0"},
    )
    folder = _unpack(streamed(response), package, tmp_path / "unpacked")
    after = timezone.now().date()
    # then
    assert response.status_code == 200
    suffix = ".zip" if package == "zip" else ".tar.gz"
    assert f'filename="{judged.slug}-trl{suffix}"' in response["Content-Disposition"]
    dataset = _load(folder, tmp_path)
    header, body = _card(folder)
    rows = header["dataset_info"]["splits"][0]["num_examples"]
    assert dataset.num_rows == rows > 0
    assert set(dataset.column_names) == {"prompt", "chosen", "rejected"}
    assert header["license"] == "cc-by-4.0" and header["size_categories"] == ["n<1K"]
    assert header["task_categories"] == ["text-generation"]
    features = header["dataset_info"]["features"]
    assert [f["name"] for f in features] == dataset.column_names
    assert features == [{"name": name, "dtype": "string"} for name in dataset.column_names]
    assert all(dataset.features[name].dtype == "string" for name in dataset.column_names)
    [exported] = [line for line in body.splitlines() if line.startswith("| exported |")]
    assert exported.split("|")[2].strip() in {before.isoformat(), after.isoformat()}
    assert header["configs"][0]["data_files"][0] == {"split": "train", "path": "data/train.jsonl"}
    assert f"| rows | {rows} |" in body
    assert "| pairs | 6 (6 judged) |" in body and "| judgements | 12 |" in body
    assert "| annotators | 2 " in body
    alpha = next(line for line in body.splitlines() if "Krippendorff" in line)
    assert -1 <= float(alpha.split("|")[2]) < 1  # measurable: two votes on every pair
    assert "prefloop 0.1.0" in body


def test_a_parquet_judgements_folder_loads_with_the_features_the_card_names(
    labelled: Project, tmp_path: Path
) -> None:
    # when
    folder = write_dataset_folder(
        labelled, tmp_path / "judgements", format="judgements", file="parquet"
    )
    # then
    dataset = _load(folder, tmp_path)
    header, body = _card(folder)
    named = [feature["name"] for feature in header["dataset_info"]["features"]]
    assert dataset.column_names == named
    assert header["task_categories"] == ["text-classification"]
    assert dataset.num_rows == 40 == header["dataset_info"]["splits"][0]["num_examples"]
    assert "| annotators |" in body


def test_conversational_prompts_are_described_as_message_lists(
    project: Project, tmp_path: Path
) -> None:
    # given: a multi-turn prompt makes the whole TRL file conversational
    rows = [
        {
            "prompt": [
                {"role": "user", "content": f"Hi {i}"},
                {"role": "assistant", "content": "Hello."},
                {"role": "user", "content": "Tell me more."},
            ],
            "response_a": f"More about {i}.",
            "response_b": "No.",
            "label": "a",
        }
        for i in range(5)
    ]
    import_file(project, write_jsonl(tmp_path / "chat.jsonl", rows))
    # when
    folder = write_dataset_folder(project, tmp_path / "chat", format="trl")
    # then
    dataset = _load(folder, tmp_path)
    assert dataset.num_rows == 5
    assert dataset[0]["prompt"][0] == {"role": "user", "content": "Hi 0"}


@pytest.mark.parametrize("query", [{"package": "rar"}, {"package": "zip", "license": "CC BY!"}])
def test_bad_package_options_are_a_400_on_page_and_api(
    query: dict[str, str], labelled: Project, admin: User
) -> None:
    field = "license" if "license" in query else "package"
    api = client_for(admin).get(f"/api/projects/{labelled.slug}/export", {"format": "trl", **query})
    assert api.status_code == 400 and field in api.json()
    page = Client()
    page.force_login(admin)
    answer = page.get(f"/projects/{labelled.slug}/export", {"format": "trl", **query})
    assert answer.status_code == 400 and field in answer.content.decode()


def test_the_project_page_offers_the_dataset_folder_and_it_downloads(
    labelled: Project, admin: User, tmp_path: Path
) -> None:
    page = Client()
    page.force_login(admin)
    link = f"/projects/{labelled.slug}/export?format=trl&file=parquet&package=zip"
    assert link in page.get(f"/projects/{labelled.slug}/").content.decode()
    response = page.get(link)
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    folder = _unpack(streamed(response), "zip", tmp_path / "page")
    assert sorted(p.name for p in folder.rglob("*") if p.is_file()) == [
        "README.md",
        "train.parquet",
    ]
    assert _load(folder, tmp_path).num_rows == 39
