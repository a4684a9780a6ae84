"""A large project on one box: import, judging latency, export, re-rank and size at N pairs.

    DATABASE_URL=postgres://... .venv/bin/python bench/scale.py [--pairs 1000000] [--json FILE]
    DATABASE_URL=sqlite:///var/scale.sqlite3 .venv/bin/python bench/scale.py ...

Generates N labelled pairs (one prompt per two pairs) and imports them into a fresh project
whose overlap is 2, so every pair has one imported judgement and is still pending. Then it
times `next` + `judgement` through the API in process (one annotator, every pair pending),
exports every format as JSONL and Parquet, gives every response a fake ensemble score and
re-ranks all pending pairs, and reports the database size. Import and each export run in their
own process, so their peak RSS is their own. The project is deleted afterwards unless --keep.

It also counts the SQL statements of one `judgement?next=1`, and imports --votes votes (four
raters a pair, ten models) into a second project to time GET leaderboard and GET quality as an
admin, with the HTTP status and what the answer says of its cache. On PostgreSQL on the same
machine the import and the re-rank also report the database backend's CPU seconds. --skip
leaves steps out: judging, export, rerank, statistics.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
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
STEPS = ("judging", "export", "rerank", "statistics")
MEMBERS = 4


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


# ---------------------------------------------------------------- child processes


def import_child(slug: str, path: str, statements: str = "") -> dict[str, Any]:
    setup()
    from django.db import connection

    from annotate.importing.pipeline import import_file
    from annotate.models import Project

    project = Project.objects.get(slug=slug)
    timer = StatementTimer()
    database_cpu = database_cpu_seconds()
    cpu, start = time.process_time(), time.perf_counter()
    if statements:
        with connection.execute_wrapper(timer):
            summary = import_file(project, path)
    else:
        summary = import_file(project, path)
    seconds = time.perf_counter() - start
    return {
        "statements": timer.table(),
        "pairs": summary.pairs_created,
        "judgements": summary.judgements_created,
        "seconds": seconds,
        "cpu_seconds": time.process_time() - cpu,
        "database_cpu_seconds": _minus(database_cpu_seconds(), database_cpu),
        "peak_rss_mb": peak_rss_mb(),
    }


class StatementTimer:
    """Wall seconds (and the database backend's CPU seconds, where readable) per SQL statement
    run through Django, summed by the statement's first words. COPY goes around Django: the
    staging shows as the time no statement accounts for."""

    def __init__(self) -> None:
        self.totals: dict[str, list[float]] = {}

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        cpu, started = database_cpu_seconds(quiet=True), time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            key = " ".join(sql.split())[:90]
            total = self.totals.setdefault(key, [0, 0.0, 0.0])
            total[0] += 1
            total[1] += time.perf_counter() - started
            total[2] += _minus(database_cpu_seconds(quiet=True), cpu) or 0.0

    def table(self) -> list[dict[str, Any]]:
        rows = sorted(self.totals.items(), key=lambda item: -item[1][1])
        return [
            {"sql": sql, "count": int(n), "seconds": wall, "database_cpu_seconds": db}
            for sql, (n, wall, db) in rows
        ]


_BACKEND_PID: list[int] = []


def database_cpu_seconds(*, quiet: bool = False) -> float | None:
    """CPU time of this connection's PostgreSQL backend so far, when it runs on this machine
    (a figure that other work on a shared box inflates far less than wall time); else None."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return None
    if not quiet or not _BACKEND_PID:  # quiet: inside a statement timer, no query of its own
        connection.ensure_connection()
        _BACKEND_PID[:] = [connection.connection.info.backend_pid]
    pid = _BACKEND_PID[0]
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None  # the database runs elsewhere
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _minus(after: float | None, before: float | None) -> float | None:
    return None if after is None or before is None else after - before


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
        counted = count_statements(lambda: judge(assignment, "?next=1"))
        result["sql_statements_per_judgement"], result["transaction_statements"] = counted
    times["judgement_next"] = one_trip
    for name, values in times.items():
        if values:
            result[f"{name}_p50_ms"] = percentile(values, 0.5)
            result[f"{name}_p95_ms"] = percentile(values, 0.95)
    return result


def count_statements(call: Any) -> tuple[int, int]:
    """SQL statements one call runs, and the transaction's own (BEGIN, COMMIT) beside them, as
    the one-round-trip test pins them (after the timed loop: capturing slows every statement).

    Files from before 2026-12-07 counted both in `sql_statements_per_judgement` (8 = 6 + 2)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        response, _ = call()
    assert response.status_code == 201, response.content
    sent = [q["sql"].lstrip().upper() for q in queries.captured_queries]
    control = sum(sql.startswith(("BEGIN", "COMMIT")) for sql in sent)
    return len(sent) - control, control


# ---------------------------------------------------------------- statistics at V votes

STATS_MODELS = 10
STATS_RATERS = 20
VOTES_PER_PAIR = 4
STATS_GETS = 3  # timed GETs after the first (which may start the work)


def generate_votes(path: Path, votes: int) -> None:
    """`votes` rows of the judgements format: VOTES_PER_PAIR raters on each pair, models of
    spread-out strengths, so the leaderboard and agreement have something to measure."""
    rng = random.Random(7)
    with path.open("w") as handle:
        for i in range(votes // VOTES_PER_PAIR):
            a, b = rng.sample(range(STATS_MODELS), 2)
            p_a = 1 / (1 + 10 ** ((b - a) / 4))
            pair = {
                "prompt": f"Statistics prompt {i // 3}: compare the answers.",
                "response_a": f"Answer {i} by model {a}. " + "lorem ipsum " * 6,
                "response_b": f"Answer {i} by model {b}. " + "dolor sit amet " * 5,
                "model_a": f"model-{a}",
                "model_b": f"model-{b}",
            }
            for rater in rng.sample(range(STATS_RATERS), VOTES_PER_PAIR):
                draw = rng.random()
                choice = "tie" if draw > 0.92 else ("a" if draw < p_a * 0.92 else "b")
                row = {**pair, "annotator": f"rater-{rater}", "choice": choice}
                handle.write(json.dumps(row) + "\n")


def measure_statistics(slug: str) -> dict[str, Any]:
    """Wall ms of GET leaderboard and GET quality as an admin: the first call (a miss, which
    queues the computation), the computation as a worker runs it, then the median of STATS_GETS
    calls served from what it stored; the HTTP statuses and what the body says of its
    freshness. Fails if a served call is not a 200 with the statistic."""
    from django.contrib.auth import get_user_model
    from django.test import Client
    from rest_framework.authtoken.models import Token

    from annotate.models import Project, Role
    from annotate.projects.members import set_member

    project = Project.objects.get(slug=slug)
    user, _ = get_user_model().objects.get_or_create(username="scale-admin")
    set_member(project, username=user.username, role=Role.ADMIN)
    token = Token.objects.get_or_create(user=user)[0].key
    client = Client(HTTP_AUTHORIZATION=f"Token {token}", SERVER_NAME="127.0.0.1")
    result: dict[str, Any] = {}
    client.get(f"/api/projects/{slug}/")  # the process's first request loads the URLs and views
    for name in ("leaderboard", "quality"):
        url = f"/api/projects/{slug}/{name}"
        started = time.perf_counter()
        first = client.get(url)
        result[f"{name}_first_ms"] = (time.perf_counter() - started) * 1000
        result[f"{name}_computed_ms"] = _compute_requested(project)
        calls = []
        for _ in range(STATS_GETS):
            started = time.perf_counter()
            response = client.get(url)
            calls.append(((time.perf_counter() - started) * 1000, response))
        served = [r.status_code for _, r in calls]
        if set(served) != {200} or calls[-1][1].json().get("status") != "ready":
            raise SystemExit(f"GET {url} was not served from the stored statistic: {served}")
        result[f"{name}_ms_100k_votes"] = statistics.median(ms for ms, _ in calls)
        result[f"{name}_status"] = [first.status_code, *served]
        result[f"{name}_cache"] = _freshness(calls[-1][1])
    return result


def _compute_requested(project: Any) -> float:
    """Wall ms of computing the project's requested statistics with the worker task's body."""
    from annotate.models import StatisticsSnapshot
    from annotate.statistics import compute_snapshot

    started = time.perf_counter()
    requested = StatisticsSnapshot.objects.filter(project=project, requested_at__isnull=False)
    for pk in requested.values_list("pk", flat=True):
        compute_snapshot(pk)
    return (time.perf_counter() - started) * 1000


def _freshness(response: Any) -> dict[str, Any]:
    """The body's top-level fields that speak of a cache, freshness or work in progress."""
    try:
        body = response.json()
    except ValueError:
        return {}
    if not isinstance(body, dict):
        return {}
    words = ("cache", "fresh", "comput", "stale", "as_of", "updated", "ready", "reflect", "request")
    return {
        key: value
        for key, value in body.items()
        if (key in ("votes", "status", "state") or any(word in key.lower() for word in words))
        and not isinstance(value, list)
    }


def import_votes(votes: int) -> tuple[str, dict[str, Any]]:
    """A fresh project holding `votes` imported votes (imported in a child process)."""
    from annotate.projects.lifecycle import create_project

    slug = f"scale-votes-{int(time.time())}"
    create_project(slug=slug, judgements_per_pair=VOTES_PER_PAIR)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "votes.jsonl"
        generate_votes(path, votes)
        imported = run_child("import", slug, str(path))
    return slug, imported


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


def measure_rerank(project_id: int) -> dict[str, Any]:
    import rewards.ml.score  # noqa: F401  a worker has torch loaded already: not timed
    from rewards.worker import services

    # Every response is scored already: re-ranking loads no checkpoint and runs no forward pass.
    services.load_scorer = lambda model: None
    database_cpu = database_cpu_seconds()
    cpu, start = time.process_time(), time.perf_counter()
    services.rerank_project(project_id)
    return {
        "seconds": time.perf_counter() - start,
        "cpu_seconds": time.process_time() - cpu,
        "database_cpu_seconds": _minus(database_cpu_seconds(), database_cpu),
        "peak_rss_mb": peak_rss_mb(),  # of this process: torch and the judging loop included
    }


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
        f"DELETE FROM annotate_responsesource WHERE response_id IN "
        f"(SELECT id FROM annotate_response WHERE prompt_id IN ({prompts}))",
        f"DELETE FROM annotate_judgement WHERE pair_id IN ({pairs})",
        f"DELETE FROM annotate_assignment WHERE pair_id IN ({pairs})",
        "DELETE FROM annotate_pairrank WHERE project_id = %s",
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
        f"peak RSS {r['import_peak_rss_mb']:.0f} MB; CPU {r['import_cpu_seconds']:.1f} s app,"
        f" {r['import_database_cpu_seconds'] or 0:.1f} s database |"
    )
    j = r.get("judging", {})
    for name in ("next", "judgement", "round_trip", "judgement_next"):
        if f"{name}_p50_ms" in j:  # (j is empty when judging was skipped)
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
    if "sql_statements_per_judgement" in j:
        print(
            f"| SQL statements per judgement?next=1 | {j['sql_statements_per_judgement']}"
            f" (and {j['transaction_statements']} for BEGIN and COMMIT) |"
        )
    for key, rate in r.get("export_rows_per_s", {}).items():
        print(f"| export {key} | {rate:,.0f} rows/s, peak RSS {r['export_rss_mb'][key]:.0f} MB |")
    if "rerank_seconds" in r:
        print(
            f"| re-rank {r['rerank_pairs']} pending pairs | {r['rerank_seconds']:.1f} s;"
            f" CPU {r['rerank_cpu_seconds']:.1f} s app,"
            f" {r['rerank_database_cpu_seconds'] or 0:.1f} s database |"
        )
    if "judgements_per_s" in r.get("statistics", {}):
        st = r["statistics"]
        print(f"| import {st['votes']} votes | {st['judgements_per_s']:,.0f} votes/s |")
        for name in ("leaderboard", "quality"):
            print(
                f"| GET {name} at {st['votes']} votes | first {st[f'{name}_first_ms']:.0f} ms, "
                f"computed by the worker in {st[f'{name}_computed_ms']:.0f} ms, "
                f"then {r[f'{name}_ms_100k_votes']:.0f} ms (HTTP {st[f'{name}_status']}, "
                f"{st[f'{name}_cache'] or 'no cache fields'}) |"
            )
    print(f"| database size | {r['database_size_mb']:,.0f} MB |")
    if r.get("import_statements"):
        print("\n| import statement | runs | seconds | database CPU s |\n|---|---|---|---|")
        for row in r["import_statements"][:15]:
            print(
                f"| `{row['sql'][:70]}` | {row['count']} | {row['seconds']:.2f} |"
                f" {row['database_cpu_seconds']:.2f} |"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=1_000_000)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark project")
    parser.add_argument(
        "--votes",
        type=int,
        default=100_000,
        help="votes imported into a second project for the leaderboard and quality GETs"
        " (default 100000; 0 skips them)",
    )
    parser.add_argument(
        "--skip",
        nargs="+",
        default=[],
        choices=STEPS,
        help="steps to leave out (the import of the pairs always runs)",
    )
    parser.add_argument(
        "--statements",
        action="store_true",
        help="time each SQL statement of the import (adds a little overhead per statement)",
    )
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
    projects = [project.pk]
    try:
        run_steps(args, slug, project.pk, result, projects)
        print_table(result)
        if args.json:
            args.json.write_text(json.dumps(result, indent=2) + "\n")
    finally:
        if not args.keep:
            for project_id in projects:
                delete_project(project_id)


