"""Which pairs to ask humans about next, from per-member ensemble scores of both responses.

Every strategy's priorities are on one scale: rank quantiles in (0, 1], higher = ask sooner
(1 for the pair the strategy wants most, 1/n for the one it wants least; tied scores share a
quantile). 0 is left for pairs not ranked yet, so they are served after every ranked pair.
The raw scores differ per strategy (entropy >= 0, BALD >= 0, uniform draws, -|margin| <= 0)
and are only compared within one ranking.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

STRATEGIES = ("random", "uncertainty", "disagreement", "thompson")
EPS = 1e-12

FloatArray = npt.NDArray[np.float64]


def p_a_from_members(member_scores_a: np.ndarray, member_scores_b: np.ndarray) -> FloatArray:
    """Per-member P(a beats b) under Bradley-Terry, shape [n, K]."""
    a = np.asarray(member_scores_a, dtype=np.float64)
    margin = a - np.asarray(member_scores_b, dtype=np.float64)
    return 1.0 / (1.0 + np.exp(-margin))


def binary_entropy(p: FloatArray) -> FloatArray:
    """Entropy in nats of a Bernoulli(p)."""
    p = np.clip(p, EPS, 1 - EPS)
    return -(p * np.log(p) + (1 - p) * np.log(1 - p))


def bald(p_members: FloatArray) -> FloatArray:
    """Mutual information between the label and the member (Houlsby et al. 2011)."""
    # numpy types reductions over an axis as Any; the annotation restores the array type.
    information: FloatArray = binary_entropy(p_members.mean(1)) - binary_entropy(p_members).mean(1)
    return information


def acquisition_scores(
    strategy: str,
    member_scores_a: np.ndarray,
    member_scores_b: np.ndarray,
    *,
    seed: int | list[int] = 0,
) -> FloatArray:
    """The strategy's raw score per pair (higher = ask sooner), on the strategy's own scale."""
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, not {strategy!r}")
    a = np.atleast_2d(np.asarray(member_scores_a, dtype=np.float64))
    b = np.atleast_2d(np.asarray(member_scores_b, dtype=np.float64))
    if a.shape != b.shape:
        raise ValueError(f"score shapes differ: {a.shape} vs {b.shape}")
    rng = np.random.default_rng(seed)
    p_members = p_a_from_members(a, b)
    if strategy == "random":
        return rng.random(len(p_members))
    if strategy == "uncertainty":
        return binary_entropy(p_members.mean(1))
    if strategy == "disagreement":
        return bald(p_members)
    # thompson: one member drawn per pair; the closer its call, the sooner we ask.
    margins = a - b
    drawn = rng.integers(0, margins.shape[1], size=len(margins))
    return -np.abs(margins[np.arange(len(margins)), drawn])


def judge_disagreement(
    counts: np.ndarray, inconsistent_share: np.ndarray, model_p_a: np.ndarray
) -> FloatArray:
    """How much AI judges disagree about each pair (higher = ask humans sooner).

    `counts` is [n, 3]: the judges' consistent votes for a, b and tie; `inconsistent_share`
    the share of judges whose verdict flipped when the sides were swapped; `model_p_a` the
    served reward model's P(a wins) (NaN where it has none). The score adds the judges' split
    (1 - the top choice's share of their votes), the flipped share, and the gap between the
    model's P(a wins) and the judges' (ties half); a pair without votes scores its flips only.
    """
    counts = np.asarray(counts, dtype=np.float64)
    votes = counts.sum(1)
    with np.errstate(divide="ignore", invalid="ignore"):
        split = np.where(votes > 0, 1 - counts.max(1) / votes, 0.0)
        judges_p_a = (counts[:, 0] + counts[:, 2] / 2) / votes
    model_p_a = np.asarray(model_p_a, dtype=np.float64)
    gap = np.where(np.isfinite(model_p_a) & (votes > 0), np.abs(model_p_a - judges_p_a), 0.0)
    scores: FloatArray = split + np.asarray(inconsistent_share, dtype=np.float64) + gap
    return scores


def rank_quantiles(scores: np.ndarray) -> FloatArray:
    """Scores as rank quantiles in (0, 1]: 1/n the lowest, 1 the highest, ties averaged."""
    scores = np.asarray(scores, dtype=np.float64)
    n = len(scores)
    ranks = np.empty(n)
    ranks[np.argsort(scores, kind="stable")] = np.arange(n)
    _, tied = np.unique(scores, return_inverse=True)
    mean_rank = np.bincount(tied, weights=ranks) / np.bincount(tied)
    return (mean_rank[tied] + 1) / n


def priorities(
    strategy: str,
    member_scores_a: np.ndarray,
    member_scores_b: np.ndarray,
    *,
    explore: float = 0.0,
    seed: int = 0,
) -> FloatArray:
    """Priority per pair as a rank quantile in (0, 1] (higher = serve first).

    `explore` is the share of random picks: those pairs take uniform random quantiles, so any
    top-k holds about `explore` of them (epsilon-greedy over a ranked list).
    """
    quantiles = rank_quantiles(
        acquisition_scores(strategy, member_scores_a, member_scores_b, seed=seed)
    )
    if explore <= 0 or len(quantiles) == 0:
        return quantiles
    rng = np.random.default_rng([seed, 1])
    chosen = rng.random(len(quantiles)) < explore
    quantiles[chosen] = 1.0 - rng.random(int(chosen.sum()))  # uniform on (0, 1]
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
