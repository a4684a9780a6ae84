"""A large project on one box: import, judging latency, export, re-rank and size at N pairs.

    DATABASE_URL=postgres://... .venv/bin/python bench/scale.py [--pairs 1000000] [--json FILE]
    DATABASE_URL=sqlite:///var/scale.sqlite3 .venv/bin/python bench/scale.py ...

Generates N labelled pairs (one prompt per two pairs) and imports them into a fresh project
whose overlap is 2, so every pair has one imported judgement and is still pending. Then it
times `next` + `judgement` through the API in process (one annotator, every pair pending),
exports every format as JSONL and Parquet, gives every response a fake ensemble score and
re-ranks all pending pairs, and reports the database size. Import and each export run in their
own process, so their peak RSS is their own. The project is deleted afterwards unless --keep.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.django_setup import ROOT, setup  # noqa: E402
from bench.import_export import generate, peak_rss_mb  # noqa: E402

EXPORTS = [(fmt, ft) for fmt in ("trl", "hh", "judgements") for ft in ("jsonl", "parquet")]
JUDGE_ROUNDS = 200
MEMBERS = 4


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


# ---------------------------------------------------------------- child processes


def import_child(slug: str, path: str) -> dict[str, Any]:
    setup()
    from annotate.importing.pipeline import import_file
    from annotate.models import Project

    project = Project.objects.get(slug=slug)
    start = time.perf_counter()
    summary = import_file(project, path)
    seconds = time.perf_counter() - start
    return {"pairs": summary.pairs_created, "seconds": seconds, "peak_rss_mb": peak_rss_mb()}


def export_child(slug: str, fmt: str, file_type: str) -> dict[str, Any]:
    setup()
    from annotate.exporting.datasets import export_chunks
    from annotate.models import Project

    project = Project.objects.get(slug=slug)
    with tempfile.NamedTemporaryFile(suffix=f".{file_type}") as out:
        start = time.perf_counter()
        size = 0
        for chunk in export_chunks(project, fmt=fmt, file_type=file_type):
            out.write(chunk)
            size += len(chunk)
        seconds = time.perf_counter() - start
        out.flush()
        rows = _count_rows(Path(out.name), file_type)
    return {"rows": rows, "seconds": seconds, "mb": size / 1e6, "peak_rss_mb": peak_rss_mb()}


def _count_rows(path: Path, file_type: str) -> int:
    if file_type == "parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(path).metadata.num_rows
    with path.open("rb") as handle:
        return sum(1 for _ in handle)


def run_child(*args: str) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, __file__, "--child", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if result.returncode:
        raise SystemExit(f"child {args} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- steps in this process


def measure_judging(slug: str, rounds: int) -> dict[str, float]:
    """One annotator: `next` then `judgement`; with `?next=1` support, also the one-trip loop."""
    from django.contrib.auth import get_user_model
    from django.test import Client
    from rest_framework.authtoken.models import Token

    from annotate.models import Project, Role
    from annotate.projects.members import set_member

    project = Project.objects.get(slug=slug)
    user, _ = get_user_model().objects.get_or_create(username="scale-annotator")
    set_member(project, username=user.username, role=Role.ANNOTATOR)
    token = Token.objects.get_or_create(user=user)[0].key
    client = Client(HTTP_AUTHORIZATION=f"Token {token}", SERVER_NAME="127.0.0.1")
    times: dict[str, list[float]] = {"next": [], "judgement": [], "round_trip": []}

    def post(path: str, body: dict[str, Any]) -> Any:
        started = time.perf_counter()
        response = client.post(path, body, content_type="application/json")
        return response, (time.perf_counter() - started) * 1000

    def judge(assignment: int, query: str = "") -> tuple[Any, float]:
        body = {"choice": "left", "duration_ms": 800, "client_id": str(uuid.uuid4())}
        return post(f"/api/assignments/{assignment}/judgement{query}", body)

    cpu = time.process_time()
    for _ in range(rounds):
        response, next_ms = post(f"/api/projects/{slug}/next", {})
        assert response.status_code == 200, response.content
        response, judge_ms = judge(response.json()["assignment"])
        assert response.status_code == 201, response.content
        times["next"].append(next_ms)
        times["judgement"].append(judge_ms)
        times["round_trip"].append(next_ms + judge_ms)
    # Client and server share this process: its CPU time is the app's cost of a judgement,
    # a figure that other work on a shared box does not inflate the way it does latency.
    result = {"app_cpu_ms_two_requests": (time.process_time() - cpu) * 1000 / rounds}
    one_trip: list[float] = []
    response, _ = post(f"/api/projects/{slug}/next", {})
    assignment = response.json()["assignment"]
    cpu = time.process_time()
    for _ in range(rounds):
        response, ms = judge(assignment, "?next=1")
        assert response.status_code == 201, response.content
        following = response.json().get("next")
        if not following:
            break  # this version has no one-round-trip judging
        one_trip.append(ms)
        assignment = following["assignment"]
    if one_trip:
        result["app_cpu_ms_one_request"] = (time.process_time() - cpu) * 1000 / len(one_trip)
    times["judgement_next"] = one_trip
    for name, values in times.items():
        if values:
            result[f"{name}_p50_ms"] = percentile(values, 0.5)
            result[f"{name}_p95_ms"] = percentile(values, 0.95)
    return result


def score_all_responses(project_id: int) -> Any:
    """An active version with a fake ensemble score for every response (SQL, so it is quick)."""
    from django.db import connection

    from rewards.models import ResponseScore, RewardModel

    model = RewardModel.objects.create(
        project_id=project_id, version=1, mode="heads", backbone="fake", is_active=True
    )
    if connection.vendor == "postgresql":
        members = "jsonb_build_array(" + ", ".join(["random()"] * MEMBERS) + ")"
    else:
        members = "json_array(" + ", ".join(["random() / 9.3e18"] * MEMBERS) + ")"
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {ResponseScore._meta.db_table} "
            "(response_id, model_id, mean, std, members)"
            f" SELECT r.id, %s, 0, 0, {members} FROM annotate_response r"
            " JOIN annotate_prompt p ON p.id = r.prompt_id WHERE p.project_id = %s",
            [model.pk, project_id],
        )
    return model


def measure_rerank(project_id: int) -> float:
    import rewards.ml.score  # noqa: F401  a worker has torch loaded already: not timed
    from rewards.worker import services

    # Every response is scored already: re-ranking loads no checkpoint and runs no forward pass.
    services.load_scorer = lambda model: None
    start = time.perf_counter()
    services.rerank_project(project_id)
    return time.perf_counter() - start


def database_size_mb() -> float:
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_database_size(current_database())")
            return cursor.fetchone()[0] / 1e6
    return Path(connection.settings_dict["NAME"]).stat().st_size / 1e6


def delete_project(project_id: int) -> None:
    """Delete with a few set-based statements: the ORM's cascade would load every row."""
    from django.db import connection, transaction

    pairs = "SELECT id FROM annotate_pair WHERE project_id = %s"
    prompts = "SELECT id FROM annotate_prompt WHERE project_id = %s"
    statements = [
        f"DELETE FROM rewards_responsescore WHERE response_id IN "
        f"(SELECT id FROM annotate_response WHERE prompt_id IN ({prompts}))",
        f"DELETE FROM annotate_judgement WHERE pair_id IN ({pairs})",
        f"DELETE FROM annotate_assignment WHERE pair_id IN ({pairs})",
        "DELETE FROM annotate_pair WHERE project_id = %s",
        f"DELETE FROM annotate_response WHERE prompt_id IN ({prompts})",
        "DELETE FROM annotate_prompt WHERE project_id = %s",
    ]
    with transaction.atomic(), connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement, [project_id])
    from annotate.models import Project

    Project.objects.filter(pk=project_id).delete()


