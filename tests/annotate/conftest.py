"""The Chromium and the page fixture that the browser tests share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.annotate.browser_support import CHROMIUM_ARGS, chromium_or_skip, watch_for_errors


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


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh page; the test fails if the page raised a JavaScript error or broke the CSP."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors = watch_for_errors(page)
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"
