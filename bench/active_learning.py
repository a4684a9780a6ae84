"""Does active learning pay? Acquisition strategies against random, with a simulated annotator.

    nice -n 10 .venv/bin/python bench/active_learning.py \
        --json bench/results/active_learning.json --plot bench/results/active_learning.png

With no --data, every `../shared/data/*/dev.jsonl` is run as its own project (per set: a
project trains its own model, and MEASURED.md shows models pooled across unlike sets lose);
`--pool` runs the given files as one pooled project instead. Each set's pool is split by prompt
into pool and test unless --test is given. Training goes through `rewards.ml` exactly as the app
trains (heads mode by default, cached embeddings), so each set is embedded once (the first run
does it) and every round after that only fits the heads. `--through-app` drives the real product
instead (see bench/active_learning_app.py).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.active_learning_sim import T975, SimSettings, run_set  # noqa: E402
from bench.data import all_sets, set_file  # noqa: E402
from rewards.ml.acquisition import STRATEGIES  # noqa: E402
from rewards.ml.config import TrainConfig  # noqa: E402
from rewards.ml.data import PreferencePair, read_pairs_jsonl  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
# The app's default cache folder too (settings.REWARDS_CACHE_DIR), so both reuse one embedding.
DEFAULT_CACHE = ROOT / "var" / "embeddings"
# See random_rises: random's curve counts as rising when it reaches its final accuracy this late.
RISING_SHARE = 0.8
# --quick: a slice of each set, three rounds, two seeds; 83 s for all seven sets on the 2-core CPU
# once embeddings are cached.
QUICK = {"rounds": 3, "seeds": 2, "slice": 240}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", nargs="+", type=Path, help="pool JSONL file(s); default all")
    parser.add_argument("--test", type=Path, help="test JSONL (only with a single --data file)")
    parser.add_argument("--pool", action="store_true", help="pool all --data files as one set")
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--seed-labels", type=int, default=50)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--mode", choices=["heads", "finetune"], default="heads")
    parser.add_argument("--noise", type=float, default=0.0, help="share of answers flipped")
    parser.add_argument("--explore", type=float, default=0.0, help="random share of each batch")
    parser.add_argument(
        "--spread", action="store_true", help="at most one pair per prompt in a batch (not random)"
    )
    parser.add_argument("--members", type=int, default=TrainConfig.members)
    parser.add_argument("--test-fraction", type=float, default=0.3)
    parser.add_argument("--max-share", type=float, default=0.6, help="last budget / pool size")
    parser.add_argument("--slice", type=int, default=0, help="first N pairs of each set (0: all)")
    parser.add_argument("--backbone", help="backbone path; default the packaged MiniLM")
    parser.add_argument("--cache-dir", default=os.environ.get("REWARDS_CACHE_DIR"))
    parser.add_argument("--quick", action="store_true", help=f"overrides: {QUICK}")
    parser.add_argument("--through-app", action="store_true", help="drive the real product")
    parser.add_argument("--compare", type=Path, help="--through-app: library JSON to overlay")
    parser.add_argument("--tables-from", type=Path, help="print the tables of a saved JSON, exit")
    parser.add_argument("--json", type=Path, help="write results here")
    parser.add_argument("--plot", type=Path, help="write learning curves (PNG) here")
    args = parser.parse_args(argv)
    if args.quick:
        for key, value in QUICK.items():
            setattr(args, key, value)
    if args.test is not None and args.data is not None and len(args.data) > 1 and not args.pool:
        parser.error("--test needs a single --data file (or --pool)")
    unknown = set(args.strategies.split(",")) - set(STRATEGIES)
    if unknown:
        parser.error(f"unknown strategies {sorted(unknown)}; choose from {STRATEGIES}")
    return args


def set_name(path: Path) -> str:
    """`pandalm` for .../pandalm/dev.jsonl, else the file's stem."""
    return path.parent.name if path.stem in ("dev", "pool", "train") else path.stem


def load_sets(args: argparse.Namespace) -> dict[str, list[PreferencePair]]:
    """Named pair lists: one per file, or one pooled list."""
    paths = args.data or [set_file(name) for name in all_sets()]
    sets = {set_name(p): read_pairs_jsonl(p) for p in paths}
    if args.slice:
        sets = {name: pairs[: args.slice] for name, pairs in sets.items()}
    if args.pool:
        return {"pooled": [pair for pairs in sets.values() for pair in pairs]}
    return sets


