"""Reward model core: pure PyTorch + transformers, no Django (runs in workers, CLI, GPU boxes).

Names are imported lazily so `import rewards.ml` stays cheap; torch loads on first use.
The functions `train` and `score` live in the submodules of the same names (a package
attribute cannot be both), so call `rewards.ml.train.train` and `rewards.ml.score.score`.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "TrainConfig": "rewards.ml.config",
    "PreferencePair": "rewards.ml.data",
    "read_pairs_jsonl": "rewards.ml.data",
    "embed_ahead": "rewards.ml.backbone",
    "TrainResult": "rewards.ml.train",
    "load": "rewards.ml.score",
    "RewardScorer": "rewards.ml.score",
    "ScoreResult": "rewards.ml.score",
    "evaluate": "rewards.ml.metrics",
    "priorities": "rewards.ml.acquisition",
    "acquisition_scores": "rewards.ml.acquisition",
    "rank_quantiles": "rewards.ml.acquisition",
    "p_a_from_members": "rewards.ml.acquisition",
    "STRATEGIES": "rewards.ml.acquisition",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'rewards.ml' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
