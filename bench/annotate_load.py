"""Annotators under load: next -> judge loops against the app under gunicorn.

    DATABASE_URL=postgres://... .venv/bin/python bench/annotate_load.py [--pairs 100000]
        [--annotators 16|64] [--seconds 60] [--gunicorn-workers 4] [--gunicorn-threads 4]
        [--one-trip] [--json]

Creates a project with N pending pairs (once per --pairs; reused on later runs), starts
gunicorn on 127.0.0.1, runs one HTTP client thread per annotator for a fixed time, then checks
that every acknowledged judgement is stored exactly once and no pair is over its target.
With --one-trip each annotator judges with `judgement?next=1`, as the annotation page does.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.django_setup import ROOT, setup  # noqa: E402

PORT = 8765


def prepare(pairs: int, annotators: int) -> tuple[str, list[str]]:
    """A project with `pairs` pending pairs and one token per annotator."""
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from annotate.importing.pipeline import import_file
    from annotate.models import Project, Role
    from annotate.projects.lifecycle import create_project
    from annotate.projects.members import set_member

    slug = f"load-{pairs}"
    project = Project.objects.filter(slug=slug).first()
    if project is None:
        project = create_project(slug=slug, lease_seconds=600)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "pairs.jsonl"
            with path.open("w") as handle:
                for i in range(pairs):
                    handle.write(
                        json.dumps(
                            {
                                "prompt": f"Load prompt {i}",
                                "response_a": f"First answer {i}",
                                "response_b": f"Second answer {i}",
                            }
                        )
                        + "\n"
                    )
            import_file(project, path, labels="ignore")
    tokens = []
    for i in range(annotators):
        user, _ = get_user_model().objects.get_or_create(username=f"load-annotator-{i}")
        set_member(project, username=user.username, role=Role.ANNOTATOR)
        tokens.append(Token.objects.get_or_create(user=user)[0].key)
    return slug, tokens


class Client:
    """One annotator: a keep-alive HTTP connection and its measurements."""

    def __init__(self, token: str, slug: str) -> None:
        self.headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
        self.slug = slug
        self.next_ms: list[float] = []
        self.judge_ms: list[float] = []
        self.round_ms: list[float] = []  # what one judgement costs the annotator, all requests
        self.acknowledged: list[str] = []
        self.errors: list[str] = []

    def _post(self, conn: http.client.HTTPConnection, path: str, body: dict) -> tuple[int, bytes]:
        conn.request("POST", path, json.dumps(body), self.headers)
        response = conn.getresponse()
        return response.status, response.read()

    def run(self, deadline: float, *, one_trip: bool = False) -> None:
        if one_trip:
            self.run_one_trip(deadline)
            return
        conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
        while time.monotonic() < deadline:
            started = time.perf_counter()
            status, body = self._post(conn, f"/api/projects/{self.slug}/next", {})
            self.next_ms.append((time.perf_counter() - started) * 1000)
            if status == 204:
                return
            if status != 200:
                self.errors.append(f"next {status}")
                continue
            assignment = json.loads(body)["assignment"]
            client_id = str(uuid.uuid4())
            started = time.perf_counter()
            status, _ = self._post(
                conn,
                f"/api/assignments/{assignment}/judgement",
                {"choice": "left", "duration_ms": 800, "client_id": client_id},
            )
            self.judge_ms.append((time.perf_counter() - started) * 1000)
            self.round_ms.append(self.next_ms[-1] + self.judge_ms[-1])
            if status in (200, 201):
                self.acknowledged.append(client_id)
            else:
                self.errors.append(f"judgement {status}")

    def run_one_trip(self, deadline: float) -> None:
        """The page's loop: one `judgement?next=1` request per judgement."""
        conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
        status, body = self._post(conn, f"/api/projects/{self.slug}/next", {})
        following = json.loads(body) if status == 200 else None
        while following and time.monotonic() < deadline:
            client_id = str(uuid.uuid4())
            started = time.perf_counter()
            status, body = self._post(
                conn,
                f"/api/assignments/{following['assignment']}/judgement?next=1",
                {"choice": "left", "duration_ms": 800, "client_id": client_id},
            )
            self.judge_ms.append((time.perf_counter() - started) * 1000)
            self.round_ms.append(self.judge_ms[-1])
            if status not in (200, 201):
                self.errors.append(f"judgement {status}")
                return
            self.acknowledged.append(client_id)
            following = json.loads(body)["next"]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def start_gunicorn(workers: int, threads: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": os.environ.get("SECRET_KEY", "bench"),
        "ALLOWED_HOSTS": "127.0.0.1",
        "LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi",
            "-b",
            f"127.0.0.1:{PORT}",
            "-w",
            str(workers),
            "--worker-class",
            "gthread",
            "--threads",
            str(threads),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    for _ in range(100):
        try:
            http.client.HTTPConnection("127.0.0.1", PORT, timeout=1).request("GET", "/api/projects")
            return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("gunicorn did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=100_000)
    parser.add_argument("--annotators", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--gunicorn-workers", type=int, default=4)
    parser.add_argument("--gunicorn-threads", type=int, default=4)
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    parser.add_argument(
        "--one-trip", action="store_true", help="judge with judgement?next=1 (one request each)"
    )
    args = parser.parse_args()
    setup()
    from django.conf import settings

    from annotate.models import Judgement, Pair

    engine = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    slug, tokens = prepare(args.pairs, args.annotators)
    before = set(
        Judgement.objects.filter(pair__project__slug=slug).values_list("client_id", flat=True)
    )
    server = start_gunicorn(args.gunicorn_workers, args.gunicorn_threads)
    clients = [Client(token, slug) for token in tokens]
    deadline = time.monotonic() + args.seconds
    threads = [
        threading.Thread(target=c.run, args=(deadline,), kwargs={"one_trip": args.one_trip})
        for c in clients
    ]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    server.terminate()
    server.wait()
    acknowledged = [cid for c in clients for cid in c.acknowledged]
    stored = Judgement.objects.filter(pair__project__slug=slug).exclude(client_id__in=before)
    stored_ids = list(stored.values_list("client_id", flat=True))
    over = Pair.objects.filter(project__slug=slug, judgement_count__gt=1).count()
    next_ms = [v for c in clients for v in c.next_ms]
    judge_ms = [v for c in clients for v in c.judge_ms]
    round_ms = [v for c in clients for v in c.round_ms]
    print(
        f"# annotate load: {args.annotators} annotators, {args.seconds:.0f} s, {engine}, "
        f"{args.pairs} pairs, gunicorn {args.gunicorn_workers}x{args.gunicorn_threads} threads, "
        f"{os.cpu_count()} cores" + (", one request per judgement" if args.one_trip else "")
    )
    print("\n| call | count | p50 ms | p95 ms | p99 ms |\n|---|---|---|---|---|")
    judgement = "judgement?next=1" if args.one_trip else "judgement"
    for name, values in (("next", next_ms), (judgement, judge_ms), ("round trip", round_ms)):
        print(
            f"| {name} | {len(values)} | {percentile(values, 0.5):.1f} | "
            f"{percentile(values, 0.95):.1f} | {percentile(values, 0.99):.1f} |"
        )
    errors = [e for c in clients for e in c.errors]
    figures = {
        "annotators": args.annotators,
        "engine": engine,
        "judgements_per_s": len(acknowledged) / elapsed,
        "judgement_p50_ms": percentile(judge_ms, 0.5),
        "judgement_p95_ms": percentile(judge_ms, 0.95),
        "acknowledged": len(acknowledged),
        "stored": len(stored_ids),
        "doubled": len(stored_ids) - len(set(stored_ids)),
        "lost": len(set(acknowledged) - set(stored_ids)),
        "pairs_over_target": over,
        "errors": len(errors),
    }
    print(
        f"\njudgements/s: {figures['judgements_per_s']:.1f}; acknowledged {len(acknowledged)}, "
        f"stored {len(stored_ids)}, doubled {figures['doubled']}, lost {figures['lost']}, "
        f"pairs over target {over}, errors {len(errors)} {sorted(set(errors))[:5]}"
    )
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
