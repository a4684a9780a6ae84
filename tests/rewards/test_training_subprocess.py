"""Fine-tuning runs in a supervised child process: progress, speed, failures, the served model."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from annotate.models import Project
from rewards.models import RewardModel, TrainingRun
from rewards.worker import services
from rewards.worker.services import score_missing_responses, train_reward_model
from tests.factories import make_pairs
from tests.rewards.conftest import train_version

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory: Any) -> str:
    from rewards.ml.testing import build_tiny_llama

    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


def finetune_run(project: Project, backbone: str, **options: Any) -> TrainingRun:
    values = {"backbone": backbone, "members": 2, "epochs": 1, "max_length": 32, "lora_rank": 4}
    return TrainingRun.objects.create(
        project=project, status="running", mode="finetune", options={**values, **options}
    )


def kill_child_once_training(model_dir: Path, stop: threading.Event) -> None:
    """SIGKILL the training process as soon as it reports progress (no database access)."""
    while not stop.is_set():
        for progress in model_dir.glob("training-*/job/progress.jsonl"):
            pid = int((progress.parent / "pid").read_text())
            os.kill(pid, signal.SIGKILL)
            return
        time.sleep(0.05)


def test_a_lora_run_trains_in_a_child_process_and_records_its_speed(
    rewards_dirs: Path, project: Project, tiny_llama: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given judged pairs
    make_pairs(project, rewards_dirs, 30)

    # when a LoRA fine-tune runs through the worker
    run = finetune_run(project, tiny_llama)
    train_reward_model(run.pk)

    # then it succeeded, keeps only the adapter, and the version carries its throughput
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    assert run.model is not None
    model = run.model
    speed = model.metrics["throughput"]
    assert speed["pairs_per_s"] > 0 and speed["tokens_per_s"] > 0
    assert speed["processes"] == 1 and speed["mfu"] is None  # CPU: no peak to compare with
    assert model.config["lora_rank"] == 4
    # and the worker loads the adapter checkpoint to score, in one process or split over two
    model.scores.all().delete()
    assert score_missing_responses(model) > 0
    one = dict(model.scores.values_list("response_id", "mean"))
    model.scores.all().delete()
    monkeypatch.setattr(services, "scoring_devices", lambda model: ["cpu", "cpu"])
    assert score_missing_responses(model) == len(one)
    two = dict(model.scores.values_list("response_id", "mean"))
    assert two.keys() == one.keys()
    # (equal up to float32 rounding: the two devices batch the responses differently)
    assert all(abs(two[k] - one[k]) < 1e-5 for k in one)


def test_a_killed_training_process_fails_the_run_and_the_served_model_keeps_serving(
    rewards_dirs: Path, project: Project, tiny_llama: str
) -> None:
    # given a served heads version
    served = train_version(project, rewards_dirs)

    # when a long fine-tune's process is killed while it trains
    run = finetune_run(project, tiny_llama, epochs=200)
    stop = threading.Event()
    killer = threading.Thread(
        target=kill_child_once_training, args=(rewards_dirs / "models", stop), daemon=True
    )
    killer.start()
    try:
        train_reward_model(run.pk)
    finally:
        stop.set()
        killer.join()

    # then the run failed saying how, no version was added, and the served one still scores
    run.refresh_from_db()
    assert run.status == "failed"
    assert "killed by signal 9" in run.error and "served model is unchanged" in run.error
    assert RewardModel.objects.served(project.pk) == served
    assert RewardModel.objects.filter(project=project).count() == 1
    served.scores.all().delete()
    assert score_missing_responses(served) > 0
    # and the temporary training folder is gone
    assert not list((rewards_dirs / "models").glob("training-*"))


def test_a_run_ended_elsewhere_stops_its_training_process(
    rewards_dirs: Path, project: Project, tiny_llama: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a fine-tune that a stale-run check fails while it trains
    make_pairs(project, rewards_dirs, 30)
    run = finetune_run(project, tiny_llama, epochs=200)
    from rewards.worker import launch

    real_progress = launch.read_progress
    fractions: list[float] = []

    def fail_run_on_progress(job: Path, seen: int = 0) -> list[dict[str, Any]]:
        lines = real_progress(job, seen)
        fractions.extend(line["fraction"] for line in lines)
        if lines:
            TrainingRun.objects.filter(pk=run.pk).update(status="failed", error="stale")
        return lines

    monkeypatch.setattr(launch, "read_progress", fail_run_on_progress)

    # when the worker follows it
    train_reward_model(run.pk)

    # then it stopped the process early in its 200 epochs, and the run keeps its first error
    assert fractions and max(fractions) < 0.5
    run.refresh_from_db()
    assert run.status == "failed" and run.error == "stale"
    assert not RewardModel.objects.filter(project=project).exists()


def test_the_worker_trains_with_rewards_gpus_processes_unless_the_run_says(settings: Any) -> None:
    from rewards.ml.config import TrainConfig
    from rewards.worker.launch import worker_processes

    # given a worker set to three processes
    settings.REWARDS_GPUS = 3

    # then a run without `gpus` uses three, a run with it its own number
    assert worker_processes(TrainConfig(mode="finetune")) == 3
    assert worker_processes(TrainConfig(mode="finetune", gpus=2)) == 2
    # and unset, a CPU run uses one process
    settings.REWARDS_GPUS = None
    assert worker_processes(TrainConfig(mode="finetune", device="cpu")) == 1


def test_a_killed_two_process_run_fails_and_the_served_model_keeps_serving(
    rewards_dirs: Path,
    project: Project,
    tiny_llama: str,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given a served version, and a worker set to two (gloo) processes on this CPU
    served = train_version(project, rewards_dirs)
    settings.REWARDS_GPUS = 2
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")

    # when a long fine-tune's launcher is killed once the two processes train
    run = finetune_run(project, tiny_llama, epochs=200)
    stop = threading.Event()
    killer = threading.Thread(
        target=kill_child_once_training, args=(rewards_dirs / "models", stop), daemon=True
    )
    killer.start()
    try:
        train_reward_model(run.pk)
    finally:
        stop.set()
        killer.join()

    # then the run failed naming both processes and the kill, and nothing new is served
    run.refresh_from_db()
    assert run.status == "failed"
    assert "(2 processes) killed by signal 9" in run.error, run.error
    assert "served model is unchanged" in run.error
    assert RewardModel.objects.served(project.pk) == served
    assert RewardModel.objects.filter(project=project).count() == 1
    assert not list((rewards_dirs / "models").glob("training-*"))
