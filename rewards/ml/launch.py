"""Training in child processes: a job folder in, a checkpoint and result.json out.

`python -m rewards.ml.launch JOB` is what every process runs; `command` starts N of them
through torchrun (DDP through accelerate: NCCL on GPUs, gloo on CPU) or one plain process.
Progress goes to JOB/progress.jsonl as one JSON object per line, so a supervisor can follow,
cancel (kill the process group) and report failures without sharing memory with the run.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rewards.ml.config import TrainConfig
from rewards.ml.data import PreferencePair

CONFIG, PAIRS, VAL, METADATA = "config.json", "pairs.jsonl", "val.jsonl", "metadata.json"
PROGRESS, RESULT, OUT = "progress.jsonl", "result.json", "model"


def pair_record(pair: PreferencePair) -> dict[str, Any]:
    """A pair as a line of the JSONL pairs format (`read_pairs_jsonl` reads it back)."""
    return {
        "prompt": pair.prompt,
        "response_a": pair.a,
        "response_b": pair.b,
        "label": pair.label,
        "weight": pair.weight,
        "strength": pair.strength,
        "id": pair.id,
    }


def write_pairs(path: Path, pairs: Sequence[PreferencePair]) -> None:
    """Write pairs as JSONL."""
    with open(path, "w", encoding="utf-8") as handle:
        for pair in pairs:
            handle.write(json.dumps(pair_record(pair), ensure_ascii=False) + "\n")


def write_job(
    job: Path,
    config: TrainConfig,
    pairs: Sequence[PreferencePair],
    *,
    val_pairs: Sequence[PreferencePair] | None = None,
    metadata: dict[str, Any] | None = None,
) -> Path:
    """Lay out a job folder for `command`; returns it."""
    job.mkdir(parents=True, exist_ok=True)
    (job / CONFIG).write_text(json.dumps(config.to_dict()), encoding="utf-8")
    write_pairs(job / PAIRS, pairs)
    if val_pairs is not None:
        write_pairs(job / VAL, val_pairs)
    (job / METADATA).write_text(json.dumps(metadata or {}), encoding="utf-8")
    return job


def processes_for(config: TrainConfig) -> int:
    """config.gpus, else every visible GPU, else 1."""
    if config.gpus is not None:
        return config.gpus
    import torch

    return max(torch.cuda.device_count(), 1) if config.device != "cpu" else 1


def command(job: Path, processes: int) -> list[str]:
    """The argv that trains `job` with `processes` processes (torchrun when more than one)."""
    if processes <= 1:
        return [sys.executable, "-m", "rewards.ml.launch", str(job)]
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={processes}",
        "-m",
        "rewards.ml.launch",
        str(job),
    ]


def read_progress(job: Path, seen: int = 0) -> list[dict[str, Any]]:
    """Progress lines after the first `seen` (a half-written last line is left for later)."""
    path = job / PROGRESS
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").split("\n")[:-1]
    return [json.loads(line) for line in lines[seen:]]


def read_result(job: Path) -> dict[str, Any]:
    """What the main process wrote when it finished; ValueError when it did not."""
    try:
        result: dict[str, Any] = json.loads((job / RESULT).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError) as exc:
        raise ValueError(f"training in {job} left no result") from exc
    return result


def run_job(job: Path) -> int:
    """Train the job in this process (one rank of several under torchrun)."""
    from rewards.ml.data import read_pairs_jsonl
    from rewards.ml.train import train

    config = TrainConfig.from_dict(json.loads((job / CONFIG).read_text(encoding="utf-8")))
    val = read_pairs_jsonl(job / VAL) if (job / VAL).exists() else None
    main = int(os.environ.get("RANK", "0")) == 0

    def progress(fraction: float, loss: float, eta_s: float | None) -> None:
        line = json.dumps({"fraction": fraction, "loss": loss, "eta_s": eta_s})
        with open(job / PROGRESS, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")

    result = train(
        config,
        read_pairs_jsonl(job / PAIRS),
        job / OUT,
        progress=progress if main else None,
        val_pairs=val,
        metadata=json.loads((job / METADATA).read_text(encoding="utf-8")),
    )
    if main:
        summary = {
            "out_dir": str(result.out_dir),
            "metrics": result.metrics,
            "seconds": result.seconds,
            "n_pairs": result.n_pairs,
            "details": result.details,
            "meta": result.meta,
            "baseline": result.baseline,
        }
        text = json.dumps(summary, default=float)
        (job / f".{RESULT}.tmp").write_text(text, encoding="utf-8")
        os.replace(job / f".{RESULT}.tmp", job / RESULT)
    _leave_group()
    return 0


def _leave_group() -> None:
    """Leave the process group, together, before exiting: a gloo group left to the exit's own
    teardown can abort a rank ("terminate called without an active exception")."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def result_object(job: Path) -> Any:
    """The job's result as a TrainResult."""
    from rewards.ml.train import TrainResult

    values = read_result(job)
    fields = {f.name for f in dataclasses.fields(TrainResult)}
    values["out_dir"] = Path(values["out_dir"])
    return TrainResult(**{k: v for k, v in values.items() if k in fields})


if __name__ == "__main__":
    sys.exit(run_job(Path(sys.argv[1])))
