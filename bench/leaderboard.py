"""The model leaderboard on PandaLM's dev set, and its cost at 100,000 votes over 20 models.

    .venv/bin/python bench/leaderboard.py [--data ../shared/data/pandalm/dev.jsonl]
        [--votes 100000] [--models 20] [--rounds 500] [--repeat 3] [--through-db]

1. Imports the data file through the product's import code into a fresh project (its `label`
   becomes one imported judgement per pair) and prints the leaderboard with and without length
   control, as the page shows it.
2. Times `fit_leaderboard` (the fit and the bootstrap) on synthetic votes: `--models` models
   with spread-out strengths, 10% ties, 5% both-bad, and a length effect. `--through-db` also
   imports that many pairs and times the whole request path (query, fit, win rates), first
   with a cold cache, then cached.
The project is deleted afterwards unless --keep.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.django_setup import ROOT, setup  # noqa: E402

if TYPE_CHECKING:  # Django is set up in main(), after this module's imports
    from annotate.leaderboard.board import Board

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "pandalm" / "dev.jsonl"


def print_board(title: str, board: Board) -> None:
    print(f"\n{title}: {board.votes} votes, {board.bootstrap_rounds} bootstrap rounds")
    print(
        f"{'rank':>4}  {'model':<20} {'rating':>7}  {'95% interval':>15}  {'votes':>5}  "
        f"{'length':>6}  W/L/T/BB"
    )
    for m in board.models:
        low, high = m.interval
        counts = f"{m.wins}/{m.losses}/{m.ties}/{m.both_bad}"
        plain = m.without_length_control
        extra = f"   (plain {plain.rating:.1f}, rank {plain.rank})" if plain else ""
        print(
            f"{m.rank:>4}  {m.model:<20} {m.rating:>7.1f}  {low:>7.1f}-{high:<7.1f}"
            f"  {m.votes:>5}  {m.mean_length:>6.0f}  {counts}{extra}"
        )
    if coefficient := board.length_coefficient:
        low, high = coefficient.interval
        print(
            f"length coefficient: {coefficient.elo_per_doubling:+.1f} Elo per doubling "
            f"of length (95% {low:+.1f} to {high:+.1f})"
        )


def synthetic_rows(n: int, models: int, seed: int) -> list[tuple[str, str, str, int, int]]:
    """(choice, model a, model b, length a, length b) rows from a known Bradley-Terry model."""
    rng = np.random.default_rng(seed)
    strength = np.linspace(-2.0, 2.0, models)
    first = rng.integers(0, models, n)
    second = (first + rng.integers(1, models, n)) % models
    lengths = np.exp(rng.normal(6.0, 0.6, (n, 2))).astype(int) + 1
    ratio = np.log(lengths[:, 0] / lengths[:, 1])
    p_first = 1 / (1 + np.exp(-(strength[first] - strength[second] + 0.3 * ratio)))
    u = rng.random(n)
    choice = np.where(
        u < 0.10, "tie", np.where(u < 0.15, "both_bad", np.where(rng.random(n) < p_first, "a", "b"))
    )
    names = [f"model-{k:02d}" for k in range(models)]
    return [
        (str(c), names[i], names[j], int(la), int(lb))
        for c, i, j, (la, lb) in zip(choice, first, second, lengths, strict=True)
    ]


def time_fit(rows: list, *, rounds: int, repeat: int) -> dict[str, list[float]]:
    from annotate.leaderboard.bradley_terry import build_votes, fit_leaderboard

    votes = build_votes(rows)
    times: dict[str, list[float]] = {"plain": [], "length control": []}
    for _ in range(repeat):
        for name, length_control in (("plain", False), ("length control", True)):
            start = time.perf_counter()
            fit_leaderboard(votes, length_control=length_control, rounds=rounds)
            times[name].append(time.perf_counter() - start)
    return times


def time_through_db(rows: list, *, rounds: int) -> dict[str, float]:
    """Import the synthetic votes as pairs and time the request path with a cold cache."""
    from django.core.cache import cache

    from annotate.importing.pipeline import import_file
    from annotate.leaderboard.board import project_leaderboard
    from annotate.projects.lifecycle import create_project

    project = create_project(slug=f"bench-lb-db-{int(time.time())}")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "votes.jsonl"
            with path.open("w") as out:
                for k, (choice, a, b, la, lb) in enumerate(rows):
                    row = {
                        "prompt": f"synthetic prompt {k}",
                        "response_a": "a" * la,
                        "response_b": "b" * lb,
                        "model_a": a,
                        "model_b": b,
                        # The pairs format has no "both bad" label; it counts as a tie anyway.
                        "label": choice if choice != "both_bad" else "tie",
                    }
                    out.write(json.dumps(row) + "\n")
            import_file(project, path)
        timings = {}
        cache.clear()
        for name, length_control in (("plain", False), ("length control", True)):
            for state in ("cold cache", "cached"):
                start = time.perf_counter()
                project_leaderboard(project, length_control=length_control, rounds=rounds)
                timings[f"{name}, {state}"] = time.perf_counter() - start
        return timings
    finally:
        project.delete()


def three_votes_boards(data: Path, *, keep: bool) -> None:
    """The same pairs, with each annotator's vote (`meta.votes`) imported as a rater's vote."""
    from annotate.importing.pipeline import import_file
    from annotate.leaderboard.board import project_leaderboard
    from annotate.projects.lifecycle import create_project

    project = create_project(slug=f"bench-leaderboard-votes-{int(time.time())}")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            votes = Path(tmp) / "votes.jsonl"
            with data.open() as rows, votes.open("w") as out:
                seen: set[tuple[str, frozenset[str]]] = set()
                for line in rows:
                    if not line.strip():
                        continue
                    row = json.loads(line)
                    # A pair listed twice keeps its first votes (one vote per rater and pair).
                    key = (row["prompt"], frozenset((row["response_a"], row["response_b"])))
                    if key in seen:
                        continue
                    seen.add(key)
                    pair = {k: row[k] for k in ("prompt", "response_a", "response_b")}
                    pair |= {"model_a": row["model_a"], "model_b": row["model_b"]}
                    for k, choice in enumerate(row["meta"]["votes"], start=1):
                        vote = {**pair, "annotator": f"pandalm-{k}", "choice": choice}
                        out.write(json.dumps(vote) + "\n")
            summary = import_file(project, votes)
        print(f"\nimported every annotator's vote: {summary.describe()}")
        for length_control in (False, True):
            title = "three votes per pair, " + ("with" if length_control else "without")
            print_board(
                f"{title} length control",
                project_leaderboard(project, length_control=length_control),
            )
    finally:
        if not keep:
            project.delete()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--votes", type=int, default=100_000)
    parser.add_argument("--models", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--through-db", action="store_true")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    if not args.data.exists():
        sys.exit(
            f"{args.data} is missing: this benchmark reads PandaLM's dev set from the shared "
            "data folder next to the repository (or pass --data PATH)."
        )
    setup()
    from annotate.importing.pipeline import import_file
    from annotate.leaderboard.board import project_leaderboard
    from annotate.projects.lifecycle import create_project

    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, load average {os.getloadavg()[0]:.2f}"
    )
    project = create_project(slug=f"bench-leaderboard-{int(time.time())}")
    try:
        summary = import_file(project, args.data)
        print(f"imported {args.data.name}: {summary.describe()}")
        for length_control in (False, True):
            title = "with length control" if length_control else "without length control"
            print_board(title, project_leaderboard(project, length_control=length_control))
    finally:
        if not args.keep:
            project.delete()
    three_votes_boards(args.data, keep=args.keep)

    rows = synthetic_rows(args.votes, args.models, args.seed)
    times = time_fit(rows, rounds=args.rounds, repeat=args.repeat)
    print(f"\nfit + {args.rounds}-round bootstrap, {args.votes:,} votes over {args.models} models")
    for name, values in times.items():
        runs = ", ".join(f"{v:.2f}" for v in values)
        print(f"  {name:<15} median {statistics.median(values):.2f} s  (runs: {runs})")
    if args.through_db:
        for name, seconds in time_through_db(rows, rounds=args.rounds).items():
            print(f"  request path, {name}: {seconds:.2f} s")
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
