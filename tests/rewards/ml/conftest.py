"""Tiny local backbone and a synthetic preference task with a learnable rule (no database)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from rewards.ml.config import TrainConfig
from rewards.ml.data import PreferencePair
from rewards.ml.testing import build_tiny_backbone

POSITIVE = [
    "good",
    "great",
    "excellent",
    "helpful",
    "clear",
    "correct",
    "kind",
    "useful",
    "accurate",
    "polite",
]
NEGATIVE = [
    "bad",
    "awful",
    "wrong",
    "rude",
    "useless",
    "harmful",
    "unclear",
    "poor",
    "sloppy",
    "lazy",
]
NEUTRAL = [
    "cat",
    "dog",
    "sun",
    "moon",
    "tree",
    "river",
    "stone",
    "cloud",
    "apple",
    "bread",
    "music",
    "paper",
    "light",
    "water",
]


def synthetic_response(rng: random.Random, tone: list[str]) -> str:
    """A response of 3-7 neutral words with three words of one tone mixed in."""
    words = rng.sample(NEUTRAL, rng.randint(3, 7)) + rng.sample(tone, 3)
    rng.shuffle(words)
    return " ".join(words)


def synthetic_pairs(n: int, *, seed: int) -> list[PreferencePair]:
    """Pairs where the positive-toned response wins, whatever the lengths."""
    rng = random.Random(seed)
    pairs = []
    for i in range(n):
        good, bad = synthetic_response(rng, POSITIVE), synthetic_response(rng, NEGATIVE)
        prompt = f"tell me about the {rng.choice(NEUTRAL)} {i}"
        if rng.random() < 0.5:
            pairs.append(PreferencePair(prompt, good, bad, "a", id=f"s{seed}-{i}"))
        else:
            pairs.append(PreferencePair(prompt, bad, good, "b", id=f"s{seed}-{i}"))
    return pairs


@pytest.fixture(scope="session")
def tiny_backbone(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Path of a random-init 2-layer BERT with a word-level tokenizer."""
    return build_tiny_backbone(tmp_path_factory.mktemp("tiny-backbone"))


@pytest.fixture
def cache_dir(tmp_path: Path) -> str:
    """A fresh embedding cache per test."""
    return str(tmp_path / "cache")


@pytest.fixture
def make_config(tiny_backbone: str, cache_dir: str) -> Any:
    """TrainConfig factory on the tiny backbone, CPU, fixed seed."""

    def make(**overrides: Any) -> TrainConfig:
        values: dict[str, Any] = {
            "backbone": tiny_backbone,
            "cache_dir": cache_dir,
            "max_length": 32,
            "members": 4,
            "device": "cpu",
            "seed": 0,
        }
        return TrainConfig(**{**values, **overrides})

    return make
