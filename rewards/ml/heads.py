"""An ensemble of K small reward heads over pooled embeddings plus response-length features."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn


def extra_features(lengths: np.ndarray, enabled: bool) -> torch.Tensor:
    """log(1 + response tokens) as one column, or no columns when disabled."""
    values = torch.as_tensor(np.asarray(lengths), dtype=torch.float32)
    column = torch.log1p(values).unsqueeze(-1)
    return column if enabled else column[:, :0]


def bradley_terry_loss(
    diff: torch.Tensor,
    target: torch.Tensor,
    margin: torch.Tensor,
    weight: torch.Tensor,
    total: torch.Tensor | None = None,
) -> torch.Tensor:
    """Weighted -log sigmoid(r_w - r_l - margin); ties are soft 0.5 targets.

    diff, weight: [n, K]; target, margin: [n]. The margin pushes the winner's reward further
    ahead (Llama 2, Touvron et al. 2023, eq. 2) and is 0 for ties. `total` replaces the
    weights' sum as the divisor (a process's share of a batch split over several).
    """
    sign = (target - 0.5).sign().unsqueeze(-1)
    logits = diff - sign * margin.unsqueeze(-1)
    per = nn.functional.binary_cross_entropy_with_logits(
        logits, target.unsqueeze(-1).expand_as(logits), reduction="none"
    )
    divisor = weight.sum() if total is None else total
    return (per * weight).sum() / divisor.clamp(min=1e-9)


class HeadEnsemble(nn.Module):
    """K heads scoring the same inputs in one batched pass; output is [n, K] rewards.

    No output bias: Bradley-Terry only sees reward differences, so a bias would never train.
    """

    # Buffers (register_buffer): declared so mypy sees tensors, not `Tensor | Module`.
    mean: torch.Tensor
    std: torch.Tensor
    extra_mean: torch.Tensor
    extra_std: torch.Tensor

    if TYPE_CHECKING:
        # nn.Module types `__call__` as `Callable[..., Any]`; give calls forward's signature.
        def __call__(self, x: torch.Tensor, extra: torch.Tensor) -> torch.Tensor: ...

    def __init__(self, dim: int, members: int, hidden: int = 0, n_extra: int = 1) -> None:
        super().__init__()
        self.dim, self.members, self.hidden, self.n_extra = dim, members, hidden, n_extra
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))
        self.register_buffer("extra_mean", torch.zeros(n_extra))
        self.register_buffer("extra_std", torch.ones(n_extra))
        width = hidden or 1
        scale = 1.0 / math.sqrt(dim)
        self.w_in = nn.Parameter(torch.randn(members, dim, width) * scale)
        if hidden:
            self.b_in = nn.Parameter(torch.randn(members, hidden) * 0.01)
            self.w_out = nn.Parameter(torch.randn(members, hidden) / math.sqrt(hidden))
        if n_extra:
            self.w_extra = nn.Parameter(torch.randn(members, n_extra) * 0.01)

    def fit_scaler(self, x: torch.Tensor, extra: torch.Tensor) -> None:
        """Standardize features with training statistics (stored with the weights)."""
        self.mean.copy_(x.mean(0))
        self.extra_mean.copy_(extra.mean(0))
        # One row has no spread (std would be NaN); keep the unit scale then. The row counts are
        # checked apart: finetune passes placeholder embeddings with the real length features.
        if len(x) > 1:
            self.std.copy_(x.std(0).clamp(min=1e-6))
        if len(extra) > 1:
            self.extra_std.copy_(extra.std(0).clamp(min=1e-6))

    def decayed_parameters(self) -> list[nn.Parameter]:
        """Embedding weights: the ones that overfit and need strong decay."""
        return [p for n, p in self.named_parameters() if n != "w_extra"]

    def forward(self, x: torch.Tensor, extra: torch.Tensor) -> torch.Tensor:
        """Rewards [n, K] for embeddings x [n, dim] and extra features [n, n_extra]."""
        z = (x - self.mean) / self.std
        if self.hidden:
            h = torch.einsum("nd,kdh->nkh", z, self.w_in)
            r = (torch.relu(h + self.b_in) * self.w_out).sum(-1)
        else:
            # Linear heads as one [dim, K] matmul: several times faster than the batched einsum.
            r = z @ self.w_in.squeeze(-1).T
        if not self.n_extra:
            return r
        e = (extra - self.extra_mean) / self.extra_std
        return r + e @ self.w_extra.T

    def config(self) -> dict[str, int]:
        """Constructor arguments, for the checkpoint."""
        return {
            "dim": self.dim,
            "members": self.members,
            "hidden": self.hidden,
            "n_extra": self.n_extra,
        }
