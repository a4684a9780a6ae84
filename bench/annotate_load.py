"""Annotators under load: next -> judge loops against the app under gunicorn.

    DATABASE_URL=postgres://... .venv/bin/python bench/annotate_load.py [--pairs 100000]
        [--annotators 16|64] [--seconds 60] [--gunicorn-workers 4] [--gunicorn-threads 1]
        [--one-trip] [--think-ms 0] [--json]

Creates a project with N pending pairs (once per --pairs; reused on later runs), starts
gunicorn on 127.0.0.1, runs one HTTP client thread per annotator for a fixed time, then checks
that every acknowledged judgement is stored exactly once and no pair is over its target.
With --one-trip each annotator judges with `judgement?next=1`, as the annotation page does.
It also reports the CPU each judgement cost the client, gunicorn and (on PostgreSQL) the
database's backends, read from /proc, since on a shared box these split the cores.

By default each annotator judges again as soon as the answer arrives (a closed loop), which
measures the server at saturation: its latency is then annotators / throughput. --think-ms
adds the pause a person takes to read a pair, so the latency is the server's own.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
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
    """One annotator: a keep-alive HTTP connection and its measurements.

    Timings and `measured` (judgements acknowledged) count only judgements begun at or after
    `measure_from`; `acknowledged` holds every one, for the exactly-once check.
    """

    def __init__(self, token: str, slug: str, measure_from: float, think_ms: float = 0) -> None:
        self.think_ms = think_ms
        self.headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
        self.slug = slug
        self.measure_from = measure_from
        self.next_ms: list[float] = []
        self.judge_ms: list[float] = []
        self.round_ms: list[float] = []  # what one judgement costs the annotator, all requests
        self.acknowledged: list[str] = []
        self.measured = 0
        self.measuring = False  # whether the judgement under way began in the window
        self.errors: list[str] = []

    def _measure(self, *timings: tuple[list[float], float]) -> None:
        if self.measuring:
            for series, ms in timings:
                series.append(ms)

    def _think(self) -> None:
        """Read the next pair before judging it: an exponential pause of mean `think_ms`."""
        if self.think_ms > 0:
            time.sleep(random.expovariate(1000 / self.think_ms))

    def _post(self, conn: http.client.HTTPConnection, path: str, body: dict) -> tuple[int, bytes]:
        """POST on the kept connection; once more on a new one if the server had closed it
        (gunicorn drops a connection idle past its keep-alive; a judgement sent twice is
        recorded once, by its client_id)."""
        for attempt in (1, 2):
            try:
                conn.request("POST", path, json.dumps(body), self.headers)
                response = conn.getresponse()
                return response.status, response.read()
            except (http.client.RemoteDisconnected, ConnectionError):
                conn.close()  # the next request opens a new connection
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def run(self, deadline: float, *, one_trip: bool = False) -> None:
        if one_trip:
            self.run_one_trip(deadline)
            return
        conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
        while time.monotonic() < deadline:
            self.measuring = time.monotonic() >= self.measure_from
            started = time.perf_counter()
            status, body = self._post(conn, f"/api/projects/{self.slug}/next", {})
            next_ms = (time.perf_counter() - started) * 1000
            self._measure((self.next_ms, next_ms))
            if status == 204:
                return
            if status != 200:
                self.errors.append(f"next {status}")
                continue
            assignment = json.loads(body)["assignment"]
            self._think()
            client_id = str(uuid.uuid4())
            started = time.perf_counter()
            status, _ = self._post(
                conn,
                f"/api/assignments/{assignment}/judgement",
                {"choice": "left", "duration_ms": 800, "client_id": client_id},
            )
            judge_ms = (time.perf_counter() - started) * 1000
            self._measure((self.judge_ms, judge_ms), (self.round_ms, next_ms + judge_ms))
            if status in (200, 201):
                self.acknowledged.append(client_id)
                self.measured += self.measuring
            else:
                self.errors.append(f"judgement {status}")

    def run_one_trip(self, deadline: float) -> None:
        """The page's loop: one `judgement?next=1` request per judgement."""
        conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
        status, body = self._post(conn, f"/api/projects/{self.slug}/next", {})
        following = json.loads(body) if status == 200 else None
        while following and time.monotonic() < deadline:
            self._think()
            self.measuring = time.monotonic() >= self.measure_from
            client_id = str(uuid.uuid4())
            started = time.perf_counter()
            status, body = self._post(
                conn,
                f"/api/assignments/{following['assignment']}/judgement?next=1",
                {"choice": "left", "duration_ms": 800, "client_id": client_id},
            )
            judge_ms = (time.perf_counter() - started) * 1000
            self._measure((self.judge_ms, judge_ms), (self.round_ms, judge_ms))
            if status not in (200, 201):
                self.errors.append(f"judgement {status}")
                return
            self.acknowledged.append(client_id)
            self.measured += self.measuring
            following = json.loads(body)["next"]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def cpu_seconds(pid: int) -> float:
    """User and system CPU of a process so far, from /proc (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


class CpuMeter:
    """CPU seconds of gunicorn (master and workers) and of one database's backends.

    Backends come and go, so a thread looks at the postmaster's children every quarter
    second and keeps the last figure of each backend of our database; the client's own CPU
    (this process) is read with os.times().
    """

    def __init__(self, server: int, postmaster: int | None, dbname: str) -> None:
        self.server, self.postmaster, self.dbname = server, postmaster, dbname
        self.backends: dict[int, float] = {}  # pid: CPU seconds when last seen
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self.stop.wait(0.25):
            self._look()

    def _look(self) -> None:
        for pid in children(self.postmaster) if self.postmaster else []:
            if pid not in self.backends:
                try:
                    title = Path(f"/proc/{pid}/cmdline").read_bytes()
                except OSError:
                    continue
                if f" {self.dbname} ".encode() not in title:
                    continue
            if seen := cpu_seconds(pid):
                self.backends[pid] = seen

    def _server(self) -> float:
        return cpu_seconds(self.server) + sum(cpu_seconds(w) for w in children(self.server))

    def start(self) -> None:
        self._look()
        # Backends open before the run (this script's own) count only what they do during it;
        # a new one counts from its start (forked by the postmaster, so from zero).
        self.at_start = dict(self.backends)
        self.server_start, self.client_start, self.box_start = (
            self._server(),
            _own_cpu(),
            _box_cpu(),
        )
        self.thread.start()

    def finish(self) -> dict[str, float]:
        self.stop.set()
        self.thread.join()
        self._look()
        database = sum(last - self.at_start.get(pid, 0.0) for pid, last in self.backends.items())
        return {
            "client": _own_cpu() - self.client_start,
            "gunicorn": self._server() - self.server_start,
            "database": database,
            "box": _box_cpu() - self.box_start,
        }


def _own_cpu() -> float:
    times = os.times()
    return times.user + times.system


def _box_cpu() -> float:
    """CPU seconds every process on this machine has used (its busy time, /proc/stat)."""
    ticks = [int(t) for t in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = ticks[3] + ticks[4]  # idle and iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def postmaster_pid() -> int | None:
    """The PostgreSQL server's process when it runs on this machine, else None."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (backend,) = cursor.fetchone()
    try:
        return int(Path(f"/proc/{backend}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except OSError:  # the database is on another machine
        return None


# Each worker leaves a file once it has loaded the app, so the run starts with every worker
# booted (booting costs about a second of CPU each, which would count against the first seconds).
READY_HOOK = """
import os
import random
def post_worker_init(worker):
    try:
        open(os.path.join(os.environ["BENCH_READY_DIR"], str(worker.pid)), "w").close()
    except OSError:  # a worker restarted after the start, once the folder is gone
        pass
"""


def start_gunicorn(workers: int, threads: int, extra: list[str], ready: Path) -> subprocess.Popen:
    """gunicorn on PORT, returned once all its workers have loaded the app."""
    hook = ready / "hook.py"
    hook.write_text(READY_HOOK)
    env = {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": os.environ.get("SECRET_KEY", "bench"),
        "ALLOWED_HOSTS": "127.0.0.1",
        "LOG_LEVEL": "WARNING",
        "BENCH_READY_DIR": str(ready),
    }
    command = [sys.executable, "-m", "gunicorn", "config.wsgi", "-c", str(hook)]
    command += ["-b", f"127.0.0.1:{PORT}", "-w", str(workers), "--log-level", "warning"]
    # One thread: sync workers, each answering one request at a time as it takes it from the
    # shared socket (the production Procfile's kind). More: gthread, keeping connections open.
    if threads > 1:
        command += ["--worker-class", "gthread", "--threads", str(threads)]
    else:
        command += ["--worker-class", "sync"]
    command += extra
    process = subprocess.Popen(command, cwd=ROOT, env=env)
    for _ in range(600):
        if len(list(ready.iterdir())) > workers:  # the hook and one file per worker
            return process
        if process.poll() is not None:
            break
        time.sleep(0.1)
    process.kill()
    raise SystemExit("gunicorn did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=100_000)
    parser.add_argument("--annotators", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument(
        "--warmup", type=float, default=3, help="seconds run before the measured ones"
    )
    parser.add_argument("--gunicorn-workers", type=int, default=4)
    parser.add_argument(
        "--gunicorn-threads",
        type=int,
        default=1,
        help="1 (default): sync workers; more: gthread workers with this many threads each",
    )
    parser.add_argument(
        "--gunicorn-arg",
        action="append",
        default=[],
        help="another gunicorn option, e.g. --gunicorn-arg=--keep-alive=5 (repeatable)",
    )
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    parser.add_argument(
        "--one-trip", action="store_true", help="judge with judgement?next=1 (one request each)"
    )
    parser.add_argument(
        "--think-ms",
        type=float,
        default=0,
        help="mean pause (exponential) before each judgement, as an annotator reads the pair;"
        " 0 (default): a closed loop with no pause, which measures the server's saturation",
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
    postmaster = postmaster_pid()
    with tempfile.TemporaryDirectory() as ready:
        server = start_gunicorn(
            args.gunicorn_workers, args.gunicorn_threads, args.gunicorn_arg, Path(ready)
        )
    meter = CpuMeter(server.pid, postmaster, settings.DATABASES["default"]["NAME"])
    measure_from = time.monotonic() + args.warmup
    deadline = measure_from + args.seconds
    clients = [Client(token, slug, measure_from, args.think_ms) for token in tokens]
    threads = [
        threading.Thread(target=c.run, args=(deadline,), kwargs={"one_trip": args.one_trip})
        for c in clients
    ]
    for thread in threads:
        thread.start()
    time.sleep(max(0.0, measure_from - time.monotonic()))
    meter.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - measure_from
    cpu = meter.finish()
    server.terminate()
    server.wait()
    acknowledged = [cid for c in clients for cid in c.acknowledged]
    measured = sum(c.measured for c in clients)
    stored = Judgement.objects.filter(pair__project__slug=slug).exclude(client_id__in=before)
    stored_ids = list(stored.values_list("client_id", flat=True))
    over = Pair.objects.filter(project__slug=slug, judgement_count__gt=1).count()
    next_ms = [v for c in clients for v in c.next_ms]
    judge_ms = [v for c in clients for v in c.judge_ms]
    round_ms = [v for c in clients for v in c.round_ms]
    print(
        f"# annotate load: {args.annotators} annotators, {args.seconds:.0f} s "
        f"(after {args.warmup:.0f} s of warm-up), {engine}, "
        f"{args.pairs} pairs, gunicorn {args.gunicorn_workers} workers x "
        f"{args.gunicorn_threads} thread(s), "
        f"{os.cpu_count()} cores"
        + (", one request per judgement" if args.one_trip else "")
        + (f", {args.think_ms:.0f} ms mean pause before each judgement" if args.think_ms else "")
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
        "judgements_per_s": measured / elapsed,
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
        f"\njudgements/s: {figures['judgements_per_s']:.1f} ({measured} in the {elapsed:.0f} s "
        f"after the warm-up); acknowledged {len(acknowledged)}, "
        f"stored {len(stored_ids)}, doubled {figures['doubled']}, lost {figures['lost']}, "
        f"pairs over target {over}, errors {len(errors)} {sorted(set(errors))[:5]}"
    )
    per = {name: 1000 * value / max(1, measured) for name, value in cpu.items()}
    others = per["box"] - per["client"] - per["gunicorn"] - per["database"]
    print(
        f"CPU ms per judgement: gunicorn {per['gunicorn']:.1f}, database "
        f"{per['database']:.1f}, client {per['client']:.1f}; the whole box {per['box']:.1f} "
        f"(everything else {others:.1f}); box busy {cpu['box'] / elapsed:.2f} of "
        f"{os.cpu_count()} cores"
    )
    if not args.think_ms and measured:
        # A closed loop with no pause keeps every annotator waiting on the server, so the mean
        # latency is annotators / throughput (Little's law): 64 annotators under 150 ms would
        # need over 426 judgements/s.
        print(
            f"closed loop: mean latency = annotators / throughput ="
            f" {1000 * args.annotators / figures['judgements_per_s']:.0f} ms"
        )
    figures.update({f"cpu_ms_{name}": value for name, value in per.items()})
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
