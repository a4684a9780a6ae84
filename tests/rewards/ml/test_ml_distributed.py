"""Several processes (DDP through accelerate, gloo on CPU) train like one with the same batch."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from rewards.ml.config import TrainConfig
from rewards.ml.launch import command, read_result, write_job
from tests.rewards.ml.synthetic import synthetic_pairs

ROOT = Path(__file__).resolve().parents[3]
# float32 sums over two processes' gradients differ from one sum in the last bits only.
CURVE_TOLERANCE = 1e-4


def run(job: Path, processes: int) -> dict[str, object]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run(
        command(job, processes), cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return read_result(job)


def test_two_gloo_processes_give_the_one_process_loss_curve(
    tiny_llama: str, tmp_path: Path
) -> None:
    # given one LoRA job with a global batch of 8 pairs and gradient accumulation
    config = TrainConfig(
        mode="finetune",
        backbone=tiny_llama,
        max_length=32,
        members=3,
        device="cpu",
        epochs=2,
        batch_size=8,
        grad_accum=2,
        lr=3e-3,
        warmup_ratio=0.0,
        lora_rank=4,
    )
    pairs = synthetic_pairs(48, seed=11)

    # when trained by one process and by two (each takes half of every batch)
    one = run(write_job(tmp_path / "one", config, pairs), 1)
    two = run(write_job(tmp_path / "two", config, pairs), 2)

    # then the loss curves agree step by step, and so do the held-out metrics
    curve_one = np.array(one["details"]["loss_curve"])  # type: ignore[index]
    curve_two = np.array(two["details"]["loss_curve"])  # type: ignore[index]
    assert len(curve_one) == len(curve_two) > 4
    np.testing.assert_allclose(curve_two, curve_one, rtol=CURVE_TOLERANCE, atol=CURVE_TOLERANCE)
    assert two["details"]["processes"] == 2  # type: ignore[index]
    assert abs(one["metrics"]["log_loss"] - two["metrics"]["log_loss"]) < 1e-3  # type: ignore[index]


@pytest.mark.parametrize("lora_rank", [0, 4], ids=["full", "lora"])
def test_two_fsdp_processes_give_the_one_process_loss_curve_and_rewards(
    tiny_llama: str, tmp_path: Path, lora_rank: int
) -> None:
    # given a fine-tune with its weights sharded over the processes (FSDP2)
    config = TrainConfig(
        mode="finetune",
        backbone=tiny_llama,
        max_length=32,
        members=3,
        device="cpu",
        epochs=2,
        batch_size=8,
        grad_accum=2,
        lr=3e-3,
        warmup_ratio=0.0,
        lora_rank=lora_rank,
        sharding="fsdp",
    )
    pairs = synthetic_pairs(48, seed=11)
    probe = synthetic_pairs(6, seed=12)

    # when trained by one process and by two
    one = run(write_job(tmp_path / "one", config, pairs), 1)
    two = run(write_job(tmp_path / "two", config, pairs), 2)

    # then the loss curves agree step by step
    curve_one = np.array(one["details"]["loss_curve"])  # type: ignore[index]
    curve_two = np.array(two["details"]["loss_curve"])  # type: ignore[index]
    assert len(curve_one) == len(curve_two) > 4
    np.testing.assert_allclose(curve_two, curve_one, rtol=CURVE_TOLERANCE, atol=CURVE_TOLERANCE)
    assert two["details"]["sharding"] == "fsdp" and two["details"]["processes"] == 2  # type: ignore[index]
    # and the gathered checkpoint is a plain one that scores like the one-process model
    from rewards.ml.score import load, score_pairs

    scores = [
        score_pairs(load(tmp_path / name / "model", device="cpu"), probe)[0]
        for name in ("one", "two")
    ]
    np.testing.assert_allclose(scores[1], scores[0], rtol=1e-3, atol=1e-3)
