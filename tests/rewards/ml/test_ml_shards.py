"""Scoring split over several processes gives one process's rewards."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rewards.ml.config import TrainConfig
from rewards.ml.score import load, score
from rewards.ml.shards import ShardFailed, score_on_devices
from rewards.ml.train import train
from tests.rewards.ml.synthetic import synthetic_pairs

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def lora_checkpoint(tiny_llama: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    config = TrainConfig(
        mode="finetune", backbone=tiny_llama, max_length=32, members=3, epochs=1,
        device="cpu", lora_rank=4,
    )  # fmt: skip
    out = tmp_path_factory.mktemp("lora") / "model"
    train(config, synthetic_pairs(24, seed=5), out)
    return out


def items(n: int) -> list[tuple[str, str]]:
    """Responses of many lengths, so they fill several scoring batches."""
    return [(f"prompt {i % 7}", " ".join(["word"] * (1 + i % 23)) + f" {i}") for i in range(n)]


def test_two_processes_score_like_one(lora_checkpoint: Path) -> None:
    # given 70 responses (three batches of 32 by length)
    texts = items(70)

    # when scored in this process, then split over two CPU processes
    one = score(load(lora_checkpoint, device="cpu"), texts)
    two = score_on_devices(lora_checkpoint, texts, ["cpu", "cpu"])

    # then every member's reward agrees (each batch pads as it does in one process)
    assert two.per_member.shape == (70, 3)
    np.testing.assert_allclose(two.per_member, one.per_member, rtol=0, atol=1e-6)
    np.testing.assert_allclose(two.mean, one.mean, rtol=0, atol=1e-6)


def test_a_failed_shard_is_reported_with_its_log(lora_checkpoint: Path) -> None:
    with pytest.raises(ShardFailed, match="scoring shard 1 exited with status 1"):
        score_on_devices(lora_checkpoint, items(40), ["cpu", "no-such-device"])
