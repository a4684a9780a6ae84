"""The workspace in a real Chromium: from a new project to a reviewed judgement."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from playwright.sync_api import Browser, Page, expect

from annotate.models import Judgement, Pair, PairStatus, Project
from tests.annotate.browser_support import ARTIFACTS, log_in, wait_for_pair, watch_for_errors
from tests.factories import pair_rows, write_jsonl

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _page(browser: Browser, errors: list[str]) -> Page:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    watch_for_errors(page, errors)
    return page


def test_an_admin_sets_up_a_project_and_reviews_an_invited_annotators_work(
    browser: Browser, live_server: Any, celery_worker: Path, tmp_path: Path, admin: Any
) -> None:
    errors: list[str] = []
    admin.user_permissions.add(Permission.objects.get(codename="add_project"))
    lead = _page(browser, errors)

    # given an admin who creates a project: the slug follows the name, guidelines preview live
    log_in(lead, live_server.url, "alice", next_path="/")
    lead.get_by_role("link", name="New project").click()
    lead.wait_for_url("**/projects/new")
    lead.get_by_label("Name").fill("Browser trial")
    expect(lead.get_by_label("Slug")).to_have_value("browser-trial")
    lead.get_by_label("Guidelines").fill("Prefer the **correct** answer.")
    expect(lead.locator("[data-markdown-preview] strong")).to_have_text("correct")
    ARTIFACTS.mkdir(exist_ok=True)
    lead.screenshot(path=str(ARTIFACTS / "project-new.png"), full_page=True)
    lead.get_by_role("button", name="Create project").click()
    lead.wait_for_url("**/projects/browser-trial/")
    project = Project.objects.get(slug="browser-trial")

    # and imports a file, which the worker imports
    upload = write_jsonl(tmp_path / "four.jsonl", pair_rows(4, labelled=False))
    lead.locator("#import-file").set_input_files(str(upload))
    lead.get_by_role("button", name="Import").click()
    expect(lead.locator('[data-count="pending"]')).to_have_text("4", timeout=60_000)

    # when they invite an annotator and copy the one-time link
    lead.get_by_role("link", name="Members").first.click()
    lead.get_by_label("Email addresses").fill("dana@example.com")
    lead.get_by_role("button", name="Invite").click()
    link = lead.get_by_label("Invitation link for dana@example.com").input_value()
    assert link.startswith(live_server.url)
    lead.screenshot(path=str(ARTIFACTS / "members.png"), full_page=True)

    # then the annotator opens it, makes an account (the address is the username) and lands
    # in the project
    dana = _page(browser, errors)
    dana.goto(link)
    expect(dana.locator("#id_username")).to_have_value("dana@example.com")
    dana.locator("#id_password1").fill("a long enough passphrase 42")
    dana.locator("#id_password2").fill("a long enough passphrase 42")
    dana.get_by_role("button", name="Create account and join").click()
    dana.wait_for_url("**/projects/browser-trial/")

    # and judges three pairs with the keyboard
    dana.get_by_role("link", name="Start annotating").click()
    shown = None
    for key in ("1", "ArrowRight", "1"):
        shown = wait_for_pair(dana, other_than=shown)
        dana.keyboard.press(key)
    wait_for_pair(dana, other_than=shown)
    expect(dana.locator('[data-role="sync"]')).to_be_hidden()
    assert Judgement.objects.filter(annotator__username="dana@example.com").count() == 3

    # when the admin filters the pairs to "judged" and opens one
    lead.goto(f"{live_server.url}/projects/browser-trial/pairs")
    lead.get_by_label("Status").select_option("judged")
    lead.get_by_role("button", name="Filter").click()
    rows = lead.locator("tr[data-pair]")
    expect(rows).to_have_count(3)
    lead.screenshot(path=str(ARTIFACTS / "pairs.png"), full_page=True)
    first_pair = rows.first.get_attribute("data-pair")
    assert first_pair is not None
    pair_id = int(first_pair)
    rows.first.get_by_role("link").first.click()
    judgement = Judgement.objects.get(pair_id=pair_id)
    row = lead.locator(f'tr[data-judgement="{judgement.pk}"]')
    expect(row).to_contain_text("annotator-")
    expect(lead.locator("[data-pair-status]")).to_have_text("complete")

    # and marks the judgement invalid with a reason
    row.get_by_placeholder("Reason").fill("answered before reading")
    row.get_by_role("button", name="Mark invalid").click()

    # then the page shows it invalid and the pair is pending again
    expect(row).to_contain_text("answered before reading")
    expect(lead.locator("[data-pair-status]")).to_have_text("pending")
    assert Pair.objects.get(pk=pair_id).status == PairStatus.PENDING
    judgement.refresh_from_db()
    assert judgement.invalidated_by == admin
    lead.screenshot(path=str(ARTIFACTS / "pair-review.png"), full_page=True)
    assert project.pairs.count() == 4
    assert not errors, f"JavaScript errors on the page: {errors}"
