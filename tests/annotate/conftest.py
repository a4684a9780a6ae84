"""The Chromium that the browser tests (test_browser.py, test_workspace_browser.py) share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.annotate.browser_support import CHROMIUM_ARGS, chromium_or_skip


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = chromium_or_skip()
    # The sync API keeps an event loop running on this thread, which makes Django refuse ORM
    # calls from the test body; the ORM is used from plain synchronous code here, so allow it.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
