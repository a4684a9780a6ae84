"""rewards.ml must run without Django (Celery worker, CLI, GPU box with no database)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import rewards.ml
import rewards.ml.score
import rewards.ml.train

ROOT = Path(__file__).resolve().parents[3]


def test_it_imports_without_loading_django() -> None:
    # given a fresh interpreter
    code = (
        "import rewards.ml, rewards.ml.train, rewards.ml.score, rewards.ml.acquisition; "
        "import rewards.ml.finetune, rewards.ml.train_heads, rewards.ml.checkpoint; "
        "import rewards.ml.__main__; import sys; assert 'django' not in sys.modules"
    )

    # when the whole package is imported
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )

    # then Django never loaded
    assert result.returncode == 0, result.stderr


def test_it_exports_the_public_api_lazily() -> None:
    # given the names the Django side calls
    names = rewards.ml.__all__

    # when each is resolved
    resolved = {name: getattr(rewards.ml, name) for name in names}

    # then they come from their submodules
    assert resolved["STRATEGIES"] == ("random", "uncertainty", "disagreement", "thompson")
    assert resolved["TrainResult"].__module__ == "rewards.ml.train"
    assert resolved["load"].__module__ == "rewards.ml.score"
    assert callable(rewards.ml.train.train)
    assert callable(rewards.ml.score.score)
