"""What a judgement holds, as a project's settings: comparison, max_ranked, criteria,
rating_scale and edits, through the API and the settings page, fixed once judging starts."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Permission

from annotate.models import Judgement, Pair, Project
from tests.annotate.workspace_support import logged_in
from tests.conftest import client_for
from tests.factories import make_pairs

pytestmark = pytest.mark.django_db

HELPFUL = {"name": "helpful", "guidance": "Does it do what was asked?", "required": True}
SAFE = {"name": "safe", "guidance": "", "required": False}


def _patch(user: Any, project: Project, **body: Any) -> Any:
    return client_for(user).patch(f"/api/projects/{project.slug}/", body, format="json")


def test_it_creates_a_ranking_project_with_criteria_ratings_and_edits(outsider: Any) -> None:
    # given
    outsider.user_permissions.add(Permission.objects.get(codename="add_project"))
    body = {
        "name": "Ranked",
        "slug": "ranked",
        "comparison": "ranking",
        "max_ranked": 5,
        "criteria": [HELPFUL, {"name": "safe"}],
        "rating_scale": [1, 2, 3, 4, 5],
        "edits": "optional",
    }
    # when
    response = client_for(outsider).post("/api/projects/", body, format="json")
    # then
    assert response.status_code == 201, response.json()
    project = Project.objects.get(slug="ranked")
    assert (project.comparison, project.max_ranked, project.edits) == ("ranking", 5, "optional")
    assert project.criteria == [HELPFUL, SAFE]
    assert project.rating_scale == [1, 2, 3, 4, 5]
    assert response.json()["criteria"] == [HELPFUL, SAFE]


def test_a_new_project_is_pairwise_with_nothing_beside_the_choice(
    admin: Any, project: Project
) -> None:
    body = client_for(admin).get(f"/api/projects/{project.slug}/").json()
    assert {k: body[k] for k in ("comparison", "max_ranked", "criteria", "rating_scale")} == {
        "comparison": "pairwise",
        "max_ranked": 4,
        "criteria": [],
        "rating_scale": [],
    }
    assert body["edits"] == "off"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"comparison": "triplets"}, "comparison"),
        ({"max_ranked": 2}, "max_ranked"),
        ({"max_ranked": 9}, "max_ranked"),
        ({"criteria": {"name": "helpful"}}, "criteria"),
        ({"criteria": [{"name": "has space"}]}, "criteria"),
        ({"criteria": [{"name": "overall"}]}, "criteria"),
        ({"criteria": [HELPFUL, HELPFUL]}, "criteria"),
        ({"criteria": [{"name": "x", "required": "yes"}]}, "criteria"),
        ({"criteria": [{"name": "x", "weight": 2}]}, "criteria"),
        ({"rating_scale": [1]}, "rating_scale"),
        ({"rating_scale": [1, 1]}, "rating_scale"),
        ({"rating_scale": [1, True]}, "rating_scale"),
        ({"rating_scale": list(range(12))}, "rating_scale"),
        ({"edits": "sometimes"}, "edits"),
    ],
)
def test_it_refuses_bad_settings_naming_the_field(
    admin: Any, project: Project, body: dict[str, Any], field: str
) -> None:
    response = _patch(admin, project, **body)
    assert response.status_code == 400
    assert list(response.json()) == [field]


def test_it_denies_annotators_changing_the_comparison(annotator: Any, project: Project) -> None:
    assert _patch(annotator, project, comparison="ranking").status_code == 403
    project.refresh_from_db()
    assert project.comparison == "pairwise"


def test_it_fixes_the_comparison_once_the_project_has_pairs(
    admin: Any, project: Project, tmp_path: Path
) -> None:
    # given
    make_pairs(project, tmp_path, 2, labelled=False)
    # when
    response = _patch(admin, project, comparison="ranking")
    # then
    assert response.status_code == 400
    assert "fixed once the project has pairs" in response.json()["comparison"][0]
    assert _patch(admin, project, comparison="pairwise").status_code == 200  # unchanged: fine


def test_it_fixes_criteria_and_the_scale_once_judging_starts(
    admin: Any, annotator: Any, project: Project, tmp_path: Path
) -> None:
    # given criteria and a scale may change while nothing is judged
    make_pairs(project, tmp_path, 3, labelled=False)
    assert _patch(admin, project, criteria=[SAFE], rating_scale=["bad", "good"]).status_code == 200
    assert _patch(admin, project, criteria=[HELPFUL]).status_code == 200
    # when a judgement exists
    lease = client_for(annotator).post(f"/api/projects/{project.slug}/next").json()
    body = {"choice": "left", "criteria": {"helpful": "left"}, "client_id": "one"}
    judged = client_for(annotator).post(
        f"/api/assignments/{lease['assignment']}/judgement", body, format="json"
    )
    assert judged.status_code == 201, judged.json()
    assert Judgement.objects.count() == 1
    # then they are fixed, and other settings still change
    for change, field in (
        ({"criteria": [SAFE]}, "criteria"),
        ({"rating_scale": [1, 2]}, "rating_scale"),
    ):
        response = _patch(admin, project, **change)
        assert response.status_code == 400
        assert "fixed once judging has started" in response.json()[field][0]
    assert _patch(admin, project, judgements_per_pair=2, edits="optional").status_code == 200
    project.refresh_from_db()
    assert project.criteria == [HELPFUL]


def test_the_settings_page_takes_the_shape_and_refuses_what_the_api_refuses(
    admin: Any, project: Project
) -> None:
    # given the page's other settings as a browser posts them
    base = {
        "name": "Proj",
        "judgements_per_pair": "1",
        "lease_seconds": "600",
        "ask_rationale": "off",
        "acquisition": "random",
        "retrain_every": "0",
        "allow_tie": "on",
    }
    shape = {
        "comparison": "ranking",
        "max_ranked": "6",
        "criteria": '[{"name": "helpful", "guidance": "g", "required": true}]',
        "rating_scale": '["bad", "ok", "good"]',
        "edits": "required",
    }
    # when
    page = logged_in(admin).get(f"/projects/{project.slug}/settings").content.decode()
    saved = logged_in(admin).post(f"/projects/{project.slug}/settings", {**base, **shape})
    bad = logged_in(admin).post(
        f"/projects/{project.slug}/settings", {**base, **shape, "rating_scale": "[1]"}
    )
    # then
    assert 'name="comparison"' in page and 'name="criteria"' in page
    assert saved.status_code == 302
    project.refresh_from_db()
    assert project.comparison == "ranking"
    assert project.max_ranked == 6
    assert project.criteria == [{"name": "helpful", "guidance": "g", "required": True}]
    assert project.rating_scale == ["bad", "ok", "good"]
    assert project.edits == "required"
    assert bad.status_code == 400
    assert "must have 2 to 11 values" in html.unescape(bad.content.decode())


def test_a_settings_post_without_the_shape_keeps_it(admin: Any, project: Project) -> None:
    # given
    Project.objects.filter(pk=project.pk).update(comparison="ranking", criteria=[HELPFUL])
    # when
    body = {"name": "Renamed", "judgements_per_pair": "1", "lease_seconds": "600"}
    body |= {"ask_rationale": "off", "acquisition": "random", "retrain_every": "0"}
    response = logged_in(admin).post(f"/projects/{project.slug}/settings", body)
    # then
    assert response.status_code == 302
    project.refresh_from_db()
    assert (project.name, project.comparison, project.criteria) == (
        "Renamed",
        "ranking",
        [HELPFUL],
    )
    assert not Pair.objects.exists()
