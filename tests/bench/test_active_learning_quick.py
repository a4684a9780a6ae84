"""Smoke test: bench/active_learning.py --quick runs end to end on a tiny backbone and data set."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from bench import active_learning
from bench.active_learning_sim import SimSettings, labels_to_reach, mean_ci, plan_budgets
from rewards.ml.testing import build_tiny_backbone

GOOD = ["good", "great", "helpful", "clear", "correct", "kind", "useful"]
BAD = ["bad", "awful", "wrong", "rude", "useless", "unclear", "sloppy"]
TOPICS = ["cat", "dog", "sun", "moon", "tree", "river", "stone", "cloud", "apple", "bread"]


def write_pairs(path: Path, n: int, seed: int = 0) -> None:
    """Pairs in the shared data format whose label follows the good words (with some ties)."""
    rng = random.Random(seed)
    with path.open("w") as handle:
        for i in range(n):
            topic = TOPICS[i % len(TOPICS)]
            good, bad = " ".join(rng.sample(GOOD, 3)), " ".join(rng.sample(BAD, 3))
            a_wins = rng.random() < 0.5
            row = {
                "id": f"toy-{i}",
                "source": "toy",
                "prompt": f"tell me about the {topic} {i // 2}",
                "response_a": f"the {topic} is {good if a_wins else bad}",
                "response_b": f"the {topic} is {bad if a_wins else good}",
                "label": "tie" if i % 17 == 0 else ("a" if a_wins else "b"),
            }
            handle.write(json.dumps(row) + "\n")


@pytest.mark.slow
def test_it_runs_quick_and_writes_json_and_plot(tmp_path: Path) -> None:
    # given
    data = tmp_path / "toy.jsonl"
    write_pairs(data, 300)
    backbone = build_tiny_backbone(tmp_path / "backbone")
    out_json, out_png = tmp_path / "al.json", tmp_path / "al.png"

    # when
    code = active_learning.main(
        [
            "--data",
            str(data),
            "--quick",
            "--noise",
            "0.1",
            "--members",
            "4",
            "--backbone",
            backbone,
            "--cache-dir",
            str(tmp_path / "cache"),
            "--json",
            str(out_json),
            "--plot",
            str(out_png),
        ]
    )

    # then
    assert code == 0
    result = json.loads(out_json.read_text())
    assert {"config", "strategies"} <= set(result)
    assert set(result["strategies"]) == {"random", "uncertainty", "disagreement", "thompson"}
    assert result["strategies"]["random"]["label_efficiency"] is None
    for entry in result["strategies"].values():
        assert len(entry["budgets"]) == len(entry["accuracy_mean"]) == len(entry["accuracy_ci"])
        assert all(
            lo <= mean <= hi
            for (lo, hi), mean in zip(entry["accuracy_ci"], entry["accuracy_mean"], strict=True)
        )
    assert out_png.read_bytes()[:4] == b"\x89PNG"


def test_it_shrinks_batches_for_small_pools() -> None:
    settings = SimSettings(strategies=("random",), seed_labels=50, batch=50, rounds=8)
    assert plan_budgets(1000, settings).budgets == tuple(range(50, 500, 50))
    small = plan_budgets(80, settings)
    assert small.seed_labels == small.batch == 12
    assert small.budgets[-1] <= 48


def test_it_interpolates_labels_to_reach_and_says_never() -> None:
    assert labels_to_reach([50, 100, 150], [0.5, 0.6, 0.7], 0.65) == pytest.approx(125.0)
    assert labels_to_reach([50, 100], [0.7, 0.8], 0.6) == 50.0
    assert labels_to_reach([50, 100], [0.5, 0.55], 0.6) is None


def test_it_gives_a_t_interval_over_seeds() -> None:
    mean, lo, hi = mean_ci([0.5, 0.6, 0.7])
    assert mean == pytest.approx(0.6)
    assert hi - mean == pytest.approx(4.303 * 0.1 / 3**0.5)
    assert mean_ci([0.4]) == (0.4, 0.4, 0.4)


@pytest.mark.slow
def test_it_runs_the_finetune_mode_too(tmp_path: Path) -> None:
    # given
    data = tmp_path / "toy.jsonl"
    write_pairs(data, 120)
    backbone = build_tiny_backbone(tmp_path / "backbone")
    out_json = tmp_path / "al.json"

    # when
    code = active_learning.main(
        [
            "--data",
            str(data),
            "--quick",
            "--mode",
            "finetune",
            "--seeds",
            "1",
            "--strategies",
            "random,thompson",
            "--members",
            "2",
            "--backbone",
            backbone,
            "--cache-dir",
            str(tmp_path / "cache"),
            "--json",
            str(out_json),
        ]
    )

    # then
    assert code == 0
    strategies = json.loads(out_json.read_text())["strategies"]
    assert strategies["thompson"]["budgets"] == strategies["random"]["budgets"]


@pytest.mark.urls("annotate.urls")
def test_it_names_what_the_app_lacks_before_driving_it() -> None:
    # given a URL configuration without the API (as before the retrain endpoints landed)
    from bench.active_learning_app import AppNotReady, check_app_ready

    # when / then
    with pytest.raises(AppNotReady, match="/api/projects/al/retrain"):
        check_app_ready()


def test_it_finds_every_route_it_needs_in_the_app() -> None:
    from bench.active_learning_app import check_app_ready

    check_app_ready()
