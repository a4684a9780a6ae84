"""Entry point for training: split, fit (heads or finetune), evaluate, write the checkpoint."""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rewards.ml.backbone import Progress
from rewards.ml.baseline import compare_with_length
from rewards.ml.checkpoint import describe, write_checkpoint
from rewards.ml.config import TrainConfig
from rewards.ml.data import PreferencePair, fingerprint, split_by_prompt
from rewards.ml.metrics import Metrics, evaluate
from rewards.ml.score import RewardScorer, ensemble_p_a, score_pairs


@dataclass
class TrainResult:
    """What a finished run produced: where, how good, how long, and the checkpoint's metadata.

    `meta` is what the checkpoint records (backbone, config, heads, metrics...), so callers
    need not read the folder back.
    """

    out_dir: Path
    metrics: Metrics
    seconds: float
    n_pairs: int
    details: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    baseline: dict[str, Any] = field(default_factory=dict)


def seed_everything(seed: int) -> None:
    """Same seed, same model (on CPU; CUDA kernels may still differ in the last bits)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def pair_metrics(scorer: RewardScorer, pairs: Sequence[PreferencePair]) -> Metrics:
    """accuracy, log_loss, ece and n of the ensemble on held-out pairs."""
    if not pairs:
        return evaluate([], [])
    scores_a, scores_b = score_pairs(scorer, pairs)
    return evaluate(ensemble_p_a(scores_a, scores_b), [p.label for p in pairs])


def length_baseline(
    scorer: RewardScorer,
    train_pairs: Sequence[PreferencePair],
    val_pairs: Sequence[PreferencePair],
) -> dict[str, Any]:
    """The version against a length-only model fitted on the same training pairs."""
    if not val_pairs:
        return compare_with_length(train_pairs, [], [])
    scores_a, scores_b = score_pairs(scorer, val_pairs)
    return compare_with_length(
        train_pairs,
        val_pairs,
        ensemble_p_a(scores_a, scores_b),
        rewards_a=scores_a.mean(1),
        rewards_b=scores_b.mean(1),
    )


def fit(
    config: TrainConfig,
    train_pairs: Sequence[PreferencePair],
    stop_pairs: Sequence[PreferencePair],
    progress: Progress | None,
) -> tuple[RewardScorer, dict[str, Any]]:
    """Dispatch to the mode's trainer."""
    if config.mode == "heads":
        from rewards.ml.train_heads import train_heads

        return train_heads(config, train_pairs, stop_pairs, progress)
    from rewards.ml.finetune import train_finetune

    return train_finetune(config, train_pairs, stop_pairs, progress)


def train(
    config: TrainConfig,
    pairs: Sequence[PreferencePair],
    out_dir: str | Path,
    *,
    progress: Progress | None = None,
    val_pairs: Sequence[PreferencePair] | None = None,
    metadata: dict[str, Any] | None = None,
) -> TrainResult:
    """Train on `pairs`, measure on `val_pairs` (else the internal split), write `out_dir`.

    The internal split (by prompt, `config.val_fraction`) always drives early stopping, so
    `val_pairs` stay untouched by model selection. `metadata` (e.g. the last judgement id)
    is stored in the checkpoint as is.
    """
    if not pairs:
        raise ValueError("no training pairs")
    started = time.monotonic()
    seed_everything(config.seed)
    train_pairs, stop_pairs = split_by_prompt(pairs, config.val_fraction, seed=config.seed)
    scorer, details = fit(config, train_pairs, stop_pairs, progress)
    fit_seconds = time.monotonic() - started
    if details.get("rank", 0) != 0:
        # Another process of a several-process run: the main one evaluates and writes.
        return TrainResult(Path(out_dir), evaluate([], []), fit_seconds, len(pairs), details)
    # Heads runs are measured end to end (embedding dominates); finetune reports its own loop.
    details.setdefault(
        "throughput", {"pairs_per_s": round(len(train_pairs) / max(fit_seconds, 1e-9), 2)}
    )
    measured_on = val_pairs if val_pairs is not None else stop_pairs
    metrics = pair_metrics(scorer, measured_on)
    # The model saw every pair (training or early stopping), so the baseline fits on all.
    baseline = length_baseline(scorer, pairs, measured_on)
    scorer.meta = describe(
        scorer,
        config,
        metrics=metrics,
        baseline=baseline,
        metrics_on="val_pairs" if val_pairs is not None else "internal split",
        data={
            "fingerprint": fingerprint(pairs),
            "n_pairs": len(pairs),
            "n_train": len(train_pairs),
            "n_stop": len(stop_pairs),
        },
        training={**details, "fit_seconds": round(fit_seconds, 3)},
        metadata=metadata or {},
    )
    folder = write_checkpoint(scorer, out_dir)
    if progress is not None:
        progress(1.0, float(details.get("train_loss", float("nan"))), 0.0)
    seconds = time.monotonic() - started
    return TrainResult(
        folder, metrics, seconds, len(pairs), details, meta=scorer.meta, baseline=baseline
    )
