"""Training configs for the rewards.ml tests (no database); tiny_backbone: tests/conftest.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rewards.ml.config import TrainConfig


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


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory: Any) -> str:
    """A random-init 2-layer Llama causal LM with a chat-template tokenizer (no pad token)."""
    from rewards.ml.testing import build_tiny_llama

    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))
