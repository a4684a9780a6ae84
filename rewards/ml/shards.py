"""Scoring split over devices: one child process per device, each with its share of batches.

`python -m rewards.ml.shards JOB MODEL DEVICE SHARD SHARDS` is what each child runs. The
items are sorted by length and cut into the batches one process would score, and shard i
takes every SHARDS-th batch from the i-th, so each batch pads exactly as it would in one
process and the rewards match one process's. Children are plain subprocesses (not
multiprocessing), so a Celery prefork worker, whose pool processes may not fork children of
their own through multiprocessing, can start them too.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rewards.ml.backbone import Item
from rewards.ml.score import ScoreResult, forward_rewards, length_batches, load, score

ITEMS = "items.jsonl"
# Seconds between looks at the shards.
POLL_SECONDS = 0.1
# Lines of a failed shard's log kept in the error.
LOG_TAIL_LINES = 15


class ShardFailed(Exception):
    """A scoring child process exited with an error."""


def score_on_devices(
    model_dir: str | Path, items: Sequence[Item], devices: Sequence[str]
) -> ScoreResult:
    """Score a fine-tuned checkpoint's rewards for `items`, split over `devices`.

    One device (or none) scores in this process. Heads checkpoints also score here: their
    embedding cache is written by one process at a time.
    """
    scorer = None
    if len(devices) <= 1 or not items:
        scorer = load(model_dir, device=devices[0] if devices else "auto")
    elif load_mode(model_dir) != "finetune":
        scorer = load(model_dir)
    if scorer is not None:
        return score(scorer, items)
    with tempfile.TemporaryDirectory(prefix="rewards-score-") as tmp:
        job = Path(tmp)
        with open(job / ITEMS, "w", encoding="utf-8") as handle:
            for prompt, response in items:
                handle.write(json.dumps([prompt, response], ensure_ascii=False) + "\n")
        children = [
            _start(job, model_dir, device, i, len(devices)) for i, device in enumerate(devices)
        ]
        _wait_all(job, children)
        per_member = np.concatenate([np.load(job / f"scores-{i}.npy") for i in range(len(devices))])
        index = np.concatenate([np.load(job / f"index-{i}.npy") for i in range(len(devices))])
    out = np.empty_like(per_member)
    out[index] = per_member
    return ScoreResult(out.mean(1), out.std(1), out)


def _wait_all(job: Path, children: list[subprocess.Popen[bytes]]) -> None:
    """Wait for every shard; the first to fail stops the others and raises."""
    while True:
        codes = [child.poll() for child in children]
        failed = next((i for i, code in enumerate(codes) if code not in (None, 0)), None)
        if failed is not None:
            for child in children:
                child.kill()
                child.wait()
            raise ShardFailed(_describe(job, failed, children[failed].returncode))
        if all(code == 0 for code in codes):
            return
        time.sleep(POLL_SECONDS)


def load_mode(model_dir: str | Path) -> str:
    """The checkpoint's mode (heads or finetune) from its metadata alone."""
    from rewards.ml.checkpoint import read_metadata

    return str(read_metadata(Path(model_dir))["mode"])


def _start(
    job: Path, model_dir: str | Path, device: str, shard: int, shards: int
) -> subprocess.Popen[bytes]:
    argv = [
        sys.executable,
        "-m",
        "rewards.ml.shards",
        str(job),
        str(model_dir),
        device,
        str(shard),
        str(shards),
    ]
    with open(job / f"log-{shard}.txt", "wb") as log:
        return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)


def _describe(job: Path, shard: int, code: int) -> str:
    how = f"killed by signal {-code}" if code < 0 else f"exited with status {code}"
    log = (job / f"log-{shard}.txt").read_text(encoding="utf-8", errors="replace").splitlines()
    tail = "\n".join(log[-LOG_TAIL_LINES:])
    return f"scoring shard {shard} {how}\n{tail}"


def run_shard(job: Path, model_dir: str, device: str, shard: int, shards: int) -> int:
    """Score this shard's batches and write their rewards and item indices."""
    import torch

    scorer = load(model_dir, device=device)
    scorer.heads.eval()
    scorer.backbone.model.eval()
    with open(job / ITEMS, encoding="utf-8") as handle:
        items = [tuple(json.loads(line)) for line in handle]
    encoded = [scorer.backbone.formatter.encode(prompt, text) for prompt, text in items]
    mine = length_batches([len(ids) for ids, _ in encoded])[shard::shards]
    index = [i for batch in mine for i in batch]
    rewards = np.zeros((len(index), scorer.members), dtype=np.float32)
    done = 0
    with torch.no_grad():
        for batch in mine:
            got = forward_rewards(scorer, [encoded[i] for i in batch])
            rewards[done : done + len(batch)] = got.float().cpu().numpy()
            done += len(batch)
    np.save(job / f"scores-{shard}.npy", rewards)
    np.save(job / f"index-{shard}.npy", np.array(index, dtype=np.int64))
    return 0


if __name__ == "__main__":
    job_arg, model_arg, device_arg, shard_arg, shards_arg = sys.argv[1:6]
    sys.exit(run_shard(Path(job_arg), model_arg, device_arg, int(shard_arg), int(shards_arg)))
