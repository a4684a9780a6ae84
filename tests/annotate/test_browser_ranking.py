"""Ranking an item's responses on the annotation page, by keyboard alone, in a real Chromium."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from annotate.importing.pipeline import import_file
from annotate.models import Assignment, Judgement
from annotate.projects.members import set_member
from tests.annotate.browser_support import annotate_path, log_in, wait_for_pair
from tests.factories import make_project, write_jsonl

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_it_ranks_two_items_with_a_tie_and_an_undo_by_keyboard(
    page: Page, live_server: Any, tmp_path: Path, annotator: Any
) -> None:
    # given a ranking project with two prompts of four responses
    project = make_project("ranked", comparison="ranking", max_ranked=4)
    set_member(project, username=annotator.username, role="annotator")
    rows = [{"prompt": f"q{p}?", "responses": [f"a{i} of q{p}" for i in range(4)]} for p in (1, 2)]
    import_file(project, write_jsonl(tmp_path / "ranked.jsonl", rows))
    log_in(page, live_server.url, "bob", next_path=annotate_path(project))

    # when they rank the first item 2 = 4 > 1 > 3 (a tie) ...
    first = wait_for_pair(page)
    expect(page.locator(".ann-ranked .ann-response")).to_have_count(4)
    for key in ("2", "=", "4", "1", "3"):
        page.keyboard.press(key)
    expect(page.locator('[data-role="ranking"]')).to_contain_text("2 = 4 > 1 > 3")
    page.keyboard.press("Enter")
    # ... and the second 1 > 3 > 2 > 4, after placing 2 too early and undoing it
    second = wait_for_pair(page, other_than=first)
    for key in ("1", "2", "Backspace", "3", "2", "4", "Enter"):
        page.keyboard.press(key)

    # then both rankings are stored in response ids as shown, and the page is done
    expect(page.locator("#annotator")).to_have_attribute("data-state", "finished")
    for assignment_id, shown in ((first, [[2, 4], [1], [3]]), (second, [[1], [3], [2], [4]])):
        lease = Assignment.objects.get(pk=int(assignment_id))
        order = lease.shown_order
        assert order is not None
        judgement = Judgement.objects.get(assignment=lease)
        assert judgement.ranking == [sorted(order[i - 1] for i in group) for group in shown]
        assert judgement.annotator == annotator