def settings_from(args: argparse.Namespace) -> SimSettings:
    """The simulation settings, with the app's own TrainConfig defaults for the model."""
    train = TrainConfig(
        mode=args.mode,
        backbone=args.backbone,
        members=args.members,
        cache_dir=str(args.cache_dir or DEFAULT_CACHE),
    )
    return SimSettings(
        strategies=tuple(args.strategies.split(",")),
        seed_labels=args.seed_labels,
        batch=args.batch,
        rounds=args.rounds,
        seeds=args.seeds,
        noise=args.noise,
        explore=args.explore,
        spread=args.spread,
        test_fraction=args.test_fraction,
        max_share=args.max_share,
        train=train,
    )


def warm_cache(sets: dict[str, list[PreferencePair]], train: TrainConfig) -> float:
    """Embed every response once (a no-op when cached); returns the seconds it took."""
    from rewards.ml.backbone import embed_ahead

    started = time.monotonic()
    for name, pairs in sets.items():
        items = [(p.prompt, text) for p in pairs for text in (p.a, p.b)]
        new = embed_ahead(
            items, backbone=train.backbone, max_length=train.max_length, cache_dir=train.cache_dir
        )
        print(f"{name}: {len(items)} responses, {new} newly embedded")
    return time.monotonic() - started


def format_table(name: str, result: dict) -> str:
    """Markdown: accuracy mean [95% interval] per budget and strategy, then label efficiency."""
    strategies = result["strategies"]
    budgets = next(iter(strategies.values()))["budgets"]
    lines = [
        f"### {name}",
        "",
        "| labels | " + " | ".join(strategies) + " |",
        "|---|" + "---|" * len(strategies),
    ]
    for i, budget in enumerate(budgets):
        cells = []
        for entry in strategies.values():
            lo, hi = entry["accuracy_ci"][i]
            cells.append(f"{100 * entry['accuracy_mean'][i]:.1f} [{100 * lo:.1f}, {100 * hi:.1f}]")
        lines.append(f"| {budget} | " + " | ".join(cells) + " |")
    lines.append(
        "| labels to reach random's final | "
        + " | ".join(
            "-" if e["labels_to_random_final"] is None else f"{e['labels_to_random_final']:.0f}"
            for e in strategies.values()
        )
        + " |"
    )
    lines.append(
        "| gain over random, points [95%] | "
        + " | ".join(gain_cell(e.get("gain_vs_random")) for e in strategies.values())
        + " |"
    )
    lines.append(
        "| member agreement on the pool (median abs(mean)/std) | "
        + " | ".join(
            "-" if e.get("member_agreement") is None else f"{e['member_agreement']:.1f}"
            for e in strategies.values()
        )
        + " |"
    )
    lines.append(
        "| label efficiency | "
        + " | ".join(
            "-" if e["label_efficiency"] is None else f"{100 * e['label_efficiency']:.0f}%"
            for e in strategies.values()
        )
        + " |"
    )
    if "ceiling" in result:
        mean, lo, hi = result["ceiling"]["accuracy"]
        lines.append(
            f"\nAll {result['ceiling']['pool_labels']} pool labels (ceiling): "
            f"{100 * mean:.1f} [{100 * lo:.1f}, {100 * hi:.1f}]"
        )
    return "\n".join(lines)


def gain_cell(gain: dict | None) -> str:
    """`+1.2 [-0.3, 2.7]` for a paired gain, `-` for random itself."""
    if not gain or gain["points"] is None:
        return "-"
    lo, hi = gain["ci"]
    return f"{gain['points']:+.1f} [{lo:+.1f}, {hi:+.1f}]"


def mean_efficiency(results: dict[str, dict]) -> dict[str, dict]:
    """Per strategy: label efficiency averaged over sets, counting a miss as 100% (and how many),
    and the paired gain over random averaged over sets with its 95% interval."""
    names = next(iter(results.values()))["strategies"]
    summary = {}
    for name in names:
        if name == "random":
            continue
        values = [r["strategies"][name]["label_efficiency"] for r in results.values()]
        reached = [v for v in values if v is not None]
        # A set where the strategy never reaches random's final accuracy counts as 100%: it needed
        # at least all of random's labels. That flatters it, never the other way.
        summary[name] = {
            "mean_label_efficiency": round(
                sum(v if v is not None else 1.0 for v in values) / len(values), 3
            ),
            "sets_reached": f"{len(reached)}/{len(values)}",
        }
        rising = [v for v, r in zip(values, results.values(), strict=True) if random_rises(r)]
        if rising:
            summary[name]["mean_label_efficiency_where_random_rises"] = round(
                sum(v if v is not None else 1.0 for v in rising) / len(rising), 3
            )
            summary[name]["sets_where_random_rises"] = len(rising)
        gains = [r["strategies"][name].get("gain_vs_random") for r in results.values()]
        if all(g and g["points"] is not None for g in gains):
            seeds = next(iter(results.values()))["config"]["seeds"]
            summary[name]["mean_gain_points"] = mean_of_gains(gains, seeds=seeds)
    return summary


