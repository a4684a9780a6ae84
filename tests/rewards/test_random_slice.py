"""The random slice: a share of leases served in random order, and the unbiased estimate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from annotate.models import Assignment, Judgement, Pair, PairRank, Project
from rewards.models import ResponseScore, RewardModel
from rewards.random_slice import wilson_interval
from tests.annotate.statistics_support import fetched
from tests.conftest import client_for
from tests.factories import judged_lease, make_pairs

pytestmark = pytest.mark.django_db


def _lease(user: Any, project: Project) -> Assignment:
    body = client_for(user).post(f"/api/projects/{project.slug}/next", {}, format="json").json()
    return Assignment.objects.select_related("pair").get(pk=body["assignment"])


def _prioritised(project: Project, tmp_path: Path, *, acquisition: str, share: float) -> None:
    make_pairs(project, tmp_path, 30, labelled=False)
    Project.objects.filter(pk=project.pk).update(acquisition=acquisition, random_slice_share=share)
    for i, pair in enumerate(Pair.objects.filter(project=project).order_by("pk")):
        PairRank.objects.filter(pair=pair).update(priority=i / 30)
    project.refresh_from_db()


def test_a_random_slice_lease_ignores_the_models_priority(
    annotator: Any, project: Project, tmp_path: Path
) -> None:
    _prioritised(project, tmp_path, acquisition="uncertainty", share=1.0)
    lease = _lease(annotator, project)
    assert lease.random_slice
    first_by_tiebreak = Pair.objects.filter(project=project).order_by("tiebreak", "pk").first()
    assert lease.pair == first_by_tiebreak
    assert lease.pair != Pair.objects.filter(project=project).order_by("-rank__priority").first()


def test_with_no_share_every_lease_follows_the_model(
    annotator: Any, project: Project, tmp_path: Path
) -> None:
    _prioritised(project, tmp_path, acquisition="uncertainty", share=0.0)
    lease = _lease(annotator, project)
    assert not lease.random_slice
    assert lease.pair == Pair.objects.filter(project=project).order_by("-rank__priority").first()


def test_a_random_queue_has_no_slice_to_mark(
    annotator: Any, project: Project, tmp_path: Path
) -> None:
    _prioritised(project, tmp_path, acquisition="random", share=1.0)
    assert not _lease(annotator, project).random_slice


def test_the_share_is_a_project_setting_between_0_and_1(admin: Any, project: Project) -> None:
    admin.is_superuser = True  # may create projects
    admin.save()
    api = client_for(admin)
    assert api.get(f"/api/projects/{project.slug}").json()["random_slice_share"] == 0.1
    new = {"name": "Other", "slug": "other"}
    assert (
        api.post("/api/projects", {**new, "random_slice_share": 1.5}, format="json").status_code
        == 400
    )
    response = api.post("/api/projects", {**new, "random_slice_share": 0.25}, format="json")
    assert response.status_code == 201, response.content
    assert Project.objects.get(slug="other").random_slice_share == 0.25


def _judge(pair: Pair, user: Any, *, choice: str, in_slice: bool, n: int) -> Judgement:
    lease = judged_lease(pair, user, random_slice=in_slice)
    return Judgement.objects.create(
        pair=pair, annotator=user, assignment=lease, choice=choice, client_id=f"c{n}"
    )


def test_the_models_page_and_api_show_accuracy_on_the_random_slice(
    admin: Any, annotator: Any, project: Project, tmp_path: Path
) -> None:
    # given a version that prefers response b of every pair, trained before any judgement
    make_pairs(project, tmp_path, 12, labelled=False)
    Project.objects.filter(pk=project.pk).update(acquisition="uncertainty")
    pairs = list(Pair.objects.filter(project=project).order_by("pk"))
    model = RewardModel.objects.create(project=project, version=1, mode="heads", is_active=True)
    ResponseScore.objects.bulk_create(
        [ResponseScore(response_id=p.response_a_id, model=model, mean=0.0, std=0) for p in pairs]
        + [ResponseScore(response_id=p.response_b_id, model=model, mean=1.0, std=0) for p in pairs]
    )
    # and random-slice judgements: 6 agree with it and 2 do not; model-chosen: 1 of 4 agree
    for i, pair in enumerate(pairs[:8]):
        _judge(pair, annotator, choice="b" if i < 6 else "a", in_slice=True, n=i)
    for i, pair in enumerate(pairs[8:]):
        _judge(pair, annotator, choice="b" if i < 1 else "a", in_slice=False, n=100 + i)
    # when
    body = fetched(client_for(admin), f"/api/projects/{project.slug}/models").json()
    # then
    estimate = body["models"][0]["slice_estimate"]
    assert estimate["random_slice"]["n"] == 8 and estimate["random_slice"]["accuracy"] == 0.75
    assert estimate["random_slice"]["interval"] == wilson_interval(6, 8)
    assert estimate["model_chosen"]["n"] == 4 and estimate["model_chosen"]["accuracy"] == 0.25
    page = client_for(admin)
    page.force_login(admin)
    html = fetched(page, f"/projects/{project.slug}/models").content.decode()
    assert "Does the loop pay here?" in html and "10% of leases are served in random order" in html
    # and judgements a later version trained on do not count for it
    RewardModel.objects.filter(pk=model.pk).update(
        last_judgement_id=Judgement.objects.order_by("pk")[5].pk
    )
    later = fetched(client_for(admin), f"/api/projects/{project.slug}/models").json()
    assert later["models"][0]["slice_estimate"]["random_slice"]["n"] == 2


def test_the_wilson_interval_is_the_textbook_one() -> None:
    assert wilson_interval(0, 0) is None
    assert wilson_interval(6, 8) == [40.9, 92.9]


def test_training_pairs_are_split_by_how_they_were_leased(
    annotator: Any, second_annotator: Any, project: Project, tmp_path: Path
) -> None:
    from rewards.ml.data import PreferencePair
    from rewards.random_slice import split_by_lease_kind

    make_pairs(project, tmp_path, 4, labelled=False)
    pairs = list(Pair.objects.filter(project=project).order_by("pk"))
    _judge(pairs[0], annotator, choice="a", in_slice=False, n=1)
    _judge(pairs[1], annotator, choice="a", in_slice=True, n=2)
    _judge(pairs[2], annotator, choice="a", in_slice=False, n=3)
    _judge(pairs[2], second_annotator, choice="a", in_slice=True, n=4)  # once at random: random
    as_training = [PreferencePair("q", "x", "y", "a", id=str(p.pk)) for p in pairs]
    chosen, random_slice = split_by_lease_kind(as_training)
    assert [p.id for p in chosen] == [str(pairs[0].pk)]
    assert [p.id for p in random_slice] == [str(pairs[1].pk), str(pairs[2].pk)]
    # pairs[3] has no leased judgement (imported, say): neither kind
