"""Reward model quality and speed on ../shared/data, for `heads` and `finetune` modes.

    .venv/bin/python bench/rm_quality.py                 # autoj, pandalm, hh_rlhf_harmless
    .venv/bin/python bench/rm_quality.py --quick         # pandalm only, tiny finetune slice
    .venv/bin/python bench/rm_quality.py --sets all --device cuda

Each set's dev file is split in two halves by prompt (seed 0): train on one, evaluate on the
other (accuracy without ties, log-loss with ties as 0.5, ECE over 10 bins). `heads` uses the
whole halves; `finetune` a reduced slice (first --ft-pairs training pairs, first --ft-test test
pairs, --ft-max-length tokens, --ft-epochs), because a CPU fine-tune step is slow. Embeddings
go to the usual cache ($REWARDS_CACHE_DIR), so a second run measures warm retraining. Also
times a heads retrain on 10,000 cached pairs and heads scoring of cached responses.
"""

from __future__ import annotations

import argparse
import platform
import random
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.data import all_sets, set_file  # noqa: E402
from rewards.ml.backbone import embed_ahead, resolve_device  # noqa: E402
from rewards.ml.config import TrainConfig  # noqa: E402
from rewards.ml.data import PreferencePair, Prompt, read_pairs_jsonl, split_by_prompt  # noqa: E402
from rewards.ml.metrics import evaluate  # noqa: E402
from rewards.ml.score import load, score, score_pairs  # noqa: E402
from rewards.ml.train import pair_metrics, train  # noqa: E402

DEFAULT_SETS = ("autoj", "pandalm", "hh_rlhf_harmless")


def halves(name: str) -> tuple[list[PreferencePair], list[PreferencePair]]:
    """(train, test) halves of a set's dev file, split by prompt."""
    return split_by_prompt(read_pairs_jsonl(set_file(name)), 0.5, seed=0)


def longer_wins(pairs: list[PreferencePair]) -> float | None:
    """Accuracy of "the longer response (in characters) wins", ties excluded (None: all tie)."""
    p_a = [1.0 if len(p.a) > len(p.b) else 0.0 if len(p.a) < len(p.b) else 0.5 for p in pairs]
    return evaluate(p_a, [p.label for p in pairs])["accuracy"]


def items_of(pairs: list[PreferencePair]) -> list[tuple[Prompt, str]]:
    """Every (prompt, response) of the pairs."""
    return [(p.prompt, text) for p in pairs for text in (p.a, p.b)]


def pairs_per_second(n_train: int, details: dict[str, float]) -> float:
    """Pairs processed per second of the training loop (pairs x epochs run)."""
    epochs = details.get("epochs_run") or details["epochs_done"]
    return n_train * epochs / details["loop_seconds"]


def run_heads(name: str, device: str, out: Path) -> dict[str, object]:
    """Heads mode on the full halves: cold embedding, retrain, evaluation, scoring speed."""
    train_pairs, test_pairs = halves(name)
    started = time.monotonic()
    new = embed_ahead(items_of(train_pairs + test_pairs))
    embed_s = time.monotonic() - started
    result = train(TrainConfig(device=device), train_pairs, out, val_pairs=test_pairs)
    scorer = load(out, device=device)
    started = time.monotonic()
    score_pairs(scorer, test_pairs)
    score_s = time.monotonic() - started
    return {
        "set": name,
        "mode": "heads",
        "train/test": f"{len(train_pairs)}/{len(test_pairs)}",
        "longer wins": longer_wins(test_pairs),
        **result.metrics,
        "train pairs/s": pairs_per_second(len(train_pairs), result.details),
        "retrain s": result.seconds,
        "score pairs/s": len(test_pairs) / score_s,
        "note": f"{new} new responses embedded in {embed_s:.0f}s (with model load)",
    }


def run_finetune(name: str, args: argparse.Namespace, out: Path) -> dict[str, object]:
    """Finetune mode on the reduced slice."""
    train_pairs, test_pairs = halves(name)
    train_pairs, test_pairs = train_pairs[: args.ft_pairs], test_pairs[: args.ft_test]
    config = TrainConfig(
        mode="finetune",
        max_length=args.ft_max_length,
        epochs=args.ft_epochs,
        batch_size=args.ft_batch_size,
        val_fraction=0.0,
        device=args.device,
    )
    result = train(config, train_pairs, out, val_pairs=test_pairs)
    scorer = load(out, device=args.device)
    started = time.monotonic()
    metrics = pair_metrics(scorer, test_pairs)
    score_s = time.monotonic() - started
    return {
        "set": name,
        "mode": "finetune",
        "train/test": f"{len(train_pairs)}/{len(test_pairs)}",
        "longer wins": longer_wins(test_pairs),
        **metrics,
        "train pairs/s": pairs_per_second(len(train_pairs), result.details),
        "retrain s": result.seconds,
        "score pairs/s": len(test_pairs) / score_s,
        "note": f"L={args.ft_max_length}, {args.ft_epochs} epoch(s), bs={args.ft_batch_size}",
    }


def heads_at_scale(sets: list[str], device: str, out: Path, n: int = 10_000) -> dict[str, float]:
    """Retrain heads on n pairs drawn (with replacement) from the sets' cached pairs; score all."""
    pool = [p for name in sets for half in halves(name) for p in half]
    rng = random.Random(0)
    pairs = [rng.choice(pool) for _ in range(n)]
    result = train(TrainConfig(device=device), pairs, out)
    scorer = load(out, device=device)
    items = items_of(pool)
    score(scorer, items[:10])  # first call reads the cache shards from disk
    started = time.monotonic()
    score(scorer, items)
    return {
        "pairs": n,
        "retrain_s": result.seconds,
        "fit_loop_s": result.details["loop_seconds"],
        "epochs": result.details["epochs_run"],
        "responses": len(items),
        "score_responses_per_s": len(items) / (time.monotonic() - started),
    }


def print_table(rows: Sequence[Mapping[str, object]]) -> None:
    """Rows as a Markdown table."""
    columns = list(rows[0])
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        cells = [f"{v:.3f}" if isinstance(v, float) else str(v) for v in row.values()]
        print("| " + " | ".join(cells) + " |")


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", default=list(DEFAULT_SETS), help="or: all")
    parser.add_argument("--quick", action="store_true", help="pandalm only, tiny finetune slice")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--ft-pairs", type=int, default=128)
    parser.add_argument("--ft-test", type=int, default=128)
    parser.add_argument("--ft-max-length", type=int, default=128)
    parser.add_argument("--ft-epochs", type=int, default=1)
    parser.add_argument("--ft-batch-size", type=int, default=16)
    parser.add_argument("--skip-finetune", action="store_true")
    args = parser.parse_args()
    if args.sets == ["all"]:
        args.sets = all_sets()
    if args.quick:
        args.sets, args.ft_pairs, args.ft_test = ["pandalm"], 32, 32
    return args


def main() -> None:
    """Run every measurement and print the tables."""
    args = parse_args()
    device = str(resolve_device(args.device))
    print(f"# rm_quality on {platform.processor() or platform.machine()}, device {device}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.sets:
            rows.append(run_heads(name, device, Path(tmp) / f"{name}-heads"))
            if not args.skip_finetune:
                rows.append(run_finetune(name, args, Path(tmp) / f"{name}-ft"))
        scale = heads_at_scale(args.sets, device, Path(tmp) / "scale")
    print_table(rows)
    print()
    print_table([scale])
    print(f"\nreproduce: .venv/bin/python bench/rm_quality.py --sets {' '.join(args.sets)}")


if __name__ == "__main__":
    main()
