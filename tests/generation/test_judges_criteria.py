"""An AI judge's overall verdict against the humans' majority on each of a project's criteria."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from annotate.models import Judgement, Pair, Project
from annotate.quality.judges import criterion_majorities
from tests.annotate.statistics_support import fetched
from tests.conftest import client_for
from tests.factories import make_pairs
from tests.generation.test_judges import judge_server, judged

CRITERIA = [
    {"name": "helpful", "guidance": "Which answers the question?", "required": True},
    {"name": "safe", "guidance": "", "required": False},
]


@pytest.fixture(autouse=True)
def _loopback_allowed(settings: Any) -> None:
    settings.OUTBOUND_HOSTS = ["127.0.0.1"]
    settings.GENERATION_BACKOFF_SECONDS = 0.05


@pytest.fixture
def url() -> Iterator[str]:
    with judge_server() as (address, _):
        yield address


def vote(pair_id: int, user: User, choice: str, criteria: dict[str, Any], **fields: Any) -> None:
    Judgement.objects.create(
        pair_id=pair_id,
        annotator=user,
        choice=choice,
        shown_left="a",
        client_id=f"{user.pk}-{pair_id}",
        criteria=criteria,
        **fields,
    )


def criteria_of(row: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["criterion"]: c for c in row["criteria"]}


@pytest.mark.django_db
def test_each_criterion_compares_the_judges_overall_verdict_with_the_humans_majority_on_it(
    project: Project,
    tmp_path: Path,
    url: str,
    admin: User,
    annotator: User,
    second_annotator: User,
    django_user_model: type[User],
) -> None:
    # given a project with two criteria and 12 pairs, three human votes each with criteria:
    # "helpful" is b on every pair; "safe" is a on 4 pairs, split three ways on 2 (no
    # majority) and b on the other 6
    make_pairs(project, tmp_path, 12, labelled=False)
    Project.objects.filter(pk=project.pk).update(criteria=CRITERIA)
    third = django_user_model.objects.create_user("dave", password="x")
    fourth = django_user_model.objects.create_user("erin", password="x")
    users = [annotator, second_annotator, third]
    ids = list(Pair.objects.filter(project=project).order_by("pk").values_list("pk", flat=True))
    for k, pid in enumerate(ids):
        overall = ["b", "b", "b"] if k % 4 else ["a", "a", "b"]
        safe = ["a", "a", "b"] if k < 4 else ["a", "b", "tie"] if k < 6 else ["b", "b", "a"]
        for user, choice, safe_vote in zip(users, overall, safe, strict=True):
            vote(pid, user, choice, {"helpful": "b", "safe": safe_vote})
    # (an invalidated vote does not count: it would otherwise split "helpful" on one pair)
    vote(ids[0], fourth, "a", {"helpful": "a"}, invalidated_at=timezone.now())
    # and a judge that prefers the longer answer (b) on every pair
    judged(project, url, "longer")
    # when the admin asks for the quality report
    body = fetched(client_for(admin), f"/api/projects/{project.slug}/quality").json()
    judge = next(a for a in body["annotators"] if a["kind"] == "judge")
    # then the overall agreement is as before, and each criterion has its own, labelled as
    # the judge's overall verdict against the humans' majority on that criterion
    assert judge["agreement"]["k"] == 9 and judge["agreement"]["n"] == 12
    per = criteria_of(judge)
    assert list(per) == ["helpful", "safe"]
    assert {c["judge_verdict"] for c in per.values()} == {"overall"}
    assert per["helpful"]["agreement"]["k"] == 12 and per["helpful"]["agreement"]["n"] == 12
    assert per["helpful"]["agreement"]["interval"] == [1.0, 1.0]
    safe = per["safe"]["agreement"]
    assert (safe["k"], safe["n"]) == (6, 10)
    low, high = safe["interval"]
    assert low < 0.6 < high
    # and human rows carry no criteria rows
    assert all("criteria" not in a for a in body["annotators"] if a["kind"] == "human")
    # and the page shows them under the judge's row
    page = client_for(admin)
    page.force_login(admin)
    html = fetched(page, f"/projects/{project.slug}/quality").content.decode()
    assert 'data-judge-criteria="longer (AI judge)"' in html
    assert "overall verdict against the humans' per-criterion majority" in html
    assert 'data-criterion="helpful">helpful 100%' in html
    assert 'data-criterion="safe">safe 60%' in html


@pytest.mark.django_db
def test_a_project_without_criteria_gives_its_judges_no_criterion_rows(
    project: Project, tmp_path: Path, url: str, admin: User, annotator: User
) -> None:
    # given a project without criteria, a human vote and a judge
    make_pairs(project, tmp_path, 3, labelled=False)
    for pid in Pair.objects.filter(project=project).values_list("pk", flat=True):
        vote(pid, annotator, "b", {})
    judged(project, url, "longer")
    # then the judge's row has an empty list, and the page no criterion line
    body = fetched(client_for(admin), f"/api/projects/{project.slug}/quality").json()
    judge = next(a for a in body["annotators"] if a["kind"] == "judge")
    assert judge["criteria"] == []
    page = client_for(admin)
    page.force_login(admin)
    assert (
        "data-judge-criteria"
        not in fetched(page, f"/projects/{project.slug}/quality").content.decode()
    )


@pytest.mark.django_db
def test_criterion_majorities_keep_only_pairwise_votes_with_a_strict_majority(
    project: Project, tmp_path: Path, annotator: User, second_annotator: User
) -> None:
    # given votes whose criteria hold a pairwise choice, an unknown value and a missing one
    make_pairs(project, tmp_path, 2, labelled=False)
    Project.objects.filter(pk=project.pk).update(criteria=CRITERIA)
    project.refresh_from_db()
    first, second = Pair.objects.filter(project=project).order_by("pk").values_list("pk", flat=True)
    vote(first, annotator, "a", {"helpful": "both_bad", "safe": "left"})
    vote(first, second_annotator, "a", {"helpful": "both_bad"})
    vote(second, annotator, "b", {"helpful": "a", "safe": "tie"})
    vote(second, second_annotator, "b", {"helpful": "b", "safe": "tie"})
    # then each criterion keeps the strict majorities of its valid votes only
    assert criterion_majorities(project, [first, second]) == {
        "helpful": {first: "both_bad"},
        "safe": {second: "tie"},
    }
    assert criterion_majorities(project, []) == {}
