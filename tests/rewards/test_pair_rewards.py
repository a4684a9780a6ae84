"""The served model's rewards on the annotate side's pair page, through the pair_details hook."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from unittest.mock import patch
from urllib.parse import unquote

import pytest

from annotate.models import Pair, PairRank, PairStatus, Project
from rewards.models import ResponseScore, RewardModel
from rewards.worker.priorities import rewrite_priorities
from tests.annotate.workspace_support import logged_in
from tests.factories import make_pairs

pytestmark = pytest.mark.django_db


def _version(project: Project, version: int, *, active: bool) -> RewardModel:
    return RewardModel.objects.create(
        project=project, version=version, mode="heads", backbone="tiny", is_active=active
    )


def test_the_pair_page_shows_the_served_versions_rewards(
    tmp_path: Path, admin: Any, project: Project
) -> None:
    # given an old version and a served one that scored both responses
    make_pairs(project, tmp_path, 1)
    pair = Pair.objects.get()
    old, served = _version(project, 1, active=False), _version(project, 2, active=True)
    ResponseScore.objects.create(response=pair.response_a, model=old, mean=9.0, std=0.0)
    ResponseScore.objects.create(response=pair.response_a, model=served, mean=1.25, std=0.5)
    ResponseScore.objects.create(response=pair.response_b, model=served, mean=0.25, std=0.1)

    # when the admin opens the pair
    page = logged_in(admin).get(f"/projects/{project.slug}/pairs/{pair.pk}").content.decode()

    # then the served version's rewards and P(a better) are shown, not the old version's
    assert "Reward model v2" in page
    assert "1.250 ± 0.500" in page and "0.250 ± 0.100" in page
    assert "0.73" in page  # sigmoid(1.25 - 0.25)
    assert "9.000" not in page


def test_the_pair_page_says_when_no_model_is_served(
    tmp_path: Path, admin: Any, project: Project
) -> None:
    make_pairs(project, tmp_path, 1)
    pair = Pair.objects.get()
    _version(project, 1, active=True)
    page = logged_in(admin).get(f"/projects/{project.slug}/pairs/{pair.pk}").content.decode()
    assert "not scored yet" in page
    RewardModel.objects.update(is_active=False)
    page = logged_in(admin).get(f"/projects/{project.slug}/pairs/{pair.pk}").content.decode()
    assert "No model is served" in page


def test_the_data_browser_sorts_by_the_served_models_margin_smallest_first(
    tmp_path: Path, admin: Any, project: Project
) -> None:
    # given four pairs (one still pending, three complete): margins 2.0, 0.5 and 0.1 under the
    # served version, written at its re-rank, and one unscored pair
    make_pairs(project, tmp_path, 4)
    pairs = list(Pair.objects.order_by("pk"))
    Pair.objects.filter(pk=pairs[0].pk).update(status=PairStatus.PENDING)
    client = logged_in(admin)
    url = f"/projects/{project.slug}/pairs"
    assert client.get(url, {"sort": "margin"}).status_code == 400  # no model served yet
    old = _version(project, 1, active=False)
    served = _version(project, 2, active=True)
    for pair, margin in zip(pairs[:3], (2.0, 0.5, 0.1), strict=True):
        for side, reward in ((pair.response_a, 0.3), (pair.response_b, 0.3 + margin)):
            ResponseScore.objects.create(
                response=side, model=served, mean=reward, std=0, members=[reward, reward]
            )
    # an older version's margin on the unscored pair does not count for the served one
    PairRank.objects.filter(pair=pairs[3]).update(reward_margin=0.0, margin_version=old.pk)
    rewrite_priorities(project.pk, model_id=served.pk, seed=1, strategy="random")

    # when the admin sorts by margin, two pairs a page
    seen: list[int] = []
    query: dict[str, str] | None = {"sort": "margin"}
    with patch("annotate.review.browsing.PAGE_SIZE", 2):
        while query is not None:
            page = client.get(url, query).content.decode()
            seen += [int(i) for i in re.findall(r'<tr data-pair="(\d+)"', page)]
            after = re.search(r"after=([^\"&]+)", page)
            query = {"sort": "margin", "after": unquote(after.group(1))} if after else None

    # then the least sure pair comes first, each scored pair once, the unscored one not at all
    assert seen == [pairs[2].pk, pairs[1].pk, pairs[0].pk]
    assert "reward margin (v2, scored pairs)" in page
