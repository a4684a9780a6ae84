"""Scoring a project's missing responses reads them in bounded pages, each on from the last."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from annotate.models import Project, Response
from rewards.ml import shards
from rewards.models import ResponseScore, RewardModel
from rewards.worker import services
from rewards.worker.services import score_missing_responses
from tests.rewards.conftest import train_version

pytestmark = pytest.mark.django_db

# The select list of the query that reads a page of responses to score.
PAGE_QUERY = 'SELECT "annotate_response"."id" AS "pk", "annotate_prompt"."messages"'


@pytest.fixture
def served(project: Project, rewards_dirs: Path, monkeypatch: pytest.MonkeyPatch) -> RewardModel:
    """A heads version with no scores yet, and pages of three responses."""
    model = train_version(project, rewards_dirs)
    model.scores.all().delete()
    monkeypatch.setattr(services, "SCORE_BATCH", 3)
    return model


def response_pks(project: Project) -> list[int]:
    return list(
        Response.objects.filter(prompt__project=project).order_by("pk").values_list("pk", flat=True)
    )


def scores_per_response(model: RewardModel) -> dict[int, int]:
    counts: dict[int, int] = {}
    for pk in ResponseScore.objects.filter(model=model).values_list("response_id", flat=True):
        counts[pk] = counts.get(pk, 0) + 1
    return counts


def page_starts(queries: list[dict[str, Any]]) -> list[int]:
    """The primary key each page query reads on from, in the order they ran."""
    pages = [q["sql"] for q in queries if q["sql"].startswith(PAGE_QUERY)]
    starts = [re.search(r'"annotate_response"\."id" > (\d+)', sql) for sql in pages]
    assert all(starts), "a page query reads the responses from the start"
    return [int(found.group(1)) for found in starts if found]


def test_each_page_reads_on_from_the_last_and_every_response_is_scored_once(
    project: Project, served: RewardModel
) -> None:
    # given a project of more responses than fit in a few pages of three
    pks = response_pks(project)
    assert len(pks) > 9

    # when its missing scores are computed
    with CaptureQueriesContext(connection) as captured:
        assert score_missing_responses(served) == len(pks)

    # then every response has exactly one score
    assert scores_per_response(served) == dict.fromkeys(pks, 1)
    # and each page started after the last response of the page before (one more finds none)
    last_of_each_page = [pks[i : i + 3][-1] for i in range(0, len(pks), 3)]
    assert page_starts(captured.captured_queries) == [0, *last_of_each_page]


def test_only_the_missing_responses_are_scored_and_the_others_keep_their_scores(
    project: Project, served: RewardModel
) -> None:
    # given every response scored, then every other score removed
    pks = response_pks(project)
    score_missing_responses(served)
    kept = dict(ResponseScore.objects.filter(model=served).values_list("response_id", "id"))
    removed = pks[::2]
    ResponseScore.objects.filter(model=served, response_id__in=removed).delete()

    # when the missing ones are scored
    assert score_missing_responses(served) == len(removed)

    # then each response again has one score, and the kept ones are the same rows
    assert scores_per_response(served) == dict.fromkeys(pks, 1)
    now = dict(ResponseScore.objects.filter(model=served).values_list("response_id", "id"))
    assert all(now[pk] == kept[pk] for pk in pks[1::2])
    assert score_missing_responses(served) == 0


def test_split_over_devices_a_round_is_bounded_and_scores_as_one_process_does(
    project: Project, served: RewardModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given the scores one process gives
    pks = response_pks(project)
    score_missing_responses(served)
    one = dict(ResponseScore.objects.filter(model=served).values_list("response_id", "mean"))
    served.scores.all().delete()
    # and two devices, rounds of two pages, and a record of what each round is asked
    monkeypatch.setattr(services, "scoring_devices", lambda model: ["cpu", "cpu"])
    monkeypatch.setattr(services, "DEVICE_ROUND_BATCHES", 2)
    asked: list[int] = []
    real = shards.score_on_devices

    def recorded(model_dir: Any, items: Any, devices: Any) -> Any:
        asked.append(len(items))
        return real(model_dir, items, devices)

    monkeypatch.setattr(shards, "score_on_devices", recorded)

    # when the missing scores are computed over the devices
    assert score_missing_responses(served) == len(pks)

    # then no round was asked for more than two pages of three, and every response was scored
    assert max(asked) == 6 and sum(asked) == len(pks) and len(asked) == -(-len(pks) // 6)
    two = dict(ResponseScore.objects.filter(model=served).values_list("response_id", "mean"))
    assert two.keys() == one.keys()
    assert all(abs(two[k] - one[k]) < 1e-5 for k in one)
