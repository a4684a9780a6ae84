"""A project's reward_max_tokens: set on the settings page or the API, bounded, and read by
every training run that does not give its own max_length."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from annotate.models import Project
from rewards.models import TrainingRun
from rewards.worker.services import build_config
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


def test_a_run_reads_the_projects_length_unless_it_gives_its_own(
    admin: Any, project: Project
) -> None:
    # given a project whose reward model reads 96 tokens, set through the API
    answer = client_for(admin).patch(
        f"/api/projects/{project.slug}/", {"reward_max_tokens": 96}, format="json"
    )
    assert answer.status_code == 200 and answer.json()["reward_max_tokens"] == 96
    project.refresh_from_db()
    # when a run without a length and a run with one are configured (not saved: one live run)
    plain = TrainingRun(project=project, mode="heads", options={})
    own = TrainingRun(project=project, mode="finetune", options={"max_length": 40})
    # then the first reads the project's 96 and the second keeps its 40
    assert build_config(plain).max_length == 96
    assert build_config(own).max_length == 40


def test_a_project_without_a_length_trains_at_the_default(project: Project) -> None:
    run = TrainingRun(project=project, mode="heads", options={})
    assert build_config(run).max_length == 256


@pytest.mark.parametrize("value", [8, 40_000, "long"])
def test_a_length_out_of_bounds_is_refused_on_the_api_and_the_page(
    admin: Any, project: Project, value: Any
) -> None:
    # when an out-of-bounds length is sent through the API
    answer = client_for(admin).patch(
        f"/api/projects/{project.slug}/", {"reward_max_tokens": value}, format="json"
    )
    # then it is a 400 naming the field, and nothing changed
    assert answer.status_code == 400 and "reward_max_tokens" in answer.json()
    project.refresh_from_db()
    assert project.reward_max_tokens is None
    # and the settings page shows the field with its bounds
    page = Client()
    page.force_login(admin)
    html = page.get(f"/projects/{project.slug}/settings").content.decode()
    assert 'name="reward_max_tokens"' in html and 'max="32768"' in html
