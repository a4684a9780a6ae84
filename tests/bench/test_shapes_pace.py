"""Smoke test: bench/shapes_pace.py replays a few demo prompts as rankings and as pairs."""

from __future__ import annotations

import pytest

from bench import shapes_pace

pytestmark = pytest.mark.django_db


def test_a_ranking_of_four_is_one_page_for_six_pairs_and_exports_what_the_pairs_do() -> None:
    result = shapes_pace.measure(k=4, prompts=2, demo_pairs=True)
    ranking, same, demo = result["rows"]
    assert (ranking["shape"], ranking["pages"], ranking["implied_pairs"]) == ("ranking of 4", 2, 12)
    assert (same["pages"], same["implied_pairs"]) == (12, 12)
    assert demo["pages"] == demo["implied_pairs"] > 0
    # the same annotator's pages give the same decisive pairs, ties kept out
    assert result["same_trl_export"]
    assert 0 < ranking["trl_rows"] == same["trl_rows"] <= 12
    for row in result["rows"]:
        assert row["app_ms_per_page"] > 0
        assert row["app_ms_per_pair"] == pytest.approx(
            row["app_ms_per_page"] * row["pages"] / row["implied_pairs"]
        )
    # under the stated model, reading each response once per ranking is what makes it cheaper
    assert ranking["annotator_s_per_pair"] < same["annotator_s_per_pair"]
    assert ranking["annotator_s_per_page"] > same["annotator_s_per_page"]


def test_one_comparison_per_pair_and_log2_k_factorial_per_ranking() -> None:
    assert [shapes_pace.comparisons_to_order(k) for k in (2, 3, 4, 5, 8)] == [1, 3, 5, 7, 16]
