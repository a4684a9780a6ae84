"""The quality report (API and page), pausing from it, and exports without flagged annotators."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from annotate.importing.pipeline import import_file
from annotate.management.commands.load_demo import DEMO_DIR, demo_vote_rows, distinct_records
from annotate.models import Project
from annotate.quality.measures import krippendorff_alpha
from tests.annotate.statistics_support import fetched
from tests.conftest import client_for, streamed
from tests.factories import write_jsonl

pytestmark = pytest.mark.django_db

LABELLED = DEMO_DIR / "pandalm-labelled.jsonl"


@pytest.fixture
def voted(project: Project, tmp_path: Path) -> Project:
    """The demo's labelled pairs with the three PandaLM annotators' votes, min 2 / max 3."""
    project.judgements_per_pair = 2
    project.max_judgements_per_pair = 3
    project.save()
    import_file(project, LABELLED, labels="ignore")
    import_file(project, write_jsonl(tmp_path / "votes.jsonl", demo_vote_rows(LABELLED)))
    return project


def _independent_alpha() -> float:
    alpha = krippendorff_alpha([r["meta"]["votes"] for r in distinct_records(LABELLED)])
    assert alpha is not None
    return alpha


def test_it_reports_alpha_savings_and_annotators_to_admins(admin: Any, voted: Project) -> None:
    # when
    response = fetched(client_for(admin), f"/api/projects/{voted.slug}/quality")
    # then
    assert response.status_code == 200
    body = response.json()
    assert body["alpha"] == pytest.approx(_independent_alpha())
    low, high = body["alpha_interval"]
    assert low < body["alpha"] < high
    assert body["votes_per_completed_pair"] == 3.0 and body["votes_saved"] == 0.0
    names = [a["name"] for a in body["annotators"]]
    assert names == [f"pandalm-annotator-{i} (imported)" for i in (1, 2, 3)]
    assert all(a["flags"] == [] and a["agreement"]["rate"] > 0.85 for a in body["annotators"])


@pytest.mark.parametrize(("who", "status"), [("annotator", 403), ("outsider", 404)])
def test_it_hides_the_report_from_everyone_else(
    request: Any, voted: Project, who: str, status: int
) -> None:
    user = request.getfixturevalue(who)
    assert fetched(client_for(user), f"/api/projects/{voted.slug}/quality").status_code == status


def test_the_schema_documents_the_report(admin: Any) -> None:
    schema = client_for(admin).get("/api/schema/", HTTP_ACCEPT="application/json").content
    assert b"/api/projects/{slug}/quality" in schema
    assert b"alpha_interval" in schema and b"votes_saved" in schema


def test_the_page_shows_the_figures_and_the_left_rate_chart(
    admin: Any, annotator: Any, voted: Project, tmp_path: Path
) -> None:
    # given one decisive judgement made here, so the chart has a row
    new = [{"prompt": "p", "response_a": "1", "response_b": "2"}]
    import_file(voted, write_jsonl(tmp_path / "new.jsonl", new))
    client = client_for(annotator)
    leased = client.post(f"/api/projects/{voted.slug}/next", {}, format="json").json()
    payload = {"choice": "left", "duration_ms": 5000, "client_id": "c-1"}
    client.post(f"/api/assignments/{leased['assignment']}/judgement", payload, format="json")
    client = client_for(admin)
    client.force_login(admin)
    # when
    page = fetched(client, f"/projects/{voted.slug}/quality")
    detail = client.get(f"/projects/{voted.slug}/")
    # then
    assert page.status_code == 200
    text = page.content.decode()
    assert f"{_independent_alpha():.3f}" in text
    assert "pandalm-annotator-2 (imported)" in text
    assert '<svg class="left-rate"' in text and '<g data-annotator="bob">' in text
    assert f"/projects/{voted.slug}/quality" in detail.content.decode()


def test_an_admin_pauses_and_reinstates_an_annotator(
    admin: Any, annotator: Any, voted: Project, tmp_path: Path
) -> None:
    import_file(
        voted,
        write_jsonl(
            tmp_path / "new.jsonl", [{"prompt": "p", "response_a": "1", "response_b": "2"}]
        ),
    )
    base = f"/api/projects/{voted.slug}/annotators/{annotator.pk}"
    nxt = f"/api/projects/{voted.slug}/next"
    # when paused
    assert client_for(admin).post(f"{base}/pause", {"reason": "check your work"}).status_code == 204
    # then
    refused = client_for(annotator).post(nxt, {}, format="json")
    assert refused.status_code == 403 and refused.json()["detail"] == "check your work"
    # when reinstated
    assert client_for(admin).post(f"{base}/reinstate").status_code == 204
    assert client_for(annotator).post(nxt, {}, format="json").status_code == 200
    # an annotator cannot pause anyone
    assert client_for(annotator).post(f"{base}/pause").status_code == 403


def test_exports_can_leave_out_flagged_annotators(
    admin: Any, voted: Project, tmp_path: Path
) -> None:
    # given a fourth annotator who clicked at random on 30 pairs
    rng = random.Random(3)
    ids = [r["id"] for r in distinct_records(LABELLED)[:30]]
    clicker = [
        {"pair_external_id": i, "annotator": "clicker", "choice": rng.choice(["a", "b", "tie"])}
        for i in ids
    ]
    import_file(voted, write_jsonl(tmp_path / "clicker.jsonl", clicker))
    url = f"/api/projects/{voted.slug}/export?format=judgements"
    # when
    everything = streamed(client_for(admin).get(url)).splitlines()
    kept = streamed(client_for(admin).get(url + "&exclude_flagged=true")).splitlines()
    # then
    assert len(everything) - len(kept) == 30


def test_the_demo_project_has_quality_figures(django_user_model: Any) -> None:
    # when
    call_command("load_demo")
    # then
    demo_admin = django_user_model.objects.get(username="admin")
    body = fetched(client_for(demo_admin), "/api/projects/demo/quality").json()
    assert body["alpha"] == pytest.approx(_independent_alpha())
    assert len(body["annotators"]) == 3
    assert Project.objects.get(slug="demo").pairs.exclude(gold_label="").count() > 10


def test_training_leaves_out_flagged_annotators_when_the_project_says_so(
    voted: Project, tmp_path: Path
) -> None:
    from rewards.worker.snapshot import snapshot_project

    # given a random clicker on 30 pairs
    rng = random.Random(5)
    clicker = [
        {"pair_external_id": r["id"], "annotator": "clicker", "choice": rng.choice("ab")}
        for r in distinct_records(LABELLED)[:30]
    ]
    import_file(voted, write_jsonl(tmp_path / "clicker.jsonl", clicker))
    everything = snapshot_project(voted).judgements
    # when
    voted.exclude_flagged_from_training = True
    voted.save()
    # then
    assert everything - snapshot_project(voted).judgements == 30


def test_the_page_pauses_and_reinstates_and_is_for_admins_only(
    admin: Any, annotator: Any, voted: Project
) -> None:
    from annotate.judging.gold import paused_reason

    page = client_for(admin)
    page.force_login(admin)
    base = f"/projects/{voted.slug}/quality/annotators/{annotator.pk}"
    # when
    page.post(f"{base}/pause", {"reason": "too fast"})
    # then
    assert paused_reason(annotator, voted) == "too fast"
    page.post(f"{base}/reinstate")
    assert paused_reason(annotator, voted) == ""
    other = client_for(annotator)
    other.force_login(annotator)
    assert fetched(other, f"/projects/{voted.slug}/quality").status_code == 403
    assert other.post(f"{base}/pause").status_code == 403


def test_the_page_refuses_a_pause_reason_the_api_refuses(
    admin: Any, annotator: Any, project: Project
) -> None:
    from django.contrib.messages import get_messages
    from django.test import Client

    from annotate.judging.gold import paused_reason

    # given a reason one character over the limit
    too_long = {"reason": "x" * 301}
    page = Client()
    page.force_login(admin)
    # when the admin pauses with it through the API and through the quality page
    api = client_for(admin).post(
        f"/api/projects/{project.slug}/annotators/{annotator.pk}/pause", too_long
    )
    response = page.post(
        f"/projects/{project.slug}/quality/annotators/{annotator.pk}/pause", too_long
    )
    # then both refuse it with the same message and the annotator is not paused
    assert api.status_code == 400
    assert response.status_code == 302
    shown = [m.message for m in get_messages(response.wsgi_request)]
    assert shown == [f"reason: {api.json()['reason'][0]}"]
    assert "300" in shown[0]
    assert paused_reason(annotator, project) == ""
