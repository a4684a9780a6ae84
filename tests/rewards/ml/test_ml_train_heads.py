"""Heads mode on the tiny backbone: it learns a rule, reuses the cache, changes every weight."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from rewards.ml.config import TrainConfig
from rewards.ml.data import PreferencePair
from rewards.ml.heads import HeadEnsemble
from rewards.ml.score import load, score_pairs
from rewards.ml.train import train
from tests.rewards.ml.synthetic import synthetic_pairs


def test_it_learns_a_held_out_rule_well_above_chance(make_config: Any, tmp_path: Path) -> None:
    # given pairs where the positive-toned response wins, and unseen pairs to test on
    pairs, held_out = synthetic_pairs(240, seed=1), synthetic_pairs(100, seed=2)

    # when heads are trained
    result = train(make_config(), pairs, tmp_path / "model", val_pairs=held_out)

    # then
    accuracy, log_loss = result.metrics["accuracy"], result.metrics["log_loss"]
    assert result.metrics["n"] == 100
    assert accuracy is not None and accuracy > 0.85
    # and clearly better calibrated than a coin flip (ln 2 = 0.693); strong decay keeps it modest
    assert log_loss is not None and log_loss < 0.65


def test_it_changes_every_head_parameter(make_config: Any, tmp_path: Path) -> None:
    # given the initial weights that the seed produces
    config = make_config(head_hidden=8, epochs=5)
    torch.manual_seed(config.seed)
    initial = HeadEnsemble(32, config.members, hidden=8, n_extra=1)

    # when trained
    train(config, synthetic_pairs(80, seed=3), tmp_path / "model")
    trained = load(tmp_path / "model").heads

    # then no parameter kept its initial value
    for name, param in initial.named_parameters():
        assert not torch.equal(param, trained.get_parameter(name)), f"{name} has not changed"


def test_it_hits_the_embedding_cache_on_retraining(make_config: Any, tmp_path: Path) -> None:
    # given a model trained once, which filled the cache
    pairs = synthetic_pairs(60, seed=4)
    first = train(make_config(epochs=3), pairs, tmp_path / "one")

    # when retrained on the same pairs plus one new pair
    extra = PreferencePair("tell me", "good cat", "bad dog", "a")
    second = train(make_config(epochs=3), [*pairs, extra], tmp_path / "two")

    # then only the two new responses were embedded
    assert first.details["newly_embedded"] == 120
    assert second.details["newly_embedded"] == 2


def test_it_reports_progress_up_to_completion(make_config: Any, tmp_path: Path) -> None:
    # given a callback that records its calls
    calls: list[tuple[float, float, float | None]] = []

    # when training
    train(
        make_config(epochs=4),
        synthetic_pairs(40, seed=5),
        tmp_path / "model",
        progress=lambda f, loss, eta: calls.append((f, loss, eta)),
    )

    # then the fraction never goes back and ends at 1
    fractions = [f for f, _, _ in calls]
    assert fractions == sorted(fractions)
    assert fractions[-1] == 1.0
    assert calls[-1][2] == 0.0


def test_it_learns_length_when_longer_responses_win(make_config: Any, tmp_path: Path) -> None:
    # given pairs where only length decides (same words, longer wins)
    def pairs(n: int, offset: int) -> list[PreferencePair]:
        rows = []
        for i in range(n):
            short, long_ = "cat " * (1 + i % 3), "cat " * (5 + i % 7)
            label = "a" if i % 2 else "b"
            a, b = (long_, short) if label == "a" else (short, long_)
            rows.append(PreferencePair(f"question {i + offset}", a, b, label))
        return rows

    # when trained with the length feature
    result = train(make_config(), pairs(80, 0), tmp_path / "m", val_pairs=pairs(40, 1000))

    # then held-out accuracy is near perfect
    accuracy = result.metrics["accuracy"]
    assert accuracy is not None and accuracy > 0.95


def test_it_trains_on_a_single_judgement(make_config: Any, tmp_path: Path) -> None:
    # given the first judgement of a new project
    pair = PreferencePair("tell me", "good kind answer", "bad rude answer", "a")

    # when trained on it alone
    result = train(make_config(), [pair], tmp_path / "m")
    scorer = load(tmp_path / "m")
    scores_a, scores_b = score_pairs(scorer, [pair])

    # then nothing is held out, the weights stay finite and every member prefers the winner
    assert result.metrics["n"] == 0 and result.metrics["accuracy"] is None
    assert torch.isfinite(scorer.heads.w_in).all()
    assert (scores_a > scores_b).all()


@pytest.mark.parametrize("field", ["epochs", "batch_size", "grad_accum"])
def test_it_refuses_zero_epochs_batch_size_or_accumulation(field: str) -> None:
    zero: dict[str, Any] = {field: 0}
    with pytest.raises(ValueError, match=f"{field} must be at least 1"):
        TrainConfig(**zero)
