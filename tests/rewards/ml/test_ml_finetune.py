"""Finetune mode on the tiny backbone: backbone and heads both train, and the result reloads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import AutoModel

from rewards.ml.score import load, score
from rewards.ml.train import train
from tests.rewards.ml.synthetic import synthetic_pairs


def test_it_trains_every_backbone_and_head_parameter(
    make_config: Any, tiny_backbone: str, tmp_path: Path
) -> None:
    # given the pre-trained tiny backbone
    before = AutoModel.from_pretrained(tiny_backbone, local_files_only=True).state_dict()

    # when fine-tuned for one epoch
    config = make_config(mode="finetune", epochs=1, batch_size=8, lr=1e-3, warmup_ratio=0.0)
    fractions: list[float] = []
    progress = lambda fraction, loss, eta: fractions.append(fraction)  # noqa: E731
    train(config, synthetic_pairs(48, seed=6), tmp_path / "model", progress=progress)
    after = load(tmp_path / "model").backbone.model.state_dict()

    # then every trainable backbone weight moved (buffers such as position ids excluded)
    trainable = {n for n, _ in AutoModel.from_pretrained(tiny_backbone).named_parameters()}
    # BERT's pooler is not used by mean pooling, so it gets no gradient and stays put.
    unused = {n for n in trainable if n.startswith("pooler.")}
    for name in sorted(trainable - unused):
        assert not torch.equal(before[name], after[name]), f"{name} has not changed"
    assert fractions == sorted(fractions) and fractions[-1] == 1.0


def test_it_scores_the_same_after_reloading(make_config: Any, tmp_path: Path) -> None:
    # given a fine-tuned model and the items it is asked about
    config = make_config(mode="finetune", epochs=1, batch_size=8, grad_accum=2)
    pairs = synthetic_pairs(40, seed=7)
    train(config, pairs, tmp_path / "model")
    items = [(p.prompt, p.a) for p in pairs[:10]]

    # when scored by two independently loaded copies
    first, second = score(load(tmp_path / "model"), items), score(tmp_path / "model", items)

    # then the per-member scores agree and the ensemble spreads
    np.testing.assert_allclose(first.per_member, second.per_member, rtol=1e-5, atol=1e-6)
    assert first.per_member.shape == (10, 4)
    assert (first.std > 0).all()
