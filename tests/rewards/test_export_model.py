"""`manage.py export_model`: a stored version written out as trained or merged, on a machine
that has no copy of it (fetched from storage)."""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from io import StringIO
from pathlib import Path

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from annotate.models import Project
from rewards.models import RewardModel
from rewards.worker.artifacts import store_checkpoint

pytestmark = pytest.mark.django_db


@dataclass
class Stored:
    model: RewardModel
    items: list[tuple]
    rewards: np.ndarray  # the trained folder's, before it was removed


@pytest.fixture
def stored_lora(rewards_dirs: Path, project: Project) -> Stored:
    """A LoRA version of a tiny Llama in storage only, some items and its rewards for them."""
    from rewards.ml.config import TrainConfig
    from rewards.ml.testing import build_tiny_llama
    from rewards.ml.train import train
    from tests.rewards.ml.synthetic import synthetic_pairs

    base = build_tiny_llama(rewards_dirs / "llama")
    pairs = synthetic_pairs(40, seed=6)
    config = TrainConfig(
        mode="finetune", backbone=base, max_length=32, members=2, device="cpu", epochs=2,
        batch_size=8, lr=3e-3, warmup_ratio=0.0, lora_rank=8,
    )  # fmt: skip
    trained = rewards_dirs / "trained"
    train(config, pairs, trained)
    model = RewardModel.objects.create(
        project=project, version=1, mode="finetune", backbone=base, config=config.to_dict()
    )
    store_checkpoint(model, trained)
    items = [(p.prompt, p.b) for p in pairs[:8]]
    from rewards.ml.score import score

    rewards = score(trained, items).per_member
    shutil.rmtree(trained)  # nothing on this machine but the stored archive
    return Stored(model, items, rewards)


def test_a_lora_version_exports_merged_with_the_same_rewards(
    stored_lora: Stored, rewards_dirs: Path, project: Project
) -> None:
    from transformers import AutoModel

    from rewards.ml.score import score

    out = rewards_dirs / "merged"
    # when the version is exported merged
    said = StringIO()
    call_command("export_model", project.slug, "1", str(out), "--merged", stdout=said)
    # then the folder's backbone is a plain transformers model and the rewards agree
    AutoModel.from_pretrained(out / "backbone", local_files_only=True)
    assert "merged" in said.getvalue()
    merged = score(out, stored_lora.items).per_member
    np.testing.assert_allclose(merged, stored_lora.rewards, rtol=1e-4, atol=1e-5)


def test_a_version_exports_as_trained(
    stored_lora: Stored, rewards_dirs: Path, project: Project
) -> None:
    from rewards.ml.score import score

    out = rewards_dirs / "as-trained"
    # when the version is exported as trained, then it is its adapter and scores the same
    call_command("export_model", project.slug, "1", str(out), stdout=StringIO())
    assert (out / "adapter" / "adapter_model.safetensors").exists()
    np.testing.assert_array_equal(score(out, stored_lora.items).per_member, stored_lora.rewards)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope", "1"], "no project 'nope'"),
        (["{slug}", "7"], "has no version 7 (versions: [1])"),
        (["{slug}", "1", "--merged"], "not an empty folder"),
    ],
)
def test_it_says_what_is_wrong(
    stored_lora: Stored,
    rewards_dirs: Path,
    project: Project,
    args: list[str],
    message: str,
) -> None:
    out = rewards_dirs / "taken"
    out.mkdir()
    (out / "file").write_text("x")
    argv = [a.format(slug=project.slug) for a in args]
    with pytest.raises(CommandError, match=re.escape(message)):
        call_command("export_model", *argv[:2], str(out), *argv[2:])
