"""Loaded with `-p` before Django settings: the test run's environment defaults."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("SECRET_KEY", "test-only-secret-key")
os.environ.setdefault("DEBUG", "false")
# Tests get their own var/ so a running `make run` keeps its database and broker.
os.environ.setdefault("VAR_DIR", str(Path(__file__).resolve().parent.parent / "var" / "test"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
