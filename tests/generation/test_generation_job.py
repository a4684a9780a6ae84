"""A generation job end to end: `transformers serve`, a fault server in front, real workers
that are killed mid-job, and the job finishing after a restart with every sample once."""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from annotate.importing.pipeline import import_file
from annotate.models import Pair, Project, ResponseSource
from generation.jobs import recover_generations, start_generation
from generation.models import GenerationJob, ModelEndpoint, Pairing, Sample
from tests.conftest import _wait_for, dedicated_worker, tasks_routed_to, together
from tests.factories import write_jsonl
from tests.generation.servers import FAULTS, FaultPlan, fault_server, transformers_server
from tests.generation.tiny_lm import build_tiny_causal_lm

QUEUE = "generation-test"
# 50 prompts, 2 endpoints, 2 samples: 200 samples, the first call of every fifth failing.
PROMPTS, SAMPLES = 50, 2
TOTAL = PROMPTS * 2 * SAMPLES
# A call gives up on a hung answer after TIMEOUT_S; the fault server hangs for longer.
TIMEOUT_S, HANG_S = 1.5, 2.0


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory: Any) -> str:
    return build_tiny_causal_lm(tmp_path_factory.mktemp("tiny-lm"))


def worker(tmp_path: Path, name: str) -> Any:
    return dedicated_worker(
        tmp_path,
        name,
        QUEUE,
        OUTBOUND_HOSTS="127.0.0.1",
        GENERATION_BACKOFF_SECONDS="0.1",
        # At least the fault server's Retry-After (1 s), which is then honoured, not refused.
        GENERATION_MAX_BACKOFF_SECONDS="1.5",
        GENERATION_TASK_SECONDS="3",
        # A killed worker's slot frees itself soon after the call's timeout.
        GENERATION_SLOT_MARGIN_SECONDS="1",
        # The new responses' embed-ahead goes to a queue no worker reads: not under test here.
        REWARDS_QUEUE="generation-test-unread",
    )


def first_call_of_every_fifth_sample_fails() -> FaultPlan:
    """The first request for every fifth sample fails, cycling through the faults; asked again
    (same body), it is answered. Keyed by the request, so it holds however the calls interleave."""
    seen: set[str] = set()
    lock = threading.Lock()

    def fail(call: int) -> str | None:
        key = json.dumps(plan.bodies[call - 1], sort_keys=True)
        with lock:
            if key in seen:
                return None
            seen.add(key)
            number = len(seen)
        return FAULTS[(number // 5) % len(FAULTS)] if number % 5 == 0 else None

    plan = FaultPlan(fail=fail, retry_after="1", hang_s=HANG_S)
    return plan


def job_state(job: GenerationJob) -> GenerationJob:
    return GenerationJob.objects.get(pk=job.pk)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_job_survives_faults_and_killed_workers_and_stores_each_sample_once(
    admin: Any, project: Project, tmp_path: Path, tiny_lm: str, settings: Any
) -> None:
    # given: 50 prompts imported in the prompts format, two endpoints behind a fault server
    # in front of `transformers serve`, and two workers (all three started at once)
    settings.GENERATION_STALE_SECONDS = 2
    rows = [{"prompt": f"tell me what a cat is {i}", "id": f"p{i}"} for i in range(PROMPTS)]
    summary = import_file(project, write_jsonl(tmp_path / "prompts.jsonl", rows))
    assert (summary.format, summary.prompts_created) == ("prompts", PROMPTS)
    plan = first_call_of_every_fifth_sample_fails()
    serve = transformers_server(tiny_lm, tmp_path / "serve.log")
    with (
        tasks_routed_to("generation.tasks.*", QUEUE),
        together(serve, worker(tmp_path, "doomed-1"), worker(tmp_path, "doomed-2")) as started,
        fault_server(plan, upstream=started[0]) as url,
    ):
        doomed = started[1:]
        endpoints = [
            ModelEndpoint.objects.create(
                project=project,
                name=name,
                base_url=f"{url}/{name}/v1",
                model=tiny_lm,
                # Two tokens: each costs the CPU server a generation step, and none is needed.
                params={"temperature": 1.0, "max_tokens": 2, "seed": seed},
                timeout_s=TIMEOUT_S,
                # No spacing of the calls (test_calls.py has its own test of the limit): 60 a
                # minute would stretch 250 calls over two minutes.
                requests_per_minute=100_000,
            )
            for name, seed in (("policy-a", 1), ("policy-b", 1000))
        ]
        job = start_generation(
            project, admin, endpoints=endpoints, samples=SAMPLES, pairing=Pairing.ALL
        )
        _wait_for(
            lambda: job_state(job).done >= TOTAL * 3 // 10,
            timeout=240,
            what=f"{TOTAL * 3 // 10} samples",
            log=tmp_path / "doomed-1.log",
        )
        # when: the workers are killed mid-job
        for process in doomed:
            process.send_signal(signal.SIGKILL)
            process.wait()
        assert job_state(job).status == "running"
        assert job_state(job).done < TOTAL
        # and new workers start; beat sends the stalled job's tasks again
        with together(worker(tmp_path, "fresh-1"), worker(tmp_path, "fresh-2")):
            deadline = time.monotonic() + 300
            while job_state(job).status == "running" and time.monotonic() < deadline:
                recover_generations()
                time.sleep(0.5)
    # then: every sample is stored, once, with its tokens, latency and finish reason
    job = job_state(job)
    assert job.status == "succeeded", (tmp_path / "fresh-1.log").read_text()[-3000:]
    samples = Sample.objects.filter(prompt__project=project)
    assert samples.count() == TOTAL == 200 == job.done
    assert set(samples.values_list("status", flat=True)) == {"done"}
    keys = set(samples.values_list("prompt_id", "endpoint_id", "index", "params_hash"))
    assert len(keys) == TOTAL
    assert not samples.filter(tokens_out__isnull=True).exists()
    assert not samples.filter(latency_ms__isnull=True).exists()
    assert set(samples.values_list("finish_reason", flat=True)) <= {"length", "stop"}
    # and a fifth of the samples' calls failed at first, of every kind, each asked again
    assert plan.faults == {fault: TOTAL // 5 // len(FAULTS) for fault in FAULTS}
    assert len({json.dumps(body, sort_keys=True) for body in plan.bodies}) == TOTAL
    # and the samples became responses named by their endpoint, paired and queued
    assert set(ResponseSource.objects.values_list("model_name", flat=True)) == {
        "policy-a",
        "policy-b",
    }
    pairs = Pair.objects.filter(project=project)
    assert pairs.count() == job.pairs_created > 0
    assert set(pairs.values_list("status", flat=True)) == {"pending"}
    assert set(pairs.values_list("external_id", flat=True)) <= {f"p{i}" for i in range(PROMPTS)}
