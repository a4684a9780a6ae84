"""`bin/serve` as a user runs it: it restarts what dies and stops everything within 10 s."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, wait_until

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _web_answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/login/", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _pids(log: Path, name: str) -> list[int]:
    return [int(p) for p in re.findall(rf"{name} started \(pid (\d+)\)", log.read_text())]


def _gone(pid: int) -> bool:
    """True when no process of the child's group is left (a worker's pool included)."""
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return True
    return False


class Serve:
    def __init__(self, tmp_path: Path) -> None:
        self.port = _free_port()
        self.log = tmp_path / "serve.log"
        env = {
            **os.environ,
            "DEBUG": "true",
            "VAR_DIR": str(tmp_path / "var"),
            "PORT": str(self.port),
        }
        # The embedded mode is what bin/serve is for.
        env.pop("DATABASE_URL", None)
        env.pop("CELERY_BROKER_URL", None)
        with self.log.open("w") as out:
            # Its own session, like a terminal's foreground job: signals to the group reach
            # bin/serve and nothing of this test run.
            self.process = subprocess.Popen(
                [str(ROOT / "bin" / "serve")],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self) -> None:
        wait_until(lambda: _web_answers(self.port), timeout=120, what="web server")
        wait_until(lambda: "ready." in self.log.read_text(), timeout=120, what="worker")
        wait_until(lambda: "beat: Starting" in self.log.read_text(), timeout=120, what="beat")

    def children(self) -> list[int]:
        return [pid for name in ("web", "worker", "beat") for pid in _pids(self.log, name)]

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        for pid in self.children():
            if not _gone(pid):
                os.killpg(pid, signal.SIGKILL)


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Serve]:
    running = Serve(tmp_path)
    try:
        yield running
    finally:
        running.kill()


def test_a_worker_that_dies_is_restarted_and_the_console_says_so(serve: Serve) -> None:
    # given
    serve.wait_ready()
    [worker] = _pids(serve.log, "worker")
    # when
    os.killpg(worker, signal.SIGKILL)
    # then
    wait_until(lambda: len(_pids(serve.log, "worker")) == 2, timeout=60, what="restart")
    assert "worker exited (status -9); restarting in 1 s" in serve.log.read_text()
    wait_until(lambda: serve.log.read_text().count("ready.") == 2, timeout=120, what="worker")


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm-to-group", "sigterm-to-serve"])
def test_every_way_of_stopping_stops_web_worker_and_beat_within_10_s(
    serve: Serve, how: str
) -> None:
    # given
    serve.wait_ready()
    children = serve.children()
    assert len(children) == 3
    # when
    if how == "ctrl-c":
        os.killpg(serve.process.pid, signal.SIGINT)
    elif how == "sigterm-to-group":
        os.killpg(serve.process.pid, signal.SIGTERM)
    else:
        serve.process.send_signal(signal.SIGTERM)
    # then
    assert serve.process.wait(timeout=10) == 0
    assert all(_gone(pid) for pid in children), serve.log.read_text()[-2000:]
