"""A job's life run in this process: failures per prompt, resume, cancel, pairing rules, and
samples never stored twice across jobs."""

from __future__ import annotations

import functools
import io
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

import rewards.triggers
from annotate.importing.pipeline import import_file
from annotate.models import Pair, Project, ResponseSource
from generation.jobs import (
    cancel_generation,
    failures,
    resume_generation,
    run_job,
    start_generation,
)
from generation.models import GenerationJob, ModelEndpoint, Pairing, Sample
from generation.tasks import run_generation_task
from tests.factories import write_jsonl
from tests.generation.servers import FaultPlan, fault_server

PROMPTS = 4


@pytest.fixture(autouse=True)
def _fast(settings: Any) -> None:
    settings.OUTBOUND_HOSTS = ["127.0.0.1"]
    settings.GENERATION_BACKOFF_SECONDS = 0.01
    settings.GENERATION_MAX_BACKOFF_SECONDS = 1
    settings.GENERATION_MAX_ATTEMPTS = 2


@pytest.fixture
def prompts(project: Project, tmp_path: Path) -> None:
    rows = [{"prompt": f"question {i}", "id": f"q{i}"} for i in range(PROMPTS)]
    import_file(project, write_jsonl(tmp_path / "prompts.jsonl", rows))


def endpoints(project: Project, url: str, names: tuple[str, ...] = ("a", "b")) -> list[Any]:
    return [
        ModelEndpoint.objects.create(
            project=project,
            name=name,
            base_url=f"{url}/{name}/v1",
            model="m",
            params={"seed": 100 * i},
            timeout_s=2,
        )
        for i, name in enumerate(names)
    ]


def run_to_end(job: GenerationJob) -> GenerationJob:
    while run_job(job.pk):
        pass
    job.refresh_from_db()
    return job


@pytest.mark.django_db
def test_failed_samples_are_listed_per_prompt_and_a_resume_retries_only_them(
    admin: Any, project: Project, prompts: None
) -> None:
    # given: a server that refuses every question 2 at first
    broken = {"on": True}

    def fail(call: int) -> str | None:
        body = plan.bodies[call - 1]
        return "500" if broken["on"] and "question 2" in str(body["messages"]) else None

    plan = FaultPlan(fail=fail)
    with fault_server(plan) as url:
        job = start_generation(project, admin, endpoints=endpoints(project, url), samples=2)
        # when
        job = run_to_end(job)
        # then: the job ends with its failures named by prompt and endpoint
        assert (job.status, job.done, job.failed) == ("succeeded", 12, 4)
        listed = failures(job)
        assert {(f["endpoint"], f["index"]) for f in listed} == {
            ("a", 0),
            ("a", 1),
            ("b", 0),
            ("b", 1),
        }
        assert all("server" in f["error"] and "500" in f["error"] for f in listed)
        calls_before = plan.calls
        # when: the server is fixed and the job resumed
        broken["on"] = False
        resume_generation(job)
        job = run_to_end(job)
    # then: only the four failed samples were asked again
    assert (job.status, job.done, job.failed) == ("succeeded", 16, 0)
    assert plan.calls - calls_before == 4
    assert Sample.objects.count() == 16


@pytest.mark.django_db
def test_a_cancelled_job_stops_and_resumes_where_it_stopped(
    admin: Any, project: Project, prompts: None, settings: Any
) -> None:
    plan = FaultPlan()
    with fault_server(plan) as url:
        job = start_generation(project, admin, endpoints=endpoints(project, url), samples=1)
        # when: it is cancelled before a worker takes it
        cancel_generation(job)
        # then: a worker's task does nothing
        assert run_job(job.pk) is False and plan.calls == 0
        assert GenerationJob.objects.get(pk=job.pk).status == "cancelled"
        # when: resumed
        resume_generation(job)
        job = run_to_end(job)
    assert (job.status, job.done) == ("succeeded", 8)
    assert plan.calls == 8


