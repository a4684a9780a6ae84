"""Command line: `python -m rewards.ml train|eval|score|export-merged`, JSONL files, no database."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from tqdm import tqdm

    from rewards.ml.backbone import Progress


def tqdm_progress(desc: str) -> tuple[Progress, tqdm[NoReturn]]:
    """A progress callback drawing a tqdm bar on stderr (stdout stays machine-readable)."""
    from tqdm import tqdm

    bar = tqdm(total=100, desc=desc, unit="%", file=sys.stderr, bar_format="{l_bar}{bar}{postfix}")

    def update(fraction: float, loss: float, eta_s: float | None) -> None:
        bar.n = round(100 * fraction, 1)
        eta = f"{eta_s:.0f}s" if eta_s is not None else "?"
        bar.set_postfix_str(f"loss={loss:.4f} eta={eta}", refresh=False)
        bar.update(0)  # redraws at most every `mininterval`, not on every epoch

    return update, bar


def cmd_train(args: argparse.Namespace) -> int:
    """Train a model from a JSONL file and write its checkpoint folder."""
    from rewards.ml.config import TrainConfig
    from rewards.ml.data import read_pairs_jsonl
    from rewards.ml.launch import processes_for
    from rewards.ml.train import train

    config = TrainConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)})
    val = read_pairs_jsonl(args.val) if args.val else None
    # No --gpus: every visible GPU (one process without one), as the option's help says.
    if config.mode == "finetune" and processes_for(config) > 1:
        result = train_processes(config, read_pairs_jsonl(args.data), Path(args.out), val)
    else:
        update, bar = tqdm_progress(f"train {args.mode}")
        result = train(
            config, read_pairs_jsonl(args.data), args.out, progress=update, val_pairs=val
        )
        bar.close()
    summary = {
        "out": str(result.out_dir),
        "seconds": round(result.seconds, 2),
        **result.metrics,
        "baseline": result.baseline,
    }
    print(json.dumps(summary))
    return 0


def train_processes(config: Any, pairs: Any, out: Path, val: Any) -> Any:
    """Train with one DDP process per GPU (torchrun); the checkpoint lands in `out`."""
    import shutil
    import subprocess
    import tempfile

    from rewards.ml.launch import OUT, command, processes_for, result_object, write_job

    with tempfile.TemporaryDirectory(prefix="rewards-train-") as tmp:
        job = write_job(Path(tmp), config, pairs, val_pairs=val)
        subprocess.run(command(job, processes_for(config)), check=True)
        result = result_object(job)
        shutil.copytree(job / OUT, out, dirs_exist_ok=True)
    result.out_dir = out
    return result


def cmd_export(args: argparse.Namespace) -> int:
    """Fold a LoRA checkpoint's adapter into a plain backbone folder beside the same heads."""
    from rewards.ml.checkpoint import export_merged

    folder = export_merged(args.model, args.out)
    print(json.dumps({"out": str(folder), "backbone": str(folder / "backbone")}))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    """Print held-out metrics as one JSON object on the last line."""
    from rewards.ml.data import read_pairs_jsonl
    from rewards.ml.score import load
    from rewards.ml.train import pair_metrics

    scorer = load(args.model, cache_dir=args.cache_dir, device=args.device)
    print(json.dumps(pair_metrics(scorer, read_pairs_jsonl(args.data))))
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    """Write {"id", "p_a", "std", "priority"} per pair for the chosen acquisition strategy."""
    from rewards.ml.acquisition import p_a_from_members, priorities
    from rewards.ml.data import read_pairs_jsonl
    from rewards.ml.score import load, score_pairs

    pairs = read_pairs_jsonl(args.data, labelled=False)  # scoring needs no labels
    scorer = load(args.model, cache_dir=args.cache_dir, device=args.device)
    scores_a, scores_b = score_pairs(scorer, pairs)
    p_members = p_a_from_members(scores_a, scores_b)
    ranks = priorities(args.acquisition, scores_a, scores_b, explore=args.explore, seed=args.seed)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as handle:
        for i, pair in enumerate(pairs):
            row = {
                "id": pair.id if pair.id is not None else i,
                "p_a": float(p_members[i].mean()),
                "std": float(p_members[i].std()),
                "priority": float(ranks[i]),
            }
            handle.write(json.dumps(row) + "\n")
    print(json.dumps({"out": args.out, "n": len(pairs), "acquisition": args.acquisition}))
    return 0


# Command-line types of TrainConfig's field annotations (a field may also be `X | None`).
_FIELD_TYPES: dict[str, Callable[[str], object]] = {"str": str, "int": int, "float": float}


def add_config_options(parser: argparse.ArgumentParser) -> None:
    """One option per TrainConfig field, with its default and help (`--max-length` ...)."""
    from rewards.ml.config import MODES, SHARDINGS, TrainConfig

    common = {"cache_dir", "device"}  # every subcommand takes these (add_common)
    for f in dataclasses.fields(TrainConfig):
        if f.name in common:
            continue
        flag = "--" + f.name.replace("_", "-")
        kind = str(f.type).removesuffix(" | None")
        options: dict[str, Any] = {"default": f.default, "help": f.metadata.get("help")}
        if kind == "bool":
            options["action"] = argparse.BooleanOptionalAction
        else:
            options["type"] = _FIELD_TYPES[kind]
        if f.name == "mode":
            options["choices"] = MODES
        if f.name == "sharding":
            options["choices"] = SHARDINGS
        parser.add_argument(flag, **options)


def add_common(parser: argparse.ArgumentParser) -> None:
    """Options every subcommand takes."""
    parser.add_argument("--cache-dir", default=None, help="embedding cache (heads mode)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for all three subcommands."""
    from rewards.ml.acquisition import STRATEGIES

    parser = argparse.ArgumentParser(prog="python -m rewards.ml", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train a reward model")
    train.add_argument("--data", required=True, help="training pairs (JSONL)")
    train.add_argument("--out", required=True, help="checkpoint folder to write")
    train.add_argument("--val", default=None, help="held-out pairs for the reported metrics")
    add_config_options(train)
    evaluate = sub.add_parser("eval", help="print accuracy, log_loss, ece, n as JSON")
    evaluate.add_argument("--model", required=True)
    evaluate.add_argument("--data", required=True)
    score = sub.add_parser("score", help="write p_a, std and priority per pair")
    score.add_argument("--model", required=True)
    score.add_argument("--data", required=True)
    score.add_argument("--out", required=True)
    score.add_argument("--acquisition", choices=STRATEGIES, default="disagreement")
    score.add_argument("--explore", type=float, default=0.0, help="share of random picks")
    score.add_argument("--seed", type=int, default=0)
    export = sub.add_parser("export-merged", help="write a LoRA model as a plain merged model")
    export.add_argument("--model", required=True, help="a LoRA checkpoint folder")
    export.add_argument("--out", required=True, help="folder for the merged checkpoint")
    for command in (train, evaluate, score):
        add_common(command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments and run one subcommand."""
    from rewards.ml.data import DataError

    args = build_parser().parse_args(argv)
    commands = {
        "train": cmd_train,
        "eval": cmd_eval,
        "score": cmd_score,
        "export-merged": cmd_export,
    }
    try:
        return commands[args.command](args)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
