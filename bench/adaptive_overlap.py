"""Adaptive overlap replayed through the product: what "2 votes, a 3rd on disagreement" saves.

    .venv/bin/python bench/adaptive_overlap.py [--data ../shared/data/pandalm/dev.jsonl]
        [--min 2] [--max 3]

Every record carries its annotators' votes in `meta.votes` (annotator k's vote is item k). The
pairs are imported into a fresh project (a temporary SQLite database unless DATABASE_URL is
set), and one simulated annotator per vote column works through the product's own queue
(`lease_next_pair`) and judging code (`record_judgement`), answering each pair it is served
with its recorded vote, in the left/right terms of the page. The figures then come from the
database and from the product's quality endpoint; alpha is also computed here, independently,
from the coincidence matrix.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.django_setup import ROOT  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "pandalm" / "dev.jsonl"


def independent_alpha(units: list[list[str]]) -> float:
    """Krippendorff's nominal alpha from the coincidence matrix (Krippendorff 2011, section C)."""
    coincidence: defaultdict[tuple[str, str], float] = defaultdict(float)
    for values in units:
        m = len(values)
        if m < 2:
            continue
        for i, c in enumerate(values):
            for j, k in enumerate(values):
                if i != j:
                    coincidence[(c, k)] += 1 / (m - 1)
    totals: defaultdict[str, float] = defaultdict(float)
    for (c, _), weight in coincidence.items():
        totals[c] += weight
    n = sum(totals.values())
    observed = sum(w for (c, k), w in coincidence.items() if c != k)
    expected = sum(totals[c] * totals[k] for c in totals for k in totals if c != k) / (n - 1)
    return 1 - observed / expected


def strict_majority(values: list[str]) -> str | None:
    ranked = Counter(values).most_common()
    if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
        return None
    return ranked[0][0]


def distinct_records(path: Path) -> tuple[list[dict], int]:
    """One record per pair (a repeated pair is imported once, under its first record's id)."""
    seen: set = set()
    records, total = [], 0
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        total += 1
        record = json.loads(line)
        key = (
            json.dumps(record["prompt"]),
            frozenset((record["response_a"], record["response_b"])),
        )
        if key not in seen:
            seen.add(key)
            records.append(record)
    return records, total


def prepare(records: list[dict], minimum: int, maximum: int, annotators: int) -> tuple:
    from django.contrib.auth import get_user_model

    from annotate.importing.pipeline import import_file
    from annotate.models import Role
    from annotate.projects.lifecycle import create_project
    from annotate.projects.members import set_member

    User = get_user_model()
    admin = User.objects.create_user(f"bench-admin-{uuid.uuid4().hex[:6]}")
    slug = f"overlap-{uuid.uuid4().hex[:8]}"
    project = create_project(
        slug=slug, admin=admin, judgements_per_pair=minimum, max_judgements_per_pair=maximum
    )
    users = []
    for k in range(annotators):
        user = User.objects.create_user(f"{slug}-annotator-{k + 1}")
        set_member(project, username=user.username, role=Role.ANNOTATOR)
        users.append(user)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "pairs.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
        import_file(project, path, labels="ignore")
    return project, admin, users


def replay(project, users: list, votes: dict[str, list[str]]) -> int:
    """Annotators take turns through the real queue until none is served a pair."""
    from annotate.judging.queue import lease_next_pair
    from annotate.judging.recording import record_judgement

    done: set[int] = set()
    judged = 0
    while len(done) < len(users):
        for k, user in enumerate(users):
            if k in done:
                continue
            assignment = lease_next_pair(user, project)
            if assignment is None:
                done.add(k)
                continue
            vote = votes[assignment.pair.external_id][k]
            shown = vote
            if vote in ("a", "b"):
                shown = "left" if (vote == "a") == assignment.left_is_a else "right"
            record_judgement(assignment.pk, user, choice=shown, client_id=uuid.uuid4().hex)
            judged += 1
    return judged


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--min", type=int, default=2, dest="minimum")
    parser.add_argument("--max", type=int, default=3, dest="maximum")
    args = parser.parse_args()
    if not args.data.is_file():
        raise SystemExit(f"no such file: {args.data}")
    folder = tempfile.mkdtemp(prefix="adaptive-overlap-")
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{folder}/bench.sqlite3")
    os.environ.setdefault("ALLOWED_HOSTS", "testserver")
    from bench.django_setup import setup

    setup()
    from annotate.models import Judgement
    from annotate.quality.report import quality_report

    records, rows = distinct_records(args.data)
    every_row = [json.loads(line)["meta"]["votes"] for line in args.data.open() if line.strip()]
    width = min(len(r["meta"]["votes"]) for r in records)
    votes = {r["id"]: r["meta"]["votes"][:width] for r in records}
    project, _, users = prepare(records, args.minimum, args.maximum, width)
    started = time.monotonic()
    judged = replay(project, users, votes)
    seconds = time.monotonic() - started

    collected: dict[str, list[str]] = {}
    for external_id, choice in Judgement.objects.filter(pair__project=project).values_list(
        "pair__external_id", "choice"
    ):
        collected.setdefault(external_id, []).append(choice)
    matches = sum(strict_majority(collected[i]) == strict_majority(v) for i, v in votes.items())
    # What the quality endpoint serves once a worker has computed it (the same function).
    report = quality_report(project)
    here = independent_alpha(list(collected.values()))
    everything = independent_alpha(list(votes.values()))

    print(f"data: {args.data} ({rows} rows, {len(records)} distinct pairs, {width} votes each)")
    print(f"policy: {args.minimum} votes, one more while they disagree, at most {args.maximum}")
    print(f"replayed {judged} judgements through the queue in {seconds:.1f} s")
    print()
    print("| measure | value |")
    print("|---|---|")
    print(f"| votes per pair | {judged / len(records):.3f} |")
    print(f"| votes saved against always {width} | {1 - judged / (width * len(records)):.1%} |")
    print(f"| votes per completed pair (endpoint) | {report['votes_per_completed_pair']:.3f} |")
    print(f"| votes saved (endpoint) | {report['votes_saved']:.1%} |")
    print(f"| final label = {width}-vote majority | {matches / len(records):.1%} |")
    alpha, interval = report["alpha"], report["alpha_interval"]
    if alpha is None or interval is None:
        raise SystemExit("the quality report has no alpha for these votes")
    low, high = interval
    print(f"| alpha, quality endpoint | {alpha:.4f} (95% {low:.3f}-{high:.3f}) |")
    print(f"| alpha, independent (same votes) | {here:.4f} |")
    print(f"| difference | {abs(alpha - here):.5f} |")
    print(f"| alpha, all {width} votes of every pair (independent) | {everything:.4f} |")
    print(
        f"| alpha, all votes of every row, repeats included | {independent_alpha(every_row):.4f} |"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
