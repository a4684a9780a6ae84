"""A worker killed mid-run: the run ends failed within seconds and the project trains again."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest

from annotate.models import Project
from rewards.models import RewardModel, TrainingRun
from tests.conftest import (
    _wait_for,
    client_for,
    dedicated_worker,
    rewards_routed_to,
    wait_until,
)
from tests.factories import make_pairs

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
QUEUE = "run-recovery-test"


def worker(tmp_path: Path, backbone: str, name: str) -> Any:
    return dedicated_worker(
        tmp_path,
        name,
        QUEUE,
        REWARDS_BACKBONE=backbone,
        REWARDS_CACHE_DIR=str(tmp_path / "embeddings"),
        REWARDS_RUN_HEARTBEAT_SECONDS="1",
    )


def _retrain(admin: Any, project: Project, **options: Any) -> Any:
    return client_for(admin).post(f"/api/projects/{project.slug}/retrain", options, format="json")


def test_a_run_whose_worker_is_killed_fails_within_seconds_and_a_new_one_starts(
    admin: Any, project: Project, tmp_path: Path, tiny_backbone: str, settings: Any
) -> None:
    # given: a long run on a worker of its own
    settings.REWARDS_STALE_RUN_SECONDS = 5
    make_pairs(project, tmp_path, 60)
    with rewards_routed_to(QUEUE):
        with worker(tmp_path, tiny_backbone, "doomed") as doomed:
            first = _retrain(admin, project, members=32, epochs=1000)
            assert first.status_code == 202
            run_id = first.json()["id"]
            _wait_for(
                lambda: TrainingRun.objects.get(pk=run_id).status != "queued",
                timeout=120,
                what="the run to start",
                log=tmp_path / "doomed.log",
            )
            assert TrainingRun.objects.get(pk=run_id).status == "running"
            # when: the worker dies mid-run
            doomed.send_signal(signal.SIGKILL)
            doomed.wait()
        # then: within seconds the run is failed and a retrain request starts a new one
        wait_until(lambda: _retrain(admin, project).status_code == 202, timeout=120, what="new")
        dead = TrainingRun.objects.get(pk=run_id)
        assert dead.status == "failed"
        assert "stopped beating" in dead.error
        assert not RewardModel.objects.exists()  # nothing was served in between
        new_run = TrainingRun.objects.exclude(pk=run_id).get()
        with worker(tmp_path, tiny_backbone, "fresh"):
            wait_until(
                lambda: TrainingRun.objects.get(pk=new_run.pk).status == "succeeded",
                timeout=180,
                what="the new run",
            )
    assert RewardModel.objects.get().is_active
