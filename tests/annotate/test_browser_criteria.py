"""Criteria, ratings and an edit on the annotation page, by keyboard alone, in a real Chromium."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from annotate.importing.pipeline import import_file
from annotate.models import Assignment, Judgement
from annotate.projects.members import set_member
from tests.annotate.browser_support import annotate_path, import_rows, log_in, wait_for_pair
from tests.factories import make_project, pair_rows, write_jsonl

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CRITERIA = [
    {"name": "helpful", "guidance": "Does it do what was asked?", "required": True},
    {"name": "safe", "guidance": "Would you show it to anyone?", "required": False},
]


def test_it_stores_a_criterion_a_rating_and_an_edit_given_by_keyboard(
    page: Page, live_server: Any, tmp_path: Path, annotator: Any
) -> None:
    # given a pairwise project with two criteria (one required), a 1-5 rating and edits
    project = make_project(
        "shaped", criteria=CRITERIA, rating_scale=[1, 2, 3, 4, 5], edits="optional"
    )
    set_member(project, username=annotator.username, role="annotator")
    import_rows(project, tmp_path, pair_rows(1, labelled=False))
    log_in(page, live_server.url, "bob", next_path=annotate_path(project))
    assignment_id = wait_for_pair(page)
    expect(page.locator(".ann-row")).to_have_count(4)  # two criteria, two ratings
    expect(page.locator(".ann-row").first).to_contain_text("Does it do what was asked?")

    # when they go straight to the overall choice, the required criterion stops them
    for _ in range(4):
        page.keyboard.press("ArrowDown")
    page.keyboard.press("1")
    expect(page.locator('[data-role="notice"]')).to_contain_text('"helpful"')
    expect(page.locator('.ann-row[data-name="helpful"]')).to_have_class("ann-row active")
    # ... so they prefer right for helpful, pass over safe, rate left 2 and right 5 ...
    for key in ("2", "ArrowDown", "2", "5"):
        page.keyboard.press(key)
    expect(page.locator('.ann-row[data-side="right"] .picked')).to_have_text("5 5")
    # ... choose left overall, which opens it for editing, and improve it
    page.keyboard.press("1")
    edit_box = page.locator('[data-role="edit-text"]')
    expect(edit_box).to_be_focused()
    page.keyboard.press("Control+End")
    page.keyboard.type(" Now with sources.")
    expect(page.locator('[data-role="edit-diff"] ins')).to_have_text(" Now with sources.")
    page.keyboard.press("Control+Enter")

    # then the judgement holds each of them, in stored (a/b) terms
    expect(page.locator("#annotator")).to_have_attribute("data-state", "finished")
    lease = Assignment.objects.select_related("pair").get(pk=int(assignment_id))
    pair = lease.pair
    sides = (pair.response_a, pair.response_b)
    left, right = sides if lease.left_is_a else sides[::-1]
    judgement = Judgement.objects.select_related("edit").get(assignment=lease)
    assert judgement.choice == ("a" if lease.left_is_a else "b")
    assert judgement.criteria == {"helpful": "b" if lease.left_is_a else "a"}
    assert judgement.ratings == {str(left.pk): 2, str(right.pk): 5}
    assert judgement.edit is not None
    assert judgement.edit.text == f"{left.text} Now with sources."
    assert judgement.edit.parent_id == left.pk
    assert judgement.edit.author_id == annotator.pk


def test_it_stores_the_edit_of_a_rankings_best_response_given_by_keyboard(
    page: Page, live_server: Any, tmp_path: Path, annotator: Any
) -> None:
    # given a ranking project of four responses with a required criterion and a required edit
    project = make_project(
        "ranked", comparison="ranking", max_ranked=4, criteria=CRITERIA, edits="required"
    )
    set_member(project, username=annotator.username, role="annotator")
    rows = [{"prompt": "q?", "responses": [f"answer {i}" for i in range(4)]}]
    import_file(project, write_jsonl(tmp_path / "ranked.jsonl", rows))
    log_in(page, live_server.url, "bob", next_path=annotate_path(project))
    assignment_id = wait_for_pair(page)

    # when they rank 1 > 2 = 3 > 4 for helpful, pass over safe, then rank 3 > 1 > 4 > 2
    # overall, and Enter opens the best one for editing ...
    for key in ("1", "2", "=", "3", "4", "Enter", "ArrowDown"):
        page.keyboard.press(key)
    expect(page.locator('.ann-row[data-name="helpful"]')).to_contain_text("1 > 2 = 3 > 4")
    for key in ("3", "1", "4", "2", "Enter"):
        page.keyboard.press(key)
    expect(page.locator('[data-role="edit-text"]')).to_be_focused()
    # ... which cannot be sent unchanged, so they improve it
    page.keyboard.press("Control+Enter")
    expect(page.locator('[data-role="notice"]')).to_contain_text("asks for an edit")
    page.keyboard.press("Control+End")
    page.keyboard.type(", improved")
    page.keyboard.press("Control+Enter")

    # then the rankings and the edit of the overall best response are stored
    expect(page.locator("#annotator")).to_have_attribute("data-state", "finished")
    lease = Assignment.objects.get(pk=int(assignment_id))
    order = lease.shown_order
    assert order is not None
    judgement = Judgement.objects.select_related("edit").get(assignment=lease)
    assert judgement.ranking == [[order[2]], [order[0]], [order[3]], [order[1]]]
    helpful = [[order[0]], sorted([order[1], order[2]]), [order[3]]]
    assert judgement.criteria == {"helpful": helpful}
    assert judgement.edit is not None
    assert judgement.edit.parent_id == order[2]
    assert judgement.edit.text == f"{judgement.edit.parent.text}, improved"
