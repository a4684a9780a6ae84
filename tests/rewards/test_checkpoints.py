"""The Django side stores what a checkpoint says it is, and unpacks a version once per machine."""

from __future__ import annotations

from pathlib import Path

import pytest

from annotate.models import Project
from rewards.worker.services import local_model_dir
from tests.rewards.conftest import train_version

pytestmark = pytest.mark.django_db


def test_a_trained_version_stores_its_backbone_and_config(
    rewards_dirs: Path, tiny_backbone: str, project: Project
) -> None:
    # when a run trains in this process
    model = train_version(project, rewards_dirs)
    # then the version records what the checkpoint was trained with
    assert model.backbone == tiny_backbone
    assert model.config["backbone"] == tiny_backbone
    assert (model.config["mode"], model.config["members"], model.config["seed"]) == ("heads", 2, 3)


def test_a_version_is_unpacked_from_storage_once(rewards_dirs: Path, project: Project) -> None:
    # given a version whose local folder is gone (a fresh worker machine)
    model = train_version(project, rewards_dirs)
    folder = local_model_dir(model)
    for path in sorted(folder.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    # when it is loaded cold, and its archive then disappears from storage
    unpacked = local_model_dir(model)
    model.artifact.storage.delete(model.artifact.name)
    # then the second load uses the unpacked folder instead of unpacking again
    assert local_model_dir(model) == unpacked
    assert any(unpacked.iterdir())
