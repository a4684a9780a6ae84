"""The leaderboard and the quality report served from the store, against computing them.

    .venv/bin/python bench/statistics_latency.py [--votes 100000] [--models 20] [--repeat 5]
        [--json results.json] [--keep]

Imports `--votes` synthetic votes between `--models` models (bench/leaderboard.py's) into a
fresh project, then:

1. computes and stores each statistic in this process, as a worker does (what every request
   computed before they were stored): wall and CPU time;
2. serves it: GET of the API and the page through Django's test client, each `--repeat` times,
   with the snapshot stored: median wall and CPU time per request and SQL statements.

Prints a table and one JSON object (also written to --json). The project is deleted afterwards
unless --keep.
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.django_setup import setup  # noqa: E402
from bench.leaderboard import synthetic_rows  # noqa: E402


def timed(call: Callable[[], Any]) -> tuple[float, float]:
    """(wall ms, CPU ms of this process) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    call()
    return 1000 * (time.perf_counter() - wall), 1000 * (time.process_time() - cpu)


def import_votes(project: Any, rows: list[tuple[str, str, str, int, int]]) -> None:
    from annotate.importing.pipeline import import_file

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
                    "label": choice if choice != "both_bad" else "tie",
                }
                out.write(json.dumps(row) + "\n")
        import_file(project, path)


def measure(votes: int, models: int, repeat: int, keep: bool) -> dict[str, Any]:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from annotate.models import Membership, Role, StatisticsSnapshot
    from annotate.projects.lifecycle import create_project
    from annotate.statistics import LEADERBOARD, QUALITY, compute_snapshot, serve

    stamp = int(time.time())
    project = create_project(slug=f"bench-statistics-{stamp}")
    user = get_user_model().objects.create_user(f"bench-statistics-{stamp}")
    try:
        Membership.objects.create(project=project, user=user, role=Role.ADMIN)
        started = time.perf_counter()
        import_votes(project, synthetic_rows(votes, models, seed=0))
        print(f"imported {votes} votes in {time.perf_counter() - started:.1f} s", flush=True)
        result: dict[str, Any] = {"votes": votes, "models": models, "db": connection.vendor}
        kinds = {"leaderboard": (LEADERBOARD, {"length_control": False}), "quality": (QUALITY, {})}
        for name, (kind, options) in kinds.items():
            # 1. computed and stored as a worker does (what each request computed before)
            serve(project, kind, options)
            snapshot = StatisticsSnapshot.objects.get(project=project, kind=kind)
            wall, cpu = timed(functools.partial(compute_snapshot, snapshot.pk))
            result[f"{name}_computed_wall_ms"] = round(wall, 1)
            result[f"{name}_computed_cpu_ms"] = round(cpu, 1)
        client = Client()
        client.force_login(user)
        paths = {
            "leaderboard_api": f"/api/projects/{project.slug}/leaderboard",
            "leaderboard_page": f"/projects/{project.slug}/leaderboard",
            "quality_api": f"/api/projects/{project.slug}/quality",
            "quality_page": f"/projects/{project.slug}/quality",
        }
        for name, path in paths.items():
            walls, cpus = [], []
            client.get(path, secure=True)  # warm: imports, templates
            for _ in range(repeat):
                with CaptureQueriesContext(connection) as queries:
                    response: Any = None

                    def get(path: str = path) -> None:
                        nonlocal response
                        response = client.get(path, secure=True)

                    wall, cpu = timed(get)
                assert response is not None and response.status_code == 200, response
                assert b"data-updating" not in response.content, "served stale"
                walls.append(wall)
                cpus.append(cpu)
            result[f"{name}_served_wall_ms"] = round(statistics.median(walls), 1)
            result[f"{name}_served_cpu_ms"] = round(statistics.median(cpus), 1)
            result[f"{name}_served_statements"] = len(queries)
        return result
    finally:
        if not keep:
            project.delete()
            user.delete()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--votes", type=int, default=100_000)
    parser.add_argument("--models", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    setup()
    from django.conf import settings

    # Django's test client, and pages without `collectstatic` (the manifest storage needs one).
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    result = measure(args.votes, args.models, args.repeat, args.keep)
    print(f"\n{'statistic':<12} {'computed ms (CPU)':>18} {'served API ms (CPU)':>20}")
    for name in ("leaderboard", "quality"):
        computed = f"{result[f'{name}_computed_wall_ms']} ({result[f'{name}_computed_cpu_ms']})"
        served = f"{result[f'{name}_api_served_wall_ms']} ({result[f'{name}_api_served_cpu_ms']})"
        print(f"{name:<12} {computed:>18} {served:>20}")
    print(json.dumps(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
