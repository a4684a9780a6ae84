"""Every page under the Content-Security-Policy in a real Chromium: nothing it needs is blocked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from playwright.sync_api import Page, expect

from annotate.models import Project
from tests.annotate.browser_support import log_in
from tests.annotate.workspace_support import judged_pair

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _pages(project: Project, pair_id: int) -> list[str]:
    base = f"/projects/{project.slug}"
    return [
        "/",
        "/projects/new",
        f"{base}/",
        f"{base}/annotate",
        f"{base}/settings",
        f"{base}/members",
        f"{base}/pairs",
        f"{base}/pairs/{pair_id}",
        f"{base}/quality",
        f"{base}/leaderboard",
        f"{base}/models",
        "/api/docs/",
    ]


def test_every_page_runs_under_the_policy(
    page: Page, live_server: Any, tmp_path: Path, admin: Any, annotator: Any, project: Project
) -> None:
    # given a project with a judged pair, seen by its admin (who may create projects)
    admin.user_permissions.add(Permission.objects.get(codename="add_project"))
    pair = judged_pair(project, tmp_path, annotator)
    log_in(page, live_server.url, "alice", next_path="/")

    for path in _pages(project, pair.pk):
        # when each page is opened
        response = page.goto(f"{live_server.url}{path}")
        page.wait_for_load_state("networkidle")

        # then it carries the policy, and (the page fixture checks) nothing broke it
        assert response is not None and response.status == 200, path
        policy = response.headers.get("content-security-policy", "")
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy.split("style")[0]

    # and the viewers really render, scripts and all
    page.goto(f"{live_server.url}/api/docs/")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("prefloop API")
