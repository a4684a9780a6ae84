"""Rating each ranked response, and the edit its rating requires, by keyboard alone in Chromium."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from annotate.importing.pipeline import import_file
from annotate.models import Assignment, Judgement, Project
from annotate.projects.members import set_member
from tests.annotate.browser_support import annotate_path, log_in, wait_for_pair
from tests.factories import make_project, write_jsonl

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CRITERIA = [{"name": "helpful", "guidance": "Does it do what was asked?", "required": True}]


def _ranking_project(tmp_path: Path, annotator: Any, **options: Any) -> Project:
    """A ranking project of one prompt with four responses, a 1-5 scale and one criterion."""
    project = make_project(
        "rated",
        comparison="ranking",
        max_ranked=4,
        criteria=CRITERIA,
        rating_scale=[1, 2, 3, 4, 5],
        **options,
    )
    set_member(project, username=annotator.username, role="annotator")
    rows = [{"prompt": "q?", "responses": [f"answer {i}" for i in range(4)]}]
    import_file(project, write_jsonl(tmp_path / "ranked.jsonl", rows))
    return project


def _card(page: Page, number: int) -> Any:
    return page.locator(f'.ann-ranked .ann-response[data-index="{number - 1}"]')


def test_it_stores_a_ranking_its_ratings_a_criterion_and_the_required_edit(
    page: Page, live_server: Any, tmp_path: Path, annotator: Any
) -> None:
    # given a ranking project whose edits are required below a rating of 3
    project = _ranking_project(tmp_path, annotator, edits="required", edit_below=3)
    log_in(page, live_server.url, "bob", next_path=annotate_path(project))
    assignment_id = wait_for_pair(page)
    expect(page.locator('[data-role="keys"]')).to_contain_text("rate the outlined response")
    expect(_card(page, 1).locator('[data-role="rate"]')).to_have_class("ann-row ann-rating active")

    # when they rank 1 > 2 > 3 > 4 for helpful and move on to the overall ranking ...
    for key in ("1", "2", "3", "4", "Enter"):
        page.keyboard.press(key)
    expect(page.locator('.ann-row[data-name="helpful"]')).to_contain_text("1 > 2 > 3 > 4")
    # ... rate the responses 4, 2, 5, 1, then go back two and change the 2 to a 3 ...
    for key in ("Shift+Digit4", "Shift+Digit2", "Shift+Digit5", "Shift+Digit1"):
        page.keyboard.press(key)
    for key in ("ArrowLeft", "ArrowLeft", "Shift+Digit3"):
        page.keyboard.press(key)
    expect(_card(page, 2).locator(".picked")).to_have_text("3 ⇧3")
    expect(_card(page, 1).locator(".picked")).to_have_text("4 ⇧4")
    # ... and rank 4 > 1 > 3 > 2 overall: the best one is rated 1, so the page asks for an edit
    for key in ("4", "1", "3", "2"):
        page.keyboard.press(key)
    expect(page.locator('[data-role="ranking"]')).to_contain_text("rated below 3")
    page.keyboard.press("Enter")
    edit_box = page.locator('[data-role="edit-text"]')
    expect(edit_box).to_be_focused()
    expect(page.locator('[data-role="edit-need"]')).to_have_text("required: it is rated below 3")
    # ... which the page will not send unchanged, so they improve it
    page.keyboard.press("Control+Enter")
    expect(page.locator('[data-role="notice"]')).to_contain_text("rated below 3")
    expect(page.locator("#annotator")).to_have_attribute("data-state", "pair")
    page.keyboard.press("Control+End")
    page.keyboard.type(" and now correct")
    expect(page.locator('[data-role="edit-diff"] ins')).to_have_text(" and now correct")
    page.keyboard.press("Control+Enter")

    # then the judgement holds the ranking, each rating, the criterion and the edit
    expect(page.locator("#annotator")).to_have_attribute("data-state", "finished")
    lease = Assignment.objects.get(pk=int(assignment_id))
    order = lease.shown_order
    assert order is not None
    judgement = Judgement.objects.select_related("edit__parent").get(assignment=lease)
    assert judgement.ranking == [[order[3]], [order[0]], [order[2]], [order[1]]]
    assert judgement.ratings == {str(rid): r for rid, r in zip(order, (4, 3, 5, 1), strict=True)}
    assert judgement.criteria == {"helpful": [[rid] for rid in order]}
    assert judgement.edit is not None
    assert judgement.edit.parent_id == order[3]
    assert judgement.edit.text == f"{judgement.edit.parent.text} and now correct"


def test_it_sends_a_well_rated_best_response_unedited_and_ratings_by_click(
    page: Page, live_server: Any, tmp_path: Path, annotator: Any
) -> None:
    # given the same project, where a best response rated 3 or better needs no edit
    project = _ranking_project(tmp_path, annotator, edits="required", edit_below=3)
    log_in(page, live_server.url, "bob", next_path=annotate_path(project))
    assignment_id = wait_for_pair(page)

    # when they rank for helpful, rate response 2 a 4 by clicking, and rank it best overall
    for key in ("4", "3", "2", "1", "Enter"):
        page.keyboard.press(key)
    _card(page, 2).get_by_role("button", name="4").click()
    expect(_card(page, 2).locator(".picked")).to_have_text("4 ⇧4")
    for key in ("2", "1", "3", "4"):
        page.keyboard.press(key)
    expect(page.locator('[data-role="ranking"]')).to_contain_text("(optional)")
    # ... then open it for editing and send it unchanged
    page.keyboard.press("Enter")
    expect(page.locator('[data-role="edit-need"]')).to_contain_text("optional")
    page.keyboard.press("Control+Enter")

    # then the ranking and the one rating are stored, with no edit
    expect(page.locator("#annotator")).to_have_attribute("data-state", "finished")
    lease = Assignment.objects.get(pk=int(assignment_id))
    order = lease.shown_order
    assert order is not None
    judgement = Judgement.objects.get(assignment=lease)
    assert judgement.ranking == [[order[1]], [order[0]], [order[2]], [order[3]]]
    assert judgement.ratings == {str(order[1]): 4}
    assert judgement.edit is None


def test_a_ranking_rated_offline_waits_with_its_ratings_and_the_next_item_starts_unrated(
    page: Page, live_server: Any, tmp_path: Path, annotator: Any
) -> None:
    # given a rated ranking project of two prompts, the second one already prefetched
    project = make_project("rated", comparison="ranking", max_ranked=4, rating_scale=["bad", "ok"])
    set_member(project, username=annotator.username, role="annotator")
    rows = [{"prompt": f"q{p}?", "responses": [f"a{i} of q{p}" for i in range(4)]} for p in (1, 2)]
    import_file(project, write_jsonl(tmp_path / "ranked.jsonl", rows))
    log_in(page, live_server.url, "bob", next_path=annotate_path(project))
    first = wait_for_pair(page)
    expect(page.locator("#annotator")).to_have_attribute("data-queued", "2")

    # when the server is unreachable while they rate responses 1 and 2 and rank the item
    page.route("**/api/assignments/**", lambda route: route.abort())
    for key in ("Shift+Digit2", "Shift+Digit1", "1", "2", "3", "4", "Enter"):
        page.keyboard.press(key)

    # then it waits in the browser with its ratings, and the next item starts unrated
    expect(page.locator('[data-role="sync"]')).to_have_text("1 waiting to sync")
    wait_for_pair(page, other_than=first)
    expect(page.locator(".ann-ranked .picked")).to_have_count(0)
    expect(_card(page, 1).locator('[data-role="rate"]')).to_have_class("ann-row ann-rating active")
    outbox = json.loads(page.evaluate("localStorage.getItem('prefloop:outbox:rated')"))
    assert sorted(outbox[0]["body"]["ratings"].values()) == ["bad", "ok"]

    # when the server is back, it lands with the ratings it was given
    page.unroute("**/api/assignments/**")
    page.evaluate("window.dispatchEvent(new Event('online'))")
    expect(page.locator('[data-role="sync"]')).to_be_hidden()
    lease = Assignment.objects.get(pk=int(first))
    order = lease.shown_order
    assert order is not None
    judgement = Judgement.objects.get(assignment=lease)
    assert judgement.ratings == {str(order[0]): "ok", str(order[1]): "bad"}
    assert judgement.ranking == [[rid] for rid in order]
