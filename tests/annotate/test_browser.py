"""The annotation page in a real Chromium against a live server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from annotate.models import Assignment, Judgement, PairRank, Project
from annotate.projects.members import set_member
from tests.annotate.browser_support import (
    ARTIFACTS,
    annotate_path,
    import_rows,
    log_in,
    wait_for_pair,
)
from tests.factories import make_project, pair_rows

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


# Key pressed -> (side the annotator meant, canonical choice when the left side was a).
KEYS = [
    ("1", "left"),
    ("ArrowRight", "right"),
    ("3", "tie"),
    ("b", "both_bad"),
    ("ArrowLeft", "left"),
]


def canonical(side: str, *, left_is_a: bool) -> str:
    if side == "left":
        return "a" if left_is_a else "b"
    if side == "right":
        return "b" if left_is_a else "a"
    return side


def test_it_records_five_keyboard_judgements_in_canonical_terms(
    page: Page, live_server: Any, tmp_path: Path, project: Project, annotator: Any
) -> None:
    # given five pairs and an annotator who logs in through the form
    import_rows(project, tmp_path, pair_rows(5, labelled=False))
    log_in(page, live_server.url, "bob", next_path=annotate_path(project))

    # when they judge every pair with the keyboard only
    shown: dict[int, tuple[str, str]] = {}
    assignment = None
    for key, side in KEYS:
        assignment = wait_for_pair(page, other_than=assignment)
        shown[int(assignment)] = (side, page.locator('[data-role="left"]').inner_text())
        page.keyboard.press(key)

    # then the page says they are done, and each judgement matches what was on screen
    expect(page.locator("#annotator")).to_have_attribute("data-state", "finished")
    expect(page.get_by_role("heading", name="All done")).to_be_visible()
    expect(page.locator('[data-role="sync"]')).to_be_hidden()
    assert Judgement.objects.filter(annotator=annotator).count() == 5
    for assignment_id, (side, left_text) in shown.items():
        lease = Assignment.objects.select_related("pair__response_a").get(pk=assignment_id)
        judgement = Judgement.objects.get(assignment=lease)
        assert judgement.choice == canonical(side, left_is_a=lease.left_is_a)
        assert judgement.shown_left == ("a" if lease.left_is_a else "b")
        assert (lease.pair.response_a.text == left_text) is lease.left_is_a
        assert judgement.duration_ms is not None and judgement.duration_ms >= 0


def test_it_keeps_a_judgement_made_offline_and_sends_it_exactly_once(
    page: Page, live_server: Any, tmp_path: Path, project: Project, annotator: Any
) -> None:
    # given an annotator looking at a pair, with the next one already prefetched
    import_rows(project, tmp_path, pair_rows(4, labelled=False))
    log_in(page, live_server.url, "bob", next_path=annotate_path(project))
    first = wait_for_pair(page)
    expect(page.locator("#annotator")).to_have_attribute("data-queued", "2")
    badge = page.locator('[data-role="sync"]')

    # when the server is unreachable while they judge it
    page.route("**/api/assignments/**", lambda route: route.abort())
    page.keyboard.press("2")

    # then it waits locally, and they carry on with the prefetched pair
    expect(badge).to_have_text("1 waiting to sync")
    second = wait_for_pair(page, other_than=first)
    outbox = json.loads(page.evaluate("localStorage.getItem('prefloop:outbox:proj')"))
    client_id = outbox[0]["body"]["client_id"]
    assert not Judgement.objects.exists()

    # and it survives a reload while the server is still away
    page.reload()
    expect(badge).to_have_text("1 waiting to sync")
    assert wait_for_pair(page) == second

    # when the server is back
    page.unroute("**/api/assignments/**")
    page.evaluate("window.dispatchEvent(new Event('online'))")

    # then it lands once and the badge goes away
    expect(badge).to_be_hidden()
    judgement = Judgement.objects.get(client_id=client_id)
    assert judgement.assignment is not None and judgement.assignment_id == int(first)
    assert judgement.choice == canonical("right", left_is_a=judgement.assignment.left_is_a)
    assert Judgement.objects.filter(pair=judgement.pair).count() == 1

    # when the next judgement reaches the server but its answer is lost on the way back
    def lose_the_answer(route: Any) -> None:
        route.fetch()
        route.abort()

    page.route("**/api/assignments/**", lose_the_answer)
    page.keyboard.press("1")
    expect(badge).to_have_text("1 waiting to sync")
    page.unroute("**/api/assignments/**")
    page.evaluate("window.dispatchEvent(new Event('online'))")

    # then the retry finds the stored judgement instead of adding a second one
    expect(badge).to_be_hidden()
    assert Judgement.objects.filter(assignment_id=int(second)).count() == 1
    assert Judgement.objects.filter(annotator=annotator).count() == 2


def test_it_shows_html_in_a_response_as_text_without_running_it(
    page: Page, live_server: Any, tmp_path: Path, project: Project, annotator: Any
) -> None:
    # given a response carrying a script and an onerror handler
    script = "<script>window.__xss=1</script>"
    image = '<img src=x onerror="window.__xss=1">'
    rows = [
        {
            "prompt": f"Say hi {image}",
            "response_a": f"Hello {script}\n\nand {image}",
            "response_b": "Hi there.",
        }
    ]
    import_rows(project, tmp_path, rows)

    # when the annotator opens it
    log_in(page, live_server.url, "bob", next_path=annotate_path(project))
    wait_for_pair(page)

    # then nothing ran and the markup is visible as text
    responses = page.locator(".ann-responses")
    expect(responses).to_contain_text(script)
    expect(responses).to_contain_text(image)
    expect(page.locator(".ann-conversation")).to_contain_text(image)
    assert page.locator(".annotator img, .annotator script").count() == 0
    assert page.evaluate("window.__xss") is None


def test_it_renders_a_finished_looking_page(
    page: Page, live_server: Any, tmp_path: Path, admin: Any, annotator: Any
) -> None:
    # given a project that asks for strength and a reason, with guidelines and a multi-turn chat
    project = make_project(
        "chat",
        admin=admin,
        guidelines="Prefer the **correct** answer; then the clearer one.\n\n"
        "- Judge content, not length.\n- Mark *both bad* when neither answers.",
        ask_strength=True,
        ask_rationale="optional",
    )
    set_member(project, username="bob", role="annotator")
    prompt = [
        {"role": "system", "content": "You are a concise Python tutor."},
        {"role": "user", "content": "How do I reverse a list?"},
        {"role": "assistant", "content": "Use slicing: `items[::-1]`."},
        {"role": "user", "content": "And in place, without a copy?"},
    ]
    rows = [
        {
            "prompt": prompt,
            "response_a": "Call `reverse()` on the list:\n\n```python\nitems = [1, 2, 3]\n"
            "items.reverse()\nprint(items)  # [3, 2, 1]\n```\n\nIt returns `None`, "
            "so don't assign the result.",
            "response_b": "You can write a loop that swaps the ends:\n\n1. start at both ends\n"
            "2. swap\n3. move inwards\n\nBut **`list.reverse()`** does exactly this for you.",
        },
        *pair_rows(3, labelled=False),
    ]
    import_rows(project, tmp_path, rows)
    # One short pair first, so the progress bar has moved; then the conversation.
    PairRank.objects.filter(pair__external_id="q-0").update(priority=2)
    PairRank.objects.filter(pair__prompt__turn_count__gt=1).update(priority=1)
    log_in(page, live_server.url, "bob", next_path=annotate_path(project))
    first = wait_for_pair(page)
    page.keyboard.press("2")
    wait_for_pair(page, other_than=first)
    expect(page.locator(".ann-conversation")).to_contain_text("in place")

    # when the screenshot is taken
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / "annotate.png"
    page.screenshot(path=str(path), full_page=True)

    # then the page has its parts and the file exists
    expect(page.locator(".ann-guidelines")).to_have_attribute("open", "")
    expect(page.locator(".ann-guidelines")).to_contain_text("Judge content, not length.")
    expect(page.locator(".ann-keys")).to_contain_text("strength")
    assert path.stat().st_size > 10_000


def test_it_waits_for_a_required_reason_without_treating_its_text_as_shortcuts(
    page: Page, live_server: Any, tmp_path: Path, admin: Any, annotator: Any
) -> None:
    # given a project without ties that asks for strength and requires a reason, on a phone
    project = make_project(
        "why", admin=admin, allow_tie=False, ask_strength=True, ask_rationale="required"
    )
    set_member(project, username="bob", role="annotator")
    import_rows(project, tmp_path, pair_rows(3, labelled=False))
    page.set_viewport_size({"width": 420, "height": 900})
    log_in(page, live_server.url, "bob", next_path=annotate_path(project))
    first = wait_for_pair(page)
    left, right = page.locator('[data-side="left"]'), page.locator('[data-side="right"]')
    left_box, right_box = left.bounding_box(), right.bounding_box()
    assert left_box and right_box
    assert right_box["y"] > left_box["y"] + 10  # stacked, not side by side
    expect(page.get_by_role("button", name="Tie")).to_have_count(0)

    # when they press tie (not allowed), pick "much better", choose left and type shortcut keys
    page.keyboard.press("3")
    page.keyboard.press("Shift+Digit3")
    page.keyboard.press("1")
    expect(page.locator("#ann-rationale")).to_be_focused()
    page.keyboard.type("1 2 s b t: left cites the docs")

    # then nothing was submitted until Enter
    assert page.locator("#annotator").get_attribute("data-assignment") == first
    assert not Judgement.objects.exists()
    page.keyboard.press("Enter")
    wait_for_pair(page, other_than=first)
    expect(page.locator('[data-role="sync"]')).to_be_hidden()
    judgement = Judgement.objects.select_related("assignment").get()
    assert judgement.choice == canonical("left", left_is_a=judgement.assignment.left_is_a)
    assert judgement.strength == 3
    assert judgement.rationale == "1 2 s b t: left cites the docs"

    # when they skip the next pair, it is closed as skipped and another one is shown
    second = page.locator("#annotator").get_attribute("data-assignment")
    assert second is not None
    page.keyboard.press("s")
    wait_for_pair(page, other_than=second)
    expect(page.locator('[data-role="sync"]')).to_be_hidden()
    assert Assignment.objects.get(pk=second).outcome == Assignment.Outcome.SKIPPED
