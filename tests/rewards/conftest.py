"""Training a version in the test process, on the tiny backbone, with its own folders."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from annotate.models import Project
from rewards.models import RewardModel, TrainingRun
from rewards.worker import services
from rewards.worker.services import train_reward_model
from tests.factories import make_pairs


@pytest.fixture(autouse=True)
def _own_scorers(monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker's loaded scorers (by model id) stay in their test: ids repeat after a
    rollback, so a later test's version 1 would be scored by an earlier one's."""
    monkeypatch.setattr(services, "_SCORERS", {})


@pytest.fixture
def rewards_dirs(settings: Any, tmp_path: Path, tiny_backbone: str) -> Path:
    """Model, embedding and media folders under tmp_path; the tiny backbone as default."""
    settings.REWARDS_BACKBONE = tiny_backbone
    settings.REWARDS_MODEL_DIR = tmp_path / "models"
    settings.REWARDS_CACHE_DIR = str(tmp_path / "embeddings")
    settings.MEDIA_ROOT = tmp_path / "media"
    return tmp_path


def train_version(project: Project, tmp_path: Path, *, pairs: int = 30) -> RewardModel:
    """Import `pairs` labelled pairs and train (and serve) a small version in this process."""
    if pairs:
        make_pairs(project, tmp_path, pairs)
    run = TrainingRun.objects.create(
        project=project,
        status="running",
        options={"members": 2, "epochs": 2, "max_length": 32, "seed": 3},
    )
    train_reward_model(run.pk)
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    return RewardModel.objects.get(project=project, is_active=True)