def run_steps(
    args: argparse.Namespace,
    slug: str,
    project_id: int,
    result: dict[str, Any],
    projects: list[int],
) -> None:
    from annotate.models import Pair, PairStatus, Project

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pairs.jsonl"
        generate(path, args.pairs)
        imported = run_child(
            "import", slug, str(path), *(["statements"] if args.statements else [])
        )
    result["import_seconds"] = imported["seconds"]
    result["import_pairs_per_s"] = imported["pairs"] / imported["seconds"]
    result["import_cpu_seconds"] = imported["cpu_seconds"]
    result["import_database_cpu_seconds"] = imported["database_cpu_seconds"]
    result["import_peak_rss_mb"] = imported["peak_rss_mb"]
    if imported["statements"]:
        result["import_statements"] = imported["statements"]
    if "judging" not in args.skip:
        result["judging"] = measure_judging(slug, JUDGE_ROUNDS)
        if "sql_statements_per_judgement" in result["judging"]:
            result["sql_statements_per_judgement"] = result["judging"][
                "sql_statements_per_judgement"
            ]
    if "export" not in args.skip:
        exports = {f"{fmt} {ft}": run_child("export", slug, fmt, ft) for fmt, ft in EXPORTS}
        result["export_rows_per_s"] = {k: e["rows"] / e["seconds"] for k, e in exports.items()}
        result["export_rss_mb"] = {k: e["peak_rss_mb"] for k, e in exports.items()}
        result["export_peak_rss_mb"] = max(result["export_rss_mb"].values())
    if "rerank" not in args.skip:
        score_all_responses(project_id)
        pending = Pair.objects.filter(project_id=project_id, status=PairStatus.PENDING)
        result["rerank_pairs"] = pending.count()
        rerank = measure_rerank(project_id)
        result["rerank_seconds"] = rerank["seconds"]
        result["rerank_cpu_seconds"] = rerank["cpu_seconds"]
        result["rerank_database_cpu_seconds"] = rerank["database_cpu_seconds"]
    if "statistics" not in args.skip and args.votes:
        votes_slug, imported = import_votes(args.votes)
        projects.append(Project.objects.get(slug=votes_slug).pk)
        stats = {
            "votes": imported["judgements"],
            "judgements_per_s": imported["judgements"] / imported["seconds"],
            **measure_statistics(votes_slug),
        }
        result["statistics"] = stats
        for name in ("leaderboard", "quality"):
            result[f"{name}_ms_100k_votes"] = stats[f"{name}_ms_100k_votes"]
    result["database_size_mb"] = database_size_mb()


if __name__ == "__main__":
    main()
