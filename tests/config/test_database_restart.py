"""PostgreSQL restarted under a burst of judgements through gunicorn (DEBUG off, two workers):
every judgement the API acknowledged is stored exactly once, and the running server serves
again once the database is back, without being restarted.

It restarts the database, so it brings its own: a private PostgreSQL cluster made with initdb
and pg_ctl in a temporary folder (the suite's own database, SQLite or PostgreSQL, is not used).
Skipped when the PostgreSQL server binaries are not installed.
"""

from __future__ import annotations

import glob
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.conftest import ROOT, _wait_for

pytestmark = pytest.mark.slow

ANNOTATORS = 4
JUDGEMENTS_EACH = 25  # the restart comes after a quarter of them were acknowledged


def _pg_bin() -> Path | None:
    """The folder of initdb and pg_ctl: Debian's versioned one, else the PATH's."""
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(folder) / "initdb").exists() and (Path(folder) / "pg_ctl").exists():
            return Path(folder)
    found = shutil.which("initdb")
    return Path(found).parent if found and shutil.which("pg_ctl") else None


def _cluster_user() -> str | None:
    """initdb refuses root: as root the cluster runs as `postgres` (None: as ourselves)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("running as root and there is no postgres user to run a cluster as")
    return "postgres"


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Cluster:
    """A throwaway PostgreSQL server on 127.0.0.1:`port`, trust auth, data in `data`."""

    def __init__(self, bin_dir: Path, data: Path, port: int, user: str | None) -> None:
        self.bin_dir, self.data, self.port, self.user = bin_dir, data, port, user
        self.url = f"postgres://postgres@127.0.0.1:{port}/prefloop"

    def run(self, *argv: str, check: bool = True) -> None:
        command = [str(self.bin_dir / argv[0]), *argv[1:]]
        if self.user:
            command = ["runuser", "-u", self.user, "--", *command]
        subprocess.run(command, check=check, capture_output=True, timeout=60)

    def pg_ctl(self, action: str, *extra: str, check: bool = True) -> None:
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.data}"
        log = str(self.data / "log")
        self.run("pg_ctl", "-D", str(self.data), "-l", log, "-w", "-o", options, action, *extra,
                 check=check)  # fmt: skip


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    bin_dir = _pg_bin()
    if bin_dir is None:
        pytest.skip("needs the PostgreSQL server binaries (initdb, pg_ctl) to restart a database")
    user = _cluster_user()
    # Not under pytest's tmp_path: as root that folder is closed to the postgres user.
    data = Path(tempfile.mkdtemp(prefix="prefloop-pg-"))
    if user:
        shutil.chown(data, user)
    cluster = Cluster(bin_dir, data, _free_port(), user)
    try:
        cluster.run("initdb", "-D", str(data), "-A", "trust", "-U", "postgres")
        cluster.pg_ctl("start")
        with psycopg.connect(cluster.url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as db:
            db.execute("CREATE DATABASE prefloop")
        yield cluster
    finally:
        cluster.pg_ctl("stop", "-m", "immediate", check=False)
        shutil.rmtree(data, ignore_errors=True)


# Run in a fresh interpreter on the private database: migrate, a project with pending pairs,
# and one token per annotator.
SETUP = """
import json, sys, tempfile
from pathlib import Path
import django
django.setup()
from django.contrib.auth import get_user_model
from django.core.management import call_command
from rest_framework.authtoken.models import Token
from annotate.importing.pipeline import import_file
from annotate.projects.lifecycle import create_project
from annotate.projects.members import set_member
from annotate.signals import responses_imported

call_command("migrate", verbosity=0)
responses_imported.disconnect(dispatch_uid="rewards-embed-ahead")  # no worker here
project = create_project(slug="restart", lease_seconds=600)
path = Path(tempfile.mkdtemp()) / "pairs.jsonl"
path.write_text("".join(
    json.dumps({"prompt": f"p{i}", "response_a": f"a{i}", "response_b": f"b{i}"}) + "\\n"
    for i in range(int(sys.argv[1]))
))
import_file(project, path, labels="ignore")
tokens = []
for n in range(int(sys.argv[2])):
    user = get_user_model().objects.create_user(f"annotator{n}")
    set_member(project, username=user.username, role="annotator")
    tokens.append(Token.objects.create(user=user).key)
