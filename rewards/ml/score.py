"""Scoring responses with a trained reward model: per-member rewards, mean and spread."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rewards.ml.acquisition import FloatArray, p_a_from_members
from rewards.ml.backbone import Backbone, Item, Progress, embed_items
from rewards.ml.cache import EmbeddingCache
from rewards.ml.data import PreferencePair
from rewards.ml.heads import HeadEnsemble, extra_features

# Inputs per forward pass when a fine-tuned backbone scores raw text.
SCORE_BATCH = 32


@dataclass
class RewardScorer:
    """A trained model ready to score: heads over a backbone, plus the checkpoint's metadata."""

    mode: str
    backbone: Backbone
    heads: HeadEnsemble
    cache: EmbeddingCache | None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def members(self) -> int:
        """Ensemble size K."""
        return self.heads.members


@dataclass
class ScoreResult:
    """Rewards per item: ensemble mean and std, and every member's score [n, K]."""

    mean: np.ndarray
    std: np.ndarray
    per_member: np.ndarray


def load(
    model_dir: str | Path, *, cache_dir: str | None = None, device: str = "auto"
) -> RewardScorer:
    """Restore a scorer from a checkpoint folder alone (cache_dir defaults to the trained one)."""
    from rewards.ml.checkpoint import read_checkpoint

    return read_checkpoint(Path(model_dir), cache_dir=cache_dir, device=device)


@torch.no_grad()
def _member_scores(
    scorer: RewardScorer, items: Sequence[Item], progress: Progress | None
) -> np.ndarray:
    if scorer.cache is not None:
        vectors, lengths, _ = embed_items(scorer.backbone, items, scorer.cache, progress=progress)
        x = torch.from_numpy(vectors).to(scorer.backbone.device)
        extra = extra_features(lengths, scorer.heads.n_extra > 0).to(x.device)
        return scorer.heads(x, extra).float().cpu().numpy()
    encoded = [scorer.backbone.formatter.encode(p, r) for p, r in items]
    out = np.zeros((len(items), scorer.members), dtype=np.float32)
    for chunk in length_batches([len(ids) for ids, _ in encoded]):
        out[chunk] = forward_rewards(scorer, [encoded[i] for i in chunk]).float().cpu().numpy()
    return out


def length_batches(lengths: Sequence[int], size: int = SCORE_BATCH) -> list[list[int]]:
    """Item indices in scoring batches: sorted by length (little padding), `size` at a time."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    return [order[start : start + size] for start in range(0, len(order), size)]


def autocast_for(device: torch.device) -> torch.autocast:
    """bf16 autocast on CUDA (the heads and the loss stay float32); a no-op elsewhere."""
    return torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")


def forward_rewards(scorer: RewardScorer, encoded: Sequence[tuple[list[int], int]]) -> torch.Tensor:
    """[n, K] rewards straight from token ids (the fine-tune path; gradients flow if enabled)."""
    backbone = scorer.backbone
    with autocast_for(backbone.device):
        pooled = backbone.forward([ids for ids, _ in encoded]).float()
    lengths = np.array([n for _, n in encoded])
    extra = extra_features(lengths, scorer.heads.n_extra > 0).to(pooled.device)
    return scorer.heads(pooled, extra)


def score(
    scorer: RewardScorer | str | Path,
    items: Sequence[Item],
    *,
    progress: Progress | None = None,
) -> ScoreResult:
    """Score (prompt, response) items; heads mode embeds via the cache, so re-scoring is cheap."""
    model = scorer if isinstance(scorer, RewardScorer) else load(scorer)
    if not items:
        empty = np.zeros((0, model.members), dtype=np.float32)
        return ScoreResult(empty.mean(1), empty.std(1), empty)
    model.heads.eval()
    model.backbone.model.eval()
    per_member = _member_scores(model, items, progress)
    return ScoreResult(per_member.mean(1), per_member.std(1), per_member)


def score_pairs(
    scorer: RewardScorer, pairs: Sequence[PreferencePair]
) -> tuple[np.ndarray, np.ndarray]:
    """Per-member rewards [n, K] of the a and b responses of each pair."""
    items = [(p.prompt, p.a) for p in pairs] + [(p.prompt, p.b) for p in pairs]
    members = score(scorer, items).per_member
    return members[: len(pairs)], members[len(pairs) :]


def ensemble_p_a(scores_a: np.ndarray, scores_b: np.ndarray) -> FloatArray:
    """P(a beats b): the members' Bradley-Terry probabilities averaged."""
    p_a: FloatArray = p_a_from_members(scores_a, scores_b).mean(1)  # numpy types `.mean(1)` Any
    return p_a
