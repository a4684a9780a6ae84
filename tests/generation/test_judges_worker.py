"""A judge run on a real Celery worker that is killed mid-run: a new worker finishes it, and
no question is asked twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from annotate.models import Project
from generation.judges import make_judge, recover_judge_runs, start_judge_run
from generation.judges_models import JudgeDecision, JudgeRun, JudgeVerdict
from generation.models import ModelEndpoint
from tests import conftest
from tests.conftest import _database_url, _wait_for, tasks_routed_to
from tests.factories import make_pairs
from tests.generation import test_judges
from tests.generation.test_judges import judge_server, prefers_longer

QUEUE = "judges-test"
PAIRS = 12


def slow_longer(first: str, second: str) -> str:
    time.sleep(0.25)
    return prefers_longer(first, second)


@contextmanager
def judge_worker(tmp_path: Path, name: str) -> Iterator[subprocess.Popen[bytes]]:
    """A worker of its own on QUEUE that also loads the judges' tasks (`--include`)."""
    log = tmp_path / f"{name}.log"
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "OUTBOUND_HOSTS": "127.0.0.1",
        "GENERATION_TASK_SECONDS": "1",
        # The slot a killed worker held mid-call frees itself after timeout_s plus this margin.
        "GENERATION_SLOT_MARGIN_SECONDS": "1",
    }
    argv = [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo"]
    argv += ["-n", f"{name}@%h", "--queues", QUEUE, "--without-gossip"]
    argv += ["--include", "generation.judge_tasks", "--loglevel", "INFO"]
    with log.open("w") as out:
        process = subprocess.Popen(
            argv, cwd=conftest.ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        _wait_for(lambda: "ready." in log.read_text(), timeout=120, what=name, log=log)
        yield process
    finally:
        process.kill()
        process.wait()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_judge_run_survives_a_killed_worker_and_asks_each_question_once(
    project: Project, tmp_path: Path, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given pairs, and a judge behind a server that takes a quarter second a verdict
    settings.OUTBOUND_HOSTS = ["127.0.0.1"]
    monkeypatch.setitem(test_judges.JUDGES, "slow", slow_longer)
    make_pairs(project, tmp_path, PAIRS, labelled=False)
    with judge_server() as (url, seen), tasks_routed_to("generation.judge_tasks.*", QUEUE):
        # With concurrency 1, the fresh worker waits for the slot the killed worker held
        # mid-call: timeout_s plus the workers' GENERATION_SLOT_MARGIN_SECONDS.
        endpoint = ModelEndpoint.objects.create(
            project=project,
            name="slow",
            base_url=f"{url}/slow/v1",
            model="judge",
            concurrency=1,
            timeout_s=3.0,
        )
        judge = make_judge(endpoint)
        with judge_worker(tmp_path, "doomed") as doomed:
            run = start_judge_run(judge, None)
            _wait_for(
                lambda: JudgeDecision.objects.filter(judge=judge).count() >= 3,
                timeout=120,
                what="3 decisions",
                log=tmp_path / "doomed.log",
            )
            # when the worker is killed mid-run
            doomed.send_signal(signal.SIGKILL)
            doomed.wait()
        assert JudgeRun.objects.get(pk=run.pk).status == "running"
        assert JudgeDecision.objects.filter(judge=judge).count() < PAIRS
        # and a new worker starts; recovery sends the stalled run's task again
        with judge_worker(tmp_path, "fresh"):
            deadline = time.monotonic() + 120
            while JudgeRun.objects.get(pk=run.pk).status == "running":
                assert time.monotonic() < deadline, (tmp_path / "fresh.log").read_text()[-3000:]
                recover_judge_runs(stale_after=timedelta(seconds=2))
                time.sleep(1)
    # then every pair is decided once, as a vote, each question stored once
    assert JudgeRun.objects.get(pk=run.pk).status == "succeeded"
    decisions = JudgeDecision.objects.filter(judge=judge)
    assert decisions.count() == PAIRS
    assert set(decisions.values_list("outcome", "choice")) == {("vote", "b")}
    assert JudgeVerdict.objects.filter(judge=judge).count() == 2 * PAIRS
    # (at most the one question in flight when the worker died was asked again)
    assert 2 * PAIRS <= len(seen) <= 2 * PAIRS + 1
