"""Without Chromium the browser tests skip with a way to enable them, except under CI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.annotate.browser_support import find_chromium

ROOT = Path(__file__).resolve().parents[2]


def _bin_dir(tmp_path: Path, *, with_chromium: bool) -> Path:
    """A PATH of the few tools bin/ensure-chromium needs, with a non-root `id`."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for tool in ("bash", "cat"):
        (folder / tool).symlink_to(subprocess.check_output(["which", tool], text=True).strip())
    (folder / "id").write_text("#!/bin/sh\necho 1000\n")
    (folder / "id").chmod(0o755)
    if with_chromium:
        (folder / "chromium").write_text("#!/bin/sh\n")
        (folder / "chromium").chmod(0o755)
    return folder


def test_it_finds_chromium_named_by_an_environment_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a Chrome binary outside the PATH, named by CHROMIUM_PATH
    chrome = tmp_path / "chrome"
    chrome.write_text("#!/bin/sh\n")
    chrome.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setenv("CHROMIUM_PATH", str(chrome))
    # when / then
    assert find_chromium() == str(chrome)
    monkeypatch.delenv("CHROMIUM_PATH")
    assert find_chromium() is None


def test_it_finds_chromium_on_the_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _bin_dir(tmp_path, with_chromium=True)
    monkeypatch.delenv("CHROMIUM_PATH", raising=False)
    monkeypatch.delenv("PLAYWRIGHT_CHROMIUM_EXECUTABLE", raising=False)
    monkeypatch.setenv("PATH", str(folder))
    assert find_chromium() == str(folder / "chromium")


@pytest.mark.parametrize(("ci", "code"), [("", 0), ("true", 1)])
def test_make_test_carries_on_without_chromium_except_under_ci(
    tmp_path: Path, ci: str, code: int
) -> None:
    # given no Chromium anywhere and no root to install it
    env = {"PATH": str(_bin_dir(tmp_path, with_chromium=False)), "CI": ci}
    # when make test's first step runs
    result = subprocess.run(
        [str(ROOT / "bin" / "ensure-chromium")], env=env, capture_output=True, text=True
    )
    # then it says how to enable the browser tests, and only CI treats it as an error
    assert result.returncode == code, result.stderr
    assert "CHROMIUM_PATH" in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize(("ci", "outcome"), [("", "skipped"), ("true", "error")])
def test_the_browser_tests_skip_without_chromium_except_under_ci(
    tmp_path: Path, ci: str, outcome: str
) -> None:
    # given no Chromium on the PATH (and a database and broker of its own)
    env = {
        **{k: v for k, v in os.environ.items() if "CHROMIUM" not in k},
        "PATH": str(tmp_path),
        "CI": ci,
        "VAR_DIR": str(tmp_path / "var"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "CELERY_BROKER_URL": "memory://",
    }
    # when the browser tests run
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-k", "five_keyboard"]
        + ["tests/annotate/test_browser.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    # then they are skipped with the way to enable them, or fail the CI run
    assert f"1 {outcome}" in result.stdout, result.stdout[-2000:]
    assert "CHROMIUM_PATH" in result.stdout