@pytest.mark.django_db
def test_a_second_job_with_the_same_parameters_stores_nothing_twice(
    admin: Any, project: Project, prompts: None
) -> None:
    plan = FaultPlan()
    with fault_server(plan) as url:
        chosen = endpoints(project, url)
        run_to_end(start_generation(project, admin, endpoints=chosen, samples=2))
        # when: the same job again, then one that asks for one more sample each
        again = run_to_end(start_generation(project, admin, endpoints=chosen, samples=2))
        more = run_to_end(start_generation(project, admin, endpoints=chosen, samples=3))
        # and one with other parameters
        hotter = start_generation(
            project, admin, endpoints=chosen, samples=1, params={"temperature": 1.5}
        )
        hotter = run_to_end(hotter)
    # then
    assert again.done == 16 and more.done == 24 and hotter.done == 8
    assert plan.calls == 16 + 8 + 8
    assert Sample.objects.count() == 32
    assert plan.bodies[-1]["temperature"] == 1.5


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("pairing", "k", "pairs_per_prompt"),
    [(Pairing.ALL, 1, 15), (Pairing.REFERENCE, 1, 8), (Pairing.RANDOM, 3, 3)],
)
def test_samples_become_responses_named_by_endpoint_paired_by_the_rule(
    admin: Any, project: Project, prompts: None, pairing: str, k: int, pairs_per_prompt: int
) -> None:
    # given: three endpoints, two samples each: six distinct texts per prompt
    plan = FaultPlan()
    with fault_server(plan) as url:
        chosen = endpoints(project, url, ("a", "b", "ref"))
        job = start_generation(
            project,
            admin,
            endpoints=chosen,
            samples=2,
            pairing=pairing,
            reference=chosen[2],
            pairs_per_prompt=k,
        )
        # when
        job = run_to_end(job)
    # then: all pairs 6*5/2; each of 4 others against 2 references; or k at random
    pairs = Pair.objects.filter(project=project)
    assert job.pairs_created == pairs.count() == PROMPTS * pairs_per_prompt
    assert set(ResponseSource.objects.values_list("model_name", flat=True)) == {"a", "b", "ref"}
    if pairing == Pairing.REFERENCE:
        for pair in pairs.select_related("response_a", "response_b"):
            names = {pair.response_a.model_name, pair.response_b.model_name}
            assert "ref" in names and len(names) == 2
    assert set(pairs.values_list("external_id", flat=True)) == {f"q{i}" for i in range(PROMPTS)}
    # and each sample points at its response (a random pairing writes only the paired ones)
    linked = Sample.objects.filter(response__isnull=False).count()
    assert 0 < linked <= 24 if pairing == Pairing.RANDOM else linked == 24


def tasks_sent(callbacks: list[Any]) -> int:
    """How many of the on-commit callbacks send a generation task (`delay_on_commit`)."""
    return sum(
        1 for c in callbacks if isinstance(c, functools.partial) and run_generation_task in c.args
    )


@pytest.mark.django_db
def test_the_generate_command_queues_a_job_and_names_unknown_endpoints(
    project: Project, prompts: None, django_capture_on_commit_callbacks: Any
) -> None:
    ModelEndpoint.objects.create(project=project, name="a", base_url="http://x/v1", model="m")
    with pytest.raises(CommandError, match="no endpoint named nope"):
        call_command("generate", "proj", "--endpoints", "a,nope", "--samples", "2")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        call_command("generate", "proj", "--endpoints", "a", "--samples", "3", stdout=io.StringIO())
    job = GenerationJob.objects.get()
    assert (job.samples_per_prompt, job.status) == (3, "queued")
    assert tasks_sent(callbacks) >= 1


@pytest.mark.django_db
def test_generate_wait_runs_the_job_here_and_sends_no_task(
    project: Project, prompts: None, django_capture_on_commit_callbacks: Any
) -> None:
    # given
    plan = FaultPlan()
    out = io.StringIO()
    with fault_server(plan) as url:
        endpoints(project, url)
        # when
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            call_command(
                "generate", "proj", "--endpoints", "a,b", "--samples", "2", "--wait", stdout=out
            )
    # then: the command stored every sample itself, and no worker was sent the job
    job = GenerationJob.objects.get()
    assert (job.status, job.done, job.total, job.failed) == ("succeeded", 16, 16, 0)
    assert plan.calls == 16 and Sample.objects.count() == 16
    assert job.pairs_created == Pair.objects.count() > 0
    assert f"job {job.pk} succeeded: 16 of 16 samples stored, 0 failed" in out.getvalue()
    assert tasks_sent(callbacks) == 0


@pytest.mark.django_db
def test_generate_wait_reports_the_samples_that_failed(project: Project, prompts: None) -> None:
    # given: no prompt can be asked for (the endpoint is outside OUTBOUND_HOSTS)
    ModelEndpoint.objects.create(project=project, name="a", base_url="http://x/v1", model="m")
    out = io.StringIO()
    # when / then: every sample fails, the job still ends, and the command says so
    call_command("generate", "proj", "--endpoints", "a", "--samples", "1", "--wait", stdout=out)
    job = GenerationJob.objects.get()
    assert (job.status, job.done, job.failed) == ("succeeded", 0, PROMPTS)
    assert f"{PROMPTS} failed, 0 pairs made" in out.getvalue()


@pytest.mark.django_db
def test_a_finished_job_announces_its_new_responses_on_commit(
    admin: Any,
    project: Project,
    prompts: None,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    # given: the model side's embed-ahead, recorded instead of queued
    embedded: list[int] = []
    monkeypatch.setattr(rewards.triggers, "start_embedding", lambda p: embedded.append(p.pk))
    with fault_server(FaultPlan()) as url:
        chosen = endpoints(project, url)
        job = start_generation(project, admin, endpoints=chosen, samples=2, on_workers=False)
        # when the job ends, inside a transaction that has not committed yet
        with django_capture_on_commit_callbacks(execute=True):
            job = run_to_end(job)
            # then: nothing is announced before the commit
            assert job.status == "succeeded" and job.pairs_created > 0
            assert embedded == []
    # and once it commits, the new responses are embedded ahead, once
    assert embedded == [project.pk]
