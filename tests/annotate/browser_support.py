"""Helpers for the browser tests: Chromium settings, logging in, test data, waiting for pairs."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page

from annotate.importing.pipeline import import_file
from annotate.models import Project
from tests.factories import write_jsonl

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
# Variables naming a Chromium (or Chrome) binary, checked before the PATH.
CHROMIUM_VARIABLES = ("CHROMIUM_PATH", "PLAYWRIGHT_CHROMIUM_EXECUTABLE")
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
HOW_TO_ENABLE = (
    "Chromium not found, browser tests skipped. To run them, install it (Debian: "
    "apt-get install chromium) or set CHROMIUM_PATH to a Chromium/Chrome binary."
)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def find_chromium() -> str | None:
    """The Chromium named by CHROMIUM_PATH / PLAYWRIGHT_CHROMIUM_EXECUTABLE, else on the PATH."""
    for variable in CHROMIUM_VARIABLES:
        if value := os.environ.get(variable):
            if not os.access(value, os.X_OK):
                raise FileNotFoundError(f"{variable}={value} is not an executable file")
            return value
    return next(filter(None, (shutil.which(name) for name in CHROMIUM_NAMES)), None)


def chromium_or_skip() -> str:
    """The Chromium to drive; skips the test without one, except under CI=true where it fails."""
    chromium = find_chromium()
    if chromium is None:
        if os.environ.get("CI") == "true":  # CI installs Chromium: skipping there hides failures
            pytest.fail(f"CI=true but {HOW_TO_ENABLE}")
        pytest.skip(HOW_TO_ENABLE)
    return chromium


def watch_for_errors(page: Page, errors: list[str] | None = None) -> list[str]:
    """The page's JavaScript errors and Content-Security-Policy violations, as they happen."""
    errors = [] if errors is None else errors
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on(
        "console",
        lambda message: (
            errors.append(message.text)
            if message.type == "error" and "Content Security Policy" in message.text
            else None
        ),
    )
    return errors


def log_in(page: Page, base_url: str, username: str, *, next_path: str) -> None:
    """Log in through the login form, landing on `next_path`."""
    page.goto(f"{base_url}{next_path}")
    page.wait_for_url("**/login/**")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(f"{username}-pass")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: urlsplit(url).path == next_path)


def import_rows(project: Project, tmp_path: Path, rows: list[dict[str, Any]]) -> None:
    import_file(project, write_jsonl(tmp_path / "pairs.jsonl", rows), labels="ignore")


def annotate_path(project: Project) -> str:
    return f"/projects/{project.slug}/annotate"


def wait_for_pair(page: Page, *, other_than: str | None = None) -> str:
    """Wait until a pair is on screen (a different one than `other_than`); its assignment id."""
    page.wait_for_function(
        """(previous) => {
            const root = document.getElementById("annotator");
            return root?.dataset.state === "pair" && root.dataset.assignment !== previous;
        }""",
        arg=other_than,
    )
    return page.locator("#annotator").get_attribute("data-assignment") or ""
