"""A generation job end to end: `transformers serve`, a fault server in front, a real worker
that is killed once mid-job, and the job finishing after a restart with every sample once."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from annotate.importing.pipeline import import_file
from annotate.models import Pair, Project, ResponseSource
from generation.jobs import recover_generations, start_generation
from generation.models import GenerationJob, ModelEndpoint, Pairing, Sample
from tests.conftest import _wait_for, dedicated_worker, tasks_routed_to
from tests.factories import write_jsonl
from tests.generation.servers import FAULTS, FaultPlan, fault_server, transformers_server
from tests.generation.tiny_lm import build_tiny_causal_lm

QUEUE = "generation-test"
# 20 prompts, 2 samples, 2 endpoints: 80 samples, 16 of the calls failing at first (each of
# the four faults several times), enough for the kill to land mid-job.
PROMPTS, SAMPLES = 20, 2
TOTAL = PROMPTS * 2 * SAMPLES


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory: Any) -> str:
    return build_tiny_causal_lm(tmp_path_factory.mktemp("tiny-lm"))


@pytest.fixture(scope="module")
def model_server(tiny_lm: str, tmp_path_factory: Any) -> Iterator[str]:
    with transformers_server(tiny_lm, tmp_path_factory.mktemp("serve") / "serve.log") as url:
        yield url


def worker(tmp_path: Path, name: str) -> Any:
    return dedicated_worker(
        tmp_path,
        name,
        QUEUE,
        OUTBOUND_HOSTS="127.0.0.1",
        GENERATION_BACKOFF_SECONDS="0.1",
        GENERATION_MAX_BACKOFF_SECONDS="2",
        GENERATION_TASK_SECONDS="3",
        # The new responses' embed-ahead goes to a queue no worker reads: not under test here.
        REWARDS_QUEUE="generation-test-unread",
    )


def every_fifth_call_fails(call: int) -> str | None:
    """Calls 5, 10, 15... fail, cycling through the faults; the retry after each succeeds."""
    return FAULTS[(call // 5) % len(FAULTS)] if call % 5 == 0 else None


def job_state(job: GenerationJob) -> GenerationJob:
    return GenerationJob.objects.get(pk=job.pk)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_job_survives_faults_and_a_killed_worker_and_stores_each_sample_once(
    admin: Any, project: Project, tmp_path: Path, model_server: str, tiny_lm: str, settings: Any
) -> None:
    # given: 20 prompts imported in the prompts format, two endpoints behind a fault server
    settings.GENERATION_STALE_SECONDS = 2
    rows = [{"prompt": f"tell me what a cat is {i}", "id": f"p{i}"} for i in range(PROMPTS)]
    summary = import_file(project, write_jsonl(tmp_path / "prompts.jsonl", rows))
    assert (summary.format, summary.prompts_created) == ("prompts", PROMPTS)
    plan = FaultPlan(fail=every_fifth_call_fails, retry_after="1", hang_s=3.0)
    with fault_server(plan, upstream=model_server) as url:
        endpoints = [
            ModelEndpoint.objects.create(
                project=project,
                name=name,
                base_url=f"{url}/{name}/v1",
                model=tiny_lm,
                params={"temperature": 1.0, "max_tokens": 6, "seed": seed},
                timeout_s=2.0,
            )
            for name, seed in (("policy-a", 1), ("policy-b", 1000))
        ]
        with tasks_routed_to("generation.tasks.*", QUEUE):
            with worker(tmp_path, "doomed") as doomed:
                job = start_generation(
                    project, admin, endpoints=endpoints, samples=SAMPLES, pairing=Pairing.ALL
                )
                _wait_for(
                    lambda: job_state(job).done >= TOTAL * 3 // 10,
                    timeout=240,
                    what=f"{TOTAL * 3 // 10} samples",
                    log=tmp_path / "doomed.log",
                )
                # when: the worker is killed mid-job
                doomed.send_signal(signal.SIGKILL)
                doomed.wait()
            assert job_state(job).status == "running"
            assert job_state(job).done < TOTAL
            # and a new worker starts; beat sends the stalled job's tasks again
            with worker(tmp_path, "fresh"):
                deadline = time.monotonic() + 300
                while job_state(job).status == "running" and time.monotonic() < deadline:
                    recover_generations()
                    time.sleep(1)
    # then: every sample is stored, once, with its tokens, latency and finish reason
    job = job_state(job)
    assert job.status == "succeeded", (tmp_path / "fresh.log").read_text()[-3000:]
    samples = Sample.objects.filter(prompt__project=project)
    assert samples.count() == TOTAL == 80 == job.done
    assert set(samples.values_list("status", flat=True)) == {"done"}
    keys = set(samples.values_list("prompt_id", "endpoint_id", "index", "params_hash"))
    assert len(keys) == TOTAL
    assert not samples.filter(tokens_out__isnull=True).exists()
    assert not samples.filter(latency_ms__isnull=True).exists()
    assert set(samples.values_list("finish_reason", flat=True)) <= {"length", "stop"}
    # and a fifth of the calls failed at first, of every kind
    assert set(plan.faults) == set(FAULTS)
    assert sum(plan.faults.values()) >= TOTAL // 5
    # and the samples became responses named by their endpoint, paired and queued
    assert set(ResponseSource.objects.values_list("model_name", flat=True)) == {
        "policy-a",
        "policy-b",
    }
    pairs = Pair.objects.filter(project=project)
    assert pairs.count() == job.pairs_created > 0
    assert set(pairs.values_list("status", flat=True)) == {"pending"}
    assert set(pairs.values_list("external_id", flat=True)) <= {f"p{i}" for i in range(PROMPTS)}