print(json.dumps(tokens))
"""


@pytest.fixture
def server(cluster: Cluster, tmp_path: Path) -> Iterator[tuple[str, list[str]]]:
    """gunicorn as the Procfile runs it (two workers), on the private database."""
    port = _free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "false",
        "SECRET_KEY": "database-restart-test-key",
        "ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": cluster.url,
        "VAR_DIR": str(tmp_path / "var"),
        "STATIC_ROOT": str(tmp_path / "static"),
        "PORT": str(port),
        "WEB_CONCURRENCY": "2",
    }
    # The broker goes to this test's own VAR_DIR (nothing is sent, but none may be shared).
    env.pop("CELERY_BROKER_URL", None)
    made = subprocess.run(
        [sys.executable, "-c", SETUP, str(ANNOTATORS * JUDGEMENTS_EACH * 2), str(ANNOTATORS)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert made.returncode == 0, made.stderr[-3000:]
    tokens = json.loads(made.stdout.strip().splitlines()[-1])
    web = next(line for line in (ROOT / "Procfile").read_text().splitlines() if line[:4] == "web:")
    log = tmp_path / "gunicorn.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            ["bash", "-c", "exec " + web.split(": ", 1)[1]],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        answering = lambda: _call(base, "GET", "/api/projects/", tokens[0])[0] == 200  # noqa: E731
        _wait_for(answering, timeout=60, what="gunicorn", log=log)
        yield base, tokens
        assert process.poll() is None, "gunicorn exited"
    finally:
        process.terminate()
        process.wait(timeout=30)


def _call(base: str, method: str, path: str, token: str, body: Any = None) -> tuple[int, Any]:
    """(status, JSON body); status 0 when the server did not answer."""
    request = urllib.request.Request(
        base + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        return exc.code, None
    except OSError:
        return 0, None


class Annotator(threading.Thread):
    """Leases and judges `JUDGEMENTS_EACH` pairs, retrying a failed call with the same body
    (the judgement's client_id makes a retry safe) until it is acknowledged."""

    def __init__(self, base: str, token: str, deadline: float) -> None:
        super().__init__(daemon=True)
        self.base, self.token, self.deadline = base, token, deadline
        self.acknowledged: list[str] = []
        self.failures = 0

    def until_answered(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        while time.monotonic() < self.deadline:
            status, answer = _call(self.base, method, path, self.token, body)
            if status and status < 500:
                return status, answer
            self.failures += 1
            time.sleep(0.05)
        raise TimeoutError(f"{path} never answered")

    def run(self) -> None:
        while len(self.acknowledged) < JUDGEMENTS_EACH:
            status, lease = self.until_answered("POST", "/api/projects/restart/next", {})
            assert status == 200, status
            client_id = uuid.uuid4().hex
            judgement = {"choice": "left", "duration_ms": 900, "client_id": client_id}
            path = f"/api/assignments/{lease['assignment']}/judgement"
            status, _ = self.until_answered("POST", path, judgement)
            assert status in (200, 201), status
            self.acknowledged.append(client_id)


def test_a_database_restart_mid_burst_loses_and_doubles_no_judgement(
    cluster: Cluster, server: tuple[str, list[str]]
) -> None:
    # given: annotators judging as fast as the server answers
    base, tokens = server
    annotators = [Annotator(base, token, time.monotonic() + 120) for token in tokens]
    for annotator in annotators:
        annotator.start()
    _wait_for(
        lambda: sum(len(a.acknowledged) for a in annotators) >= ANNOTATORS * JUDGEMENTS_EACH / 4,
        timeout=60,
        what="the first judgements",
    )
    # when: PostgreSQL restarts under them (fast: open connections are cut)
    cluster.pg_ctl("restart", "-m", "fast")
    for annotator in annotators:
        annotator.join(timeout=130)
    # then: everyone finished, and each acknowledged judgement is stored exactly once
    assert not any(a.is_alive() for a in annotators)
    acknowledged = [cid for a in annotators for cid in a.acknowledged]
    assert len(acknowledged) == ANNOTATORS * JUDGEMENTS_EACH
    with psycopg.connect(cluster.url) as db:
        rows = db.execute("SELECT client_id, count(*) FROM annotate_judgement GROUP BY 1")
        stored: dict[str, int] = dict(rows.fetchall())
    assert set(acknowledged) <= set(stored)
    assert set(stored.values()) == {1}
    # and the same server answers again, without a restart
    assert _call(base, "GET", "/api/projects/", tokens[0])[0] == 200
