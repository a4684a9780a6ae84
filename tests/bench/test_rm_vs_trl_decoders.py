"""bench/rm_vs_trl.py's decoder rows: the path the GPU shapes take, run on the tiny shape."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from tests.rewards.ml.synthetic import synthetic_pairs

pytestmark = pytest.mark.slow


def test_the_decoder_rows_train_both_trainers_and_leave_gpu_shapes_unmeasured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a made-up device peak, so the MFU arithmetic runs on this CPU too
    from bench import rm_vs_trl
    from rewards.ml import speed

    monkeypatch.setattr(speed, "peak_flops", lambda device: 1e6)
    args = rm_vs_trl.parse_args(
        ["--decoder-shapes", "tiny,qwen2.5-0.5b", "--batch-size", "4", "--max-length", "32",
         "--repeats", "1", "--device", "cpu"]
    )  # fmt: skip

    # when the rows are measured on eight pairs
    rows = rm_vs_trl.decoder_rows(args, synthetic_pairs(8, seed=3), tmp_path)

    # then the tiny shape has LoRA and full rows for both trainers, each with its speed
    tiny = [row for row in rows if row["shape"] == "tiny"]
    assert [(row["tuning"], row["trainer"][:3]) for row in tiny] == [
        ("LoRA r16", "rew"), ("LoRA r16", "TRL"), ("full", "rew"), ("full", "TRL")
    ]  # fmt: skip
    for row in tiny:
        assert row["pairs/s"] and row["tokens/s"] and row["mfu"], row
    # and full rows count the same N on both sides (non-embedding backbone parameters)
    ours, trl = (row for row in tiny if row["tuning"] == "full")
    per_token = [row["mfu"] / row["tokens/s"] for row in (ours, trl)]  # type: ignore[operator]
    assert math.isclose(*per_token, rel_tol=1e-3)
    # and without a GPU the Qwen-shaped rows say they were not measured
    qwen = [row for row in rows if row["shape"] == "qwen2.5-0.5b"]
    assert len(qwen) == 4 and all(row["pairs/s"] is None for row in qwen)
