"""The Chromium that the browser tests (test_browser.py, test_workspace_browser.py) share."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.annotate.browser_support import CHROMIUM_ARGS, HOW_TO_ENABLE, find_chromium


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = find_chromium()
    if chromium is None:
        if os.environ.get("CI") == "true":  # CI installs Chromium: skipping there hides failures
            pytest.fail(f"CI=true but {HOW_TO_ENABLE}")
        pytest.skip(HOW_TO_ENABLE)
    # The sync API keeps an event loop running on this thread, which makes Django refuse ORM
    # calls from the test body; the ORM is used from plain synchronous code here, so allow it.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
