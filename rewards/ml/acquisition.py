"""Which pairs to ask humans about next, from per-member ensemble scores of both responses."""

from __future__ import annotations

import numpy as np

STRATEGIES = ("random", "uncertainty", "disagreement", "thompson")
EPS = 1e-12


def p_a_from_members(member_scores_a: np.ndarray, member_scores_b: np.ndarray) -> np.ndarray:
    """Per-member P(a beats b) under Bradley-Terry, shape [n, K]."""
    margin = np.asarray(member_scores_a, dtype=np.float64) - np.asarray(member_scores_b)
    return 1.0 / (1.0 + np.exp(-margin))


def binary_entropy(p: np.ndarray) -> np.ndarray:
    """Entropy in nats of a Bernoulli(p)."""
    p = np.clip(p, EPS, 1 - EPS)
    return -(p * np.log(p) + (1 - p) * np.log(1 - p))


def bald(p_members: np.ndarray) -> np.ndarray:
    """Mutual information between the label and the member (Houlsby et al. 2011)."""
    return binary_entropy(p_members.mean(1)) - binary_entropy(p_members).mean(1)


def _scores(
    strategy: str, p_members: np.ndarray, margins: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    if strategy == "random":
        return rng.random(len(p_members))
    if strategy == "uncertainty":
        return binary_entropy(p_members.mean(1))
    if strategy == "disagreement":
        return bald(p_members)
    # thompson: one member drawn per pair; the closer its call, the sooner we ask.
    drawn = rng.integers(0, margins.shape[1], size=len(margins))
    return -np.abs(margins[np.arange(len(margins)), drawn])


def priorities(
    strategy: str,
    member_scores_a: np.ndarray,
    member_scores_b: np.ndarray,
    *,
    explore: float = 0.0,
    seed: int = 0,
) -> np.ndarray:
    """Priority per pair (higher = serve first); `explore` is the share of random picks."""
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, not {strategy!r}")
    a = np.atleast_2d(np.asarray(member_scores_a, dtype=np.float64))
    b = np.atleast_2d(np.asarray(member_scores_b, dtype=np.float64))
    if a.shape != b.shape:
        raise ValueError(f"score shapes differ: {a.shape} vs {b.shape}")
    rng = np.random.default_rng(seed)
    scores = _scores(strategy, p_a_from_members(a, b), a - b, rng)
    if explore <= 0 or len(scores) == 0:
        return scores
    # Epsilon-greedy over a ranked list: priorities become rank quantiles in [0, 1], and the
    # exploring pairs take uniform random quantiles, so any top-k holds about `explore` of them.
    quantiles = scores.argsort().argsort() / max(len(scores) - 1, 1)
    chosen = rng.random(len(scores)) < explore
    quantiles[chosen] = rng.random(int(chosen.sum()))
    return quantiles


def top_k_spread(scores: np.ndarray, groups: list[str], k: int) -> list[int]:
    """Indices of the k highest scores, taking at most one per group until the groups run out.

    A batch picked by score alone clusters on one prompt's near-identical pairs (they share a
    margin); one per prompt spreads the batch, and later passes fill it when prompts are few.
    """
    order = np.argsort(-np.asarray(scores), kind="stable")
    chosen: list[int] = []
    taken = np.zeros(len(order), dtype=bool)
    while len(chosen) < min(k, len(order)):
        seen: set[str] = set()
        for i in order:
            if not taken[i] and groups[i] not in seen and len(chosen) < k:
                chosen.append(int(i))
                taken[i] = True
                seen.add(groups[i])
    return chosen
