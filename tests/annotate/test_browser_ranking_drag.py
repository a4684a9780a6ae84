"""Ranking an item's responses by dragging their handles with a mouse, in a real Chromium."""

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


def _drag(page: Page, number: int, onto: int, where: str) -> None:
    """Drag response `number` by its handle onto response `onto`'s "above"/"tie"/"below"/"last"."""
    page.get_by_role("button", name=f"Drag response {number} to rank it").hover()
    page.mouse.down()
    card = page.locator(f'.ann-ranked .ann-response[data-index="{onto - 1}"]')
    box = card.locator(f'[data-drop="{where}"]').bounding_box()
    assert box is not None, f"response {onto} offers no {where!r} drop"
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, steps=4)
    page.mouse.up()


def _stored(assignment_id: str) -> tuple[list[list[int]], list[int]]:
    """The judgement's ranking of a lease, and the response ids in the order they were shown."""
    lease = Assignment.objects.get(pk=int(assignment_id))
    assert lease.shown_order is not None
    ranking = Judgement.objects.get(assignment=lease).ranking
    assert ranking is not None
    return ranking, lease.shown_order


def test_dragging_the_handles_ranks_reorders_and_ties_the_responses(
    page: Page, live_server: Any, tmp_path: Path, annotator: Any
) -> None:
    # given a ranking project with two prompts of four responses
    project = make_project("dragged", comparison="ranking", max_ranked=4)
    set_member(project, username=annotator.username, role="annotator")
    rows = [{"prompt": f"q{p}?", "responses": [f"a{i} of q{p}" for i in range(4)]} for p in (1, 2)]
    import_file(project, write_jsonl(tmp_path / "ranked.jsonl", rows))
    log_in(page, live_server.url, "bob", next_path=annotate_path(project))
    ranking = page.locator('[data-role="ranking"]')

    # when they drag the first item's responses into 3 > 1 > 4 > 2 ...
    first = wait_for_pair(page)
    _drag(page, 3, onto=3, where="last")
    _drag(page, 2, onto=3, where="below")
    _drag(page, 1, onto=3, where="below")
    expect(ranking).to_contain_text("Your ranking: 3 > 1 > 2 · 1 to place")
    _drag(page, 4, onto=2, where="above")
    # ... move a placed one to the top and back down to the bottom ...
    _drag(page, 2, onto=3, where="above")
    expect(ranking).to_contain_text("Your ranking: 2 > 3 > 1 > 4")
    _drag(page, 2, onto=4, where="below")
    expect(ranking).to_contain_text("Your ranking: 3 > 1 > 4 > 2 · Enter submits")
    badge = page.locator('.ann-ranked .ann-response[data-index="1"] [data-role="place"]')
    expect(badge).to_have_text("#4")
    # ... and submit it with the button
    page.get_by_role("button", name="Submit ranking").click()

    # and drag the second item's into 2 = 4 > 1 > 3, a tie made by a drop
    second = wait_for_pair(page, other_than=first)
    _drag(page, 2, onto=2, where="last")
    _drag(page, 1, onto=2, where="below")
    _drag(page, 3, onto=1, where="below")
    _drag(page, 4, onto=2, where="tie")
    expect(ranking).to_contain_text("Your ranking: 2 = 4 > 1 > 3")
    page.keyboard.press("Enter")

    # then both rankings are stored in response ids in the dragged order
    expect(page.locator("#annotator")).to_have_attribute("data-state", "finished")
    for assignment_id, dragged in ((first, [[3], [1], [4], [2]]), (second, [[2, 4], [1], [3]])):
        stored, order = _stored(assignment_id)
        assert stored == [sorted(order[i - 1] for i in group) for group in dragged]


def test_a_drop_outside_the_cards_or_escape_changes_nothing(
    page: Page, live_server: Any, tmp_path: Path, annotator: Any
) -> None:
    # given a ranking item with 2 > 1 placed by keys
    project = make_project("dropped", comparison="ranking", max_ranked=3)
    set_member(project, username=annotator.username, role="annotator")
    rows = [{"prompt": "q?", "responses": ["x", "y", "z"]}]
    import_file(project, write_jsonl(tmp_path / "ranked.jsonl", rows))
    log_in(page, live_server.url, "bob", next_path=annotate_path(project))
    wait_for_pair(page)
    page.keyboard.press("2")
    page.keyboard.press("1")
    ranking = page.locator('[data-role="ranking"]')
    expect(ranking).to_contain_text("Your ranking: 2 > 1 · 1 to place")

    # when a drag of 3 is let go over the header, and another is given up with Escape
    page.get_by_role("button", name="Drag response 3 to rank it").hover()
    page.mouse.down()
    expect(page.locator(".ann-drop")).not_to_have_count(0)
    header = page.locator(".ann-header").bounding_box()
    assert header is not None
    page.mouse.move(header["x"] + 5, header["y"] + 5, steps=3)
    page.mouse.up()
    expect(page.locator(".ann-drop")).to_have_count(0)
    page.get_by_role("button", name="Drag response 1 to rank it").hover()
    page.mouse.down()
    page.keyboard.press("Escape")
    page.mouse.up()

    # then the ranking is as the keys left it, and the keys still place the last one
    expect(page.locator(".ann-drop")).to_have_count(0)
    expect(ranking).to_contain_text("Your ranking: 2 > 1 · 1 to place")
    page.keyboard.press("3")
    expect(ranking).to_contain_text("Your ranking: 2 > 1 > 3")
