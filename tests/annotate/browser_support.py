"""Playwright fixtures for the browser tests: one Chromium per module, a fresh context per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from annotate.importing import import_file
from annotate.models import Project
from tests.factories import write_jsonl

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # The sync API keeps an event loop running on this thread, which makes Django refuse ORM
    # calls from the test body; the ORM is used from plain synchronous code here, so allow it.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            yield browser
            browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def log_in(page: Page, base_url: str, username: str, *, next_path: str) -> None:
    """Log in through the login form with the keyboard, landing on `next_path`."""
    page.goto(f"{base_url}{next_path}")
    page.wait_for_url("**/login/**")
    page.keyboard.type(username)  # the username field has autofocus
    page.keyboard.press("Tab")
    page.keyboard.type(f"{username}-pass")
    page.keyboard.press("Enter")
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