def random_rises(result: dict) -> bool:
    """True when random first reaches its final accuracy in the last fifth of its budget.

    Otherwise random's curve is flat (or peaked early) and "labels to reach random's final" is
    met at the seed labels by every strategy, which measures noise, not savings.
    """
    entry = result["strategies"].get("random")
    if entry is None or entry["labels_to_random_final"] is None:
        return False
    return entry["labels_to_random_final"] >= RISING_SHARE * entry["budgets"][-1]


def mean_of_gains(gains: list[dict], *, seeds: int) -> list[float]:
    """[mean, lo, hi] of per-set paired gains; sets are independent, so their variances add.

    Each set's interval is a t interval over `seeds` seeds: its SE is the half-width over t.
    """
    t = T975.get(seeds - 1, 1.96)
    mean = sum(g["points"] for g in gains) / len(gains)
    se = math.sqrt(sum(((g["ci"][1] - g["ci"][0]) / 2 / t) ** 2 for g in gains)) / len(gains)
    return [round(mean, 2), round(mean - 1.96 * se, 2), round(mean + 1.96 * se, 2)]


def print_tables(saved: dict) -> None:
    """Markdown tables of a saved result, one per set, then the mean over sets."""
    results = saved.get("sets") or {saved["config"].get("data", "result"): saved}
    for name, result in results.items():
        print(format_table(name, result) + "\n")
    if "sets" in saved:
        print("mean over sets:", json.dumps(mean_efficiency(saved["sets"])))


def plot(results: dict[str, dict], path: Path) -> None:
    """One panel per set: mean accuracy per budget with the 95% interval as a band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = min(len(results), 4)
    rows = -(-len(results) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False)
    for ax, (name, result) in zip(axes.flat, results.items(), strict=False):
        for strategy, entry in result["strategies"].items():
            acc = [100 * m for m in entry["accuracy_mean"]]
            lo, hi = zip(*[(100 * a, 100 * b) for a, b in entry["accuracy_ci"]], strict=True)
            ax.plot(entry["budgets"], acc, marker="o", ms=3, label=strategy)
            ax.fill_between(entry["budgets"], lo, hi, alpha=0.15)
        if "ceiling" in result:
            ceiling = 100 * result["ceiling"]["accuracy"][0]
            ax.axhline(ceiling, ls="--", color="gray", lw=1, label="all pool labels")
        ax.set_title(name)
        ax.set_xlabel("labels")
        ax.set_ylabel("test accuracy (%)")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(results) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_json(path: Path, results: dict[str, dict], meta: dict) -> None:
    """The results schema ({config, strategies}) for one set; with several, per set under "sets"."""
    if len(results) == 1:
        payload = {**next(iter(results.values()))}
        payload["config"] = {**payload["config"], **meta}
    else:
        payload = {"config": meta, "sets": results, "mean_over_sets": mean_efficiency(results)}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=1) + "\n")


def run_library(args: argparse.Namespace) -> dict[str, dict]:
    """The simulation on every set; prints tables as they finish."""
    settings = settings_from(args)
    sets = load_sets(args)
    test = read_pairs_jsonl(args.test) if args.test else None
    to_embed = {**sets, "test": test} if test else sets
    embed_seconds = warm_cache(to_embed, settings.train)
    print(f"embedding (cache fill) took {embed_seconds:.1f} s")
    results = {}
    for name, pairs in sets.items():
        started = time.monotonic()
        print(f"{name}: {len(pairs)} pairs")
        results[name] = run_set(pairs, test, settings)
        results[name]["config"]["seconds"] = round(time.monotonic() - started, 1)
        results[name]["config"]["data"] = name
        print(format_table(name, results[name]), flush=True)
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.tables_from:
        print_tables(json.loads(args.tables_from.read_text()))
        return 0
    if args.through_app:
        from bench.active_learning_app import run_through_app

        return run_through_app(args)
    started = time.monotonic()
    results = run_library(args)
    meta = {
        "command": " ".join(["bench/active_learning.py", *(argv or sys.argv[1:])]),
        "quick": args.quick,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "total_seconds": round(time.monotonic() - started, 1),
    }
    if len(results) > 1:
        print("mean label efficiency over sets:", json.dumps(mean_efficiency(results)))
    print(f"total {meta['total_seconds']} s")
    if args.json:
        write_json(args.json, results, meta)
    if args.plot:
        plot(results, args.plot)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
