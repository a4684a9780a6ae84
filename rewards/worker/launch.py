"""Fine-tuning in a supervised child process group (one process, or DDP over GPUs).

The worker stays the run's owner: its heartbeat thread keeps beating, this loop forwards the
child's progress to the run, kills the group within POLL_SECONDS when the run stops being live
(cancelled by an admin, failed as stale, or ended by someone else), and turns a crash, an
out-of-memory kill or a signal into an error the run records. The served model is never
touched from here.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings

from rewards.ml.config import TrainConfig
from rewards.ml.launch import command, processes_for, read_progress, result_object, write_job
from rewards.models import TrainingRun
from rewards.runs import RunNoLongerLive
from rewards.worker.snapshot import Snapshot

ROOT = Path(__file__).resolve().parents[2]
# Seconds between looks at the child's progress file and the run's status: a cancelled run's
# processes (and the GPUs they hold) are stopped this soon.
POLL_SECONDS = 0.5
# Lines of the child's log kept in the run's error.
LOG_TAIL_LINES = 15
PID_FILE = "pid"


class TrainingProcessFailed(Exception):
    """The training process exited with an error, or was killed."""


def worker_processes(config: TrainConfig) -> int:
    """Processes for a run: its `gpus` option, else REWARDS_GPUS, else every visible GPU (or 1)."""
    if config.gpus is not None:
        return config.gpus
    if settings.REWARDS_GPUS is not None:
        return int(settings.REWARDS_GPUS)
    return processes_for(config)


def train_supervised(
    run_id: int,
    config: TrainConfig,
    snapshot: Snapshot,
    workdir: Path,
    *,
    progress: Callable[[float, float, float | None], None],
    metadata: dict[str, Any],
) -> Any:
    """Train in child processes; returns the TrainResult with its checkpoint under workdir."""
    job = write_job(
        workdir / "job", config, snapshot.train, val_pairs=snapshot.validation, metadata=metadata
    )
    processes = worker_processes(config)
    with open(job / "log.txt", "wb") as log:
        child = subprocess.Popen(
            command(job, processes),
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: one kill stops every rank
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    (job / PID_FILE).write_text(str(child.pid), encoding="utf-8")
    try:
        follow(run_id, child, job, progress)
    finally:
        stop(child)
    if child.returncode != 0:
        raise TrainingProcessFailed(describe_exit(child.returncode, job, processes))
    return result_object(job)


def follow(
    run_id: int,
    child: subprocess.Popen[bytes],
    job: Path,
    progress: Callable[[float, float, float | None], None],
) -> None:
    """Forward progress until the child exits; stop it if the run is no longer running."""
    seen = 0
    while True:
        exited = child.poll() is not None
        lines = read_progress(job, seen)
        seen += len(lines)
        if lines:
            last = lines[-1]
            progress(last["fraction"], last["loss"], last["eta_s"])
        if exited:
            return
        if not TrainingRun.objects.filter(pk=run_id, status=TrainingRun.Status.RUNNING).exists():
            raise RunNoLongerLive(f"run {run_id} was ended while training; process stopped")
        time.sleep(POLL_SECONDS)


def stop(child: subprocess.Popen[bytes]) -> None:
    """Kill the child's process group if it still runs, and reap it."""
    if child.poll() is None:
        # It may exit between the poll and the kill.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
    child.wait()


def describe_exit(code: int, job: Path, processes: int) -> str:
    """What the run's error says: how the process ended and the end of its log."""
    how = f"killed by signal {-code}" if code < 0 else f"exited with status {code}"
    log = (job / "log.txt").read_text(encoding="utf-8", errors="replace").strip().splitlines()
    tail = "\n".join(log[-LOG_TAIL_LINES:])
    ranks = f" ({processes} processes)" if processes > 1 else ""
    return f"the training process{ranks} {how}; the served model is unchanged.\n{tail}"
