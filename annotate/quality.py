"""Aggregating judgements: what a pair's votes decide."""

from __future__ import annotations

from collections.abc import Mapping


def majority(votes: Mapping[str, int]) -> tuple[str | None, float]:
    """The strictly most frequent choice and its share of all votes; None when tied at the top."""
    total = sum(votes.values())
    if not total:
        return None, 0.0
    ranked = sorted(votes.items(), key=lambda kv: kv[1], reverse=True)
    if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
        return None, 0.0
    return ranked[0][0], ranked[0][1] / total
