"""Each shared set's verdict against response length, through the training CLI.

    .venv/bin/python bench/length_verdicts.py            # every ../shared/data/*/dev.jsonl

Per set: the dev file is split 50/50 by prompt (seed 0) into var/length_verdicts/<set>/, then
`python -m rewards.ml train --data train.jsonl --val test.jsonl` (CLI defaults, heads mode)
trains a version and prints its baseline; this script collects one table row per set.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rewards.ml.data import split_by_prompt  # noqa: E402

SHARED_DATA = ROOT.parent / "shared" / "data"
WORK = ROOT / "var" / "length_verdicts"


def write_split(source: Path, folder: Path) -> tuple[Path, Path]:
    """train.jsonl / test.jsonl: the dev file's lines split by prompt, seed 0."""
    from rewards.ml.data import pair_from_record

    records = [json.loads(line) for line in source.read_text().splitlines() if line.strip()]
    pairs = [pair_from_record(r) for r in records]
    by_pair = {id(p): r for p, r in zip(pairs, records, strict=True)}
    halves = split_by_prompt(pairs, 0.5, seed=0)
    folder.mkdir(parents=True, exist_ok=True)
    paths = (folder / "train.jsonl", folder / "test.jsonl")
    for path, half in zip(paths, halves, strict=True):
        path.write_text("".join(json.dumps(by_pair[id(p)]) + "\n" for p in half))
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="*", help="set names; default every shared set")
    parser.add_argument("--cache-dir", default=str(ROOT / "var" / "embeddings"))
    args = parser.parse_args()
    names = args.sets or sorted(p.parent.name for p in SHARED_DATA.glob("*/dev.jsonl"))
    print(
        "| set | train pairs / test decided | model accuracy | length only | difference [95%] | "
        "rewards vs length r | verdict |"
    )
    print("|---|---|---|---|---|---|---|")
    for name in names:
        train, test = write_split(SHARED_DATA / name / "dev.jsonl", WORK / name)
        command = [
            sys.executable,
            "-m",
            "rewards.ml",
            "train",
            "--data",
            str(train),
            "--val",
            str(test),
            "--out",
            str(WORK / name / "model"),
            "--cache-dir",
            args.cache_dir,
        ]
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
        summary = json.loads(done.stdout.strip().splitlines()[-1])
        b = summary["baseline"]
        low, high = b["interval"]
        n_train = len(train.read_text().splitlines())
        print(
            f"| {name} | {n_train} / {b['n']} | {summary['accuracy']:.3f} | "
            f"{b['length_accuracy']:.3f} | {b['accuracy_difference']:+.1f} "
            f"[{low:+.1f}, {high:+.1f}] | {b['length_correlation']} | {b['verdict']} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