def print_table(r: dict[str, Any]) -> None:
    print(
        f"# scale: {r['pairs']} pairs, {r['database']}, {r['machine']}, {r['date']}\n\n"
        "| step | figure |\n|---|---|\n"
        f"| import | {r['import_pairs_per_s']:,.0f} pairs/s ({r['import_seconds']:.1f} s), "
        f"peak RSS {r['import_peak_rss_mb']:.0f} MB |"
    )
    j = r["judging"]
    for name in ("next", "judgement", "round_trip", "judgement_next"):
        if f"{name}_p50_ms" in j:
            print(
                f"| {name.replace('_', ' ')} | p50 {j[f'{name}_p50_ms']:.1f} ms, "
                f"p95 {j[f'{name}_p95_ms']:.1f} ms |"
            )
    for name in ("two_requests", "one_request"):
        if f"app_cpu_ms_{name}" in j:
            print(
                f"| app CPU per judgement, {name.replace('_', ' ')} | "
                f"{j[f'app_cpu_ms_{name}']:.1f} ms |"
            )
    for key, rate in r["export_rows_per_s"].items():
        print(f"| export {key} | {rate:,.0f} rows/s, peak RSS {r['export_rss_mb'][key]:.0f} MB |")
    print(f"| re-rank {r['rerank_pairs']} pending pairs | {r['rerank_seconds']:.1f} s |")
    print(f"| database size | {r['database_size_mb']:,.0f} MB |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=1_000_000)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark project")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        print(json.dumps(import_child(*rest) if kind == "import" else export_child(*rest)))
        return
    # The in-process API client talks to 127.0.0.1; production settings refuse other hosts.
    os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1")
    setup()
    from django.db import connection

    from annotate.models import Pair, PairStatus
    from annotate.projects.lifecycle import create_project

    version = connection.get_database_version()  # (major, minor) or SQLite's (3, x, y)
    database = (
        f"PostgreSQL {version[0]}"
        if connection.vendor == "postgresql"
        else f"SQLite {'.'.join(map(str, version))}"
    )
    result: dict[str, Any] = {
        "pairs": args.pairs,
        "database": database,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }
    slug = f"scale-{int(time.time())}"
    project = create_project(slug=slug, judgements_per_pair=2, acquisition="uncertainty")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "pairs.jsonl"
            generate(path, args.pairs)
            imported = run_child("import", slug, str(path))
        result["import_seconds"] = imported["seconds"]
        result["import_pairs_per_s"] = imported["pairs"] / imported["seconds"]
        result["import_peak_rss_mb"] = imported["peak_rss_mb"]
        result["judging"] = measure_judging(slug, JUDGE_ROUNDS)
        exports = {f"{fmt} {ft}": run_child("export", slug, fmt, ft) for fmt, ft in EXPORTS}
        result["export_rows_per_s"] = {k: e["rows"] / e["seconds"] for k, e in exports.items()}
        result["export_rss_mb"] = {k: e["peak_rss_mb"] for k, e in exports.items()}
        result["export_peak_rss_mb"] = max(result["export_rss_mb"].values())
        score_all_responses(project.pk)
        result["rerank_pairs"] = Pair.objects.filter(
            project=project, status=PairStatus.PENDING
        ).count()
        result["rerank_seconds"] = measure_rerank(project.pk)
        result["database_size_mb"] = database_size_mb()
        print_table(result)
        if args.json:
            args.json.write_text(json.dumps(result, indent=2) + "\n")
    finally:
        if not args.keep:
            delete_project(project.pk)


if __name__ == "__main__":
    main()
