"""Checkpoints describe themselves and restore the same scorer from the folder alone."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rewards.ml.checkpoint import read_metadata
from rewards.ml.score import load, score
from rewards.ml.testing import build_tiny_backbone
from rewards.ml.train import train
from tests.rewards.ml.synthetic import synthetic_pairs


def test_it_records_what_the_model_is_and_how_it_was_made(make_config: Any, tmp_path: Path) -> None:
    # given a trained model with caller metadata
    pairs = synthetic_pairs(40, seed=8)
    result = train(make_config(epochs=3), pairs, tmp_path / "m", metadata={"max_judgement_id": 41})

    # when its description is read back from the folder
    meta = read_metadata(tmp_path / "m")

    # then it carries config, backbone, pooling, formatting, seed, metrics and data fingerprint
    assert meta["config"]["members"] == 4
    assert meta["backbone"]["pooling"] == "mean"
    assert meta["backbone"]["formatting"]["truncation"] == "keep prompt end, response start"
    assert meta["seed"] == 0
    assert set(meta["metrics"]) == {"accuracy", "log_loss", "ece", "n"}
    assert len(meta["data"]["fingerprint"]) == 16
    assert meta["metadata"] == {"max_judgement_id": 41}
    # and train() returned the same description, so callers need not read the folder
    assert result.meta == json.loads(json.dumps(meta))


def test_it_refuses_to_describe_a_folder_without_a_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no prefloop-reward-model checkpoint"):
        read_metadata(tmp_path)


def test_it_round_trips_heads_scores(make_config: Any, tmp_path: Path) -> None:
    # given a heads model and its in-memory scores from training
    pairs = synthetic_pairs(40, seed=9)
    config = make_config(epochs=3)
    train(config, pairs, tmp_path / "m")
    items = [(p.prompt, p.b) for p in pairs]

    # when reloaded twice
    first, second = score(load(tmp_path / "m"), items), score(load(tmp_path / "m"), items)

    # then
    np.testing.assert_array_equal(first.per_member, second.per_member)
    assert np.allclose(first.mean, first.per_member.mean(1))


def test_it_refuses_heads_whose_backbone_changed(make_config: Any, tmp_path: Path) -> None:
    # given a model trained on a backbone folder that is then rebuilt with other weights
    backbone = build_tiny_backbone(tmp_path / "bb", seed=1)
    train(make_config(backbone=backbone, epochs=2), synthetic_pairs(20, seed=10), tmp_path / "m")
    build_tiny_backbone(tmp_path / "bb", seed=2)

    # when / then
    with pytest.raises(ValueError, match="changed"):
        load(tmp_path / "m")
