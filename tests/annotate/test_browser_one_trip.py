"""The annotation page judges in one request per judgement (`judgement?next=1`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from annotate.models import Judgement, Project
from tests.annotate.browser_support import (
    annotate_path,
    import_rows,
    log_in,
    wait_for_pair,
)
from tests.factories import pair_rows

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_each_judgement_is_one_request_that_brings_the_next_pair(
    page: Page, live_server: Any, tmp_path: Path, project: Project, annotator: Any
) -> None:
    # given six pairs, and a record of the API calls the page makes
    import_rows(project, tmp_path, pair_rows(6, labelled=False))
    calls: list[str] = []
    page.on("request", lambda r: calls.append(r.url) if "/api/" in r.url else None)
    log_in(page, live_server.url, "bob", next_path=annotate_path(project))
    # when they judge every pair, each once the last one is saved
    assignment = None
    for _ in range(6):
        assignment = wait_for_pair(page, other_than=assignment)
        expect(page.locator('[data-role="sync"]')).to_be_hidden()
        page.keyboard.press("1")
    # then all six are stored, every judgement asked for the next pair, and `next` was only
    # called to fill the queue at the start (pair and prefetch) and once more at the end
    expect(page.locator("#annotator")).to_have_attribute("data-state", "finished")
    assert Judgement.objects.filter(annotator=annotator).count() == 6
    judgements = [url for url in calls if "/judgement" in url]
    assert len(judgements) == 6
    assert all(url.endswith("?next=1") for url in judgements), "\n".join(calls)
    assert len([url for url in calls if url.endswith("/next")]) <= 3
