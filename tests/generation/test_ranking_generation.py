"""A finished generation job in a ranking project: each prompt's new responses become ranking
items the way a `responses` import makes them, whatever the pairing rule."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.db import transaction

from annotate.importing.pipeline import import_file
from annotate.models import Pair, Project, RankedResponse, ResponseSource
from generation.jobs import plan_job, run_job, start_generation
from generation.models import GenerationJob, GenerationStatus, ModelEndpoint, Pairing, Sample
from generation.pairing import pair_samples
from tests.factories import make_project, write_jsonl

pytestmark = pytest.mark.django_db

NAMES = ("a", "b", "c")


@pytest.fixture
def ranked(admin: Any, tmp_path: Path) -> Project:
    project = make_project("ranked", admin=admin, comparison="ranking", max_ranked=4)
    rows = [{"prompt": f"question {i}", "id": f"q{i}"} for i in range(3)]
    import_file(project, write_jsonl(tmp_path / "prompts.jsonl", rows))
    return project


def finished_job(project: Project, admin: Any) -> GenerationJob:
    """A job whose samples are all done: question 2's are one text, the others all differ."""
    endpoints = [
        ModelEndpoint.objects.create(project=project, name=n, base_url="http://x/v1", model="m")
        for n in NAMES
    ]
    job = start_generation(
        project,
        admin,
        endpoints=endpoints,
        samples=2,
        pairing=Pairing.RANDOM,
        pairs_per_prompt=1,
        on_workers=False,
    )
    plan_job(job)
    for sample in Sample.objects.select_related("prompt", "endpoint"):
        question = sample.prompt.messages[-1]["content"]
        sample.status = Sample.Status.DONE
        own = f"{question} {sample.endpoint.name}{sample.index}"
        sample.text = "the same" if question == "question 2" else own
        sample.save()
    return job


def members(pair: Pair) -> list[str]:
    ranked = RankedResponse.objects.filter(pair=pair).order_by("position")
    return [r.response.text for r in ranked.select_related("response")]


def test_it_makes_ranking_items_split_by_max_ranked_and_ignores_the_pairing(
    admin: Any, ranked: Project
) -> None:
    # given: six distinct texts for questions 0 and 1, one text for question 2
    job = finished_job(ranked, admin)
    # when
    assert run_job(job.pk) is False
    # then: 6 responses ranked 4 at a time make two overlapping items per prompt, not k=1 pair
    job.refresh_from_db()
    items = Pair.objects.filter(project=ranked).order_by("pk")
    assert (job.status, job.pairs_created, items.count()) == (GenerationStatus.SUCCEEDED, 4, 4)
    first, second = items[0], items[1]
    assert members(first) == [f"question 0 {n}" for n in ("a0", "a1", "b0", "b1")]
    assert members(second) == [f"question 0 {n}" for n in ("b0", "b1", "c0", "c1")]
    assert (first.response_a.text, first.response_b.text) == ("question 0 a0", "question 0 a1")
    # and: question 2's one text makes no item (as it would make no pair); the others' samples
    # point at their responses
    questions = {item.prompt.messages[-1]["content"] for item in items.select_related("prompt")}
    assert questions == {"question 0", "question 1"}
    assert set(ResponseSource.objects.values_list("model_name", flat=True)) == set(NAMES)
    unlinked = Sample.objects.filter(response__isnull=True).select_related("prompt")
    assert {s.prompt.messages[-1]["content"] for s in unlinked} == {"question 2"}


def test_ranking_the_same_samples_again_adds_nothing(admin: Any, ranked: Project) -> None:
    # given
    job = finished_job(ranked, admin)
    run_job(job.pk)
    # when
    with transaction.atomic():
        created = pair_samples(job)
    # then
    assert created == 0
    assert Pair.objects.filter(project=ranked).count() == 4


def test_a_later_job_whose_two_responses_already_make_an_item_pair_adds_nothing(
    admin: Any, ranked: Project
) -> None:
    # given: the first item of each prompt pairs endpoint a's two samples
    run_job(finished_job(ranked, admin).pk)
    again = start_generation(
        ranked,
        admin,
        endpoints=[ModelEndpoint.objects.get(name="a")],
        samples=2,
        on_workers=False,
    )
    # when: a job asking a alone reuses those two samples
    run_job(again.pk)
    # then
    again.refresh_from_db()
    assert (again.status, again.pairs_created) == (GenerationStatus.SUCCEEDED, 0)
    assert Pair.objects.filter(project=ranked).count() == 4
