"""Pairs as index tensors for training: rows of both responses, targets, margins, resamples."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from rewards.ml.data import PreferencePair, Prompt, prompt_key


@dataclass
class PairTensors:
    """Pairs as row indices into the response matrix, with targets and weights."""

    a: torch.Tensor
    b: torch.Tensor
    target: torch.Tensor
    margin: torch.Tensor
    weight: torch.Tensor
    group: torch.Tensor

    def __len__(self) -> int:
        return len(self.a)


def unique_rows(
    pairs: Sequence[PreferencePair],
) -> tuple[dict[tuple[str, str], int], list[tuple[Prompt, str]]]:
    """Each distinct (prompt, response) once, in first-seen order: (row index, items)."""
    rows: dict[tuple[str, str], int] = {}
    items: list[tuple[Prompt, str]] = []
    for pair in pairs:
        for text in (pair.a, pair.b):
            key = (prompt_key(pair.prompt), text)
            if key not in rows:
                rows[key] = len(items)
                items.append((pair.prompt, text))
    return rows, items


def pair_tensors(
    pairs: Sequence[PreferencePair], rows: dict[tuple[str, str], int], margin_per_strength: float
) -> PairTensors:
    """Index pairs against the unique (prompt, response) rows."""

    def row(pair: PreferencePair, text: str) -> int:
        return rows[(prompt_key(pair.prompt), text)]

    strength = [float(p.strength or 0) if p.label != "tie" else 0.0 for p in pairs]
    prompt_ids: dict[str, int] = {}
    return PairTensors(
        a=torch.tensor([row(p, p.a) for p in pairs], dtype=torch.long),
        b=torch.tensor([row(p, p.b) for p in pairs], dtype=torch.long),
        target=torch.tensor([p.target for p in pairs], dtype=torch.float32),
        margin=torch.tensor(strength, dtype=torch.float32) * margin_per_strength,
        weight=torch.tensor([p.weight for p in pairs], dtype=torch.float32),
        group=torch.tensor(
            [prompt_ids.setdefault(prompt_key(p.prompt), len(prompt_ids)) for p in pairs]
        ),
    )


def bootstrap_counts(n: int, members: int, seed: int) -> torch.Tensor:
    """[n, K] resample counts; a single member sees the data as is."""
    if members == 1:
        return torch.ones(n, 1)
    rng = np.random.default_rng(seed)
    counts = [np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(members)]
    return torch.tensor(np.stack(counts, 1), dtype=torch.float32)
