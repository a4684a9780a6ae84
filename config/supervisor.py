"""`bin/serve`: the web server, a Celery worker and beat, supervised.

A child that dies is started again after a back-off (1 s, doubling to 30 s; a child that ran a
minute starts over at 1 s), and the console says so. Ctrl-C, SIGTERM to the process group, or
SIGTERM to this process alone stop all three within STOP_SECONDS: each child gets SIGTERM
(warm shutdown: Celery finishes or requeues its tasks), then the ones still there are stopped
cold, then killed. The children run in their own sessions so that a terminal's Ctrl-C reaches
this process only and the stop follows this one timeline.

Standard library only: it must start even when the project cannot (that is what it reports).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from types import FrameType

logger = logging.getLogger("prefloop")

# Warm shutdown gets this long, cold shutdown the rest of STOP_SECONDS, then SIGKILL.
WARM_SECONDS = 5.0
STOP_SECONDS = 8.0
BACKOFF_MAX_SECONDS = 30.0
# A child that ran this long before dying starts over at the shortest back-off.
STABLE_SECONDS = 60.0


@dataclass
class Child:
    name: str
    argv: list[str]
    # Celery stops cold on SIGQUIT; Django's server has no warm stop to skip.
    cold_signal: int = signal.SIGQUIT
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    failures: int = 0
    restart_at: float | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(self.argv, start_new_session=True)
        self.started_at = time.monotonic()
        self.restart_at = None
        logger.info("%s started (pid %s)", self.name, self.process.pid)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal(self, signum: int) -> None:
        """Signal the child alone: a Celery worker stops its own pool processes."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signum)

    def signal_group(self, signum: int) -> None:
        """Signal the child and everything it started (a worker's pool processes)."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signum)


def children(port: int, queues: str, concurrency: int) -> list[Child]:
    python = sys.executable
    celery = [python, "-m", "celery", "-A", "config"]
    return [
        Child(
            "web",
            [python, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
            cold_signal=signal.SIGKILL,
        ),
        Child(
            "worker",
            [*celery, "worker", "--loglevel", "INFO", "--queues", queues]
            + ["--concurrency", str(concurrency)],
        ),
        Child("beat", [*celery, "beat", "--loglevel", "INFO"]),
    ]


class Supervisor:
    def __init__(self, kids: list[Child]) -> None:
        self.kids = kids
        self.stopping = False

    def request_stop(self, signum: int, _frame: FrameType | None) -> None:
        if not self.stopping:
            logger.info("%s received: stopping web, worker and beat", signal.Signals(signum).name)
        self.stopping = True

    def run(self) -> int:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, self.request_stop)
        for kid in self.kids:
            kid.start()
        while not self.stopping:
            self.tend(time.monotonic())
            time.sleep(0.2)
        self.stop()
        return 0

    def tend(self, now: float) -> None:
        """Notice children that died and start them again when their back-off is over."""
        for kid in self.kids:
            if kid.restart_at is not None:
                if now >= kid.restart_at:
                    kid.start()
                continue
            if kid.alive() or kid.process is None:
                continue
            code = kid.process.returncode
            kid.failures = 1 if now - kid.started_at >= STABLE_SECONDS else kid.failures + 1
            delay = min(BACKOFF_MAX_SECONDS, 2.0 ** (kid.failures - 1))
            kid.restart_at = now + delay
            logger.warning("%s exited (status %s); restarting in %.0f s", kid.name, code, delay)

    def stop(self) -> None:
        """Warm stop, then cold, then kill: everything is gone within STOP_SECONDS."""
        started = time.monotonic()
        for kid in self.kids:
            kid.signal(signal.SIGTERM)
        self._wait(started + WARM_SECONDS)
        for kid in self.kids:
            if kid.alive():
                logger.warning(
                    "%s still running after %.0f s: stopping it cold", kid.name, WARM_SECONDS
                )
                kid.signal(kid.cold_signal)
        self._wait(started + STOP_SECONDS)
        for kid in self.kids:
            # Also reaches pool processes left behind by a worker that has exited.
            kid.signal_group(signal.SIGKILL)
        for kid in self.kids:
            if kid.process is not None:
                kid.process.wait()
        logger.info("stopped in %.1f s", time.monotonic() - started)

    def _wait(self, deadline: float) -> None:
        while time.monotonic() < deadline and any(kid.alive() for kid in self.kids):
            time.sleep(0.1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="prefloop: %(message)s", stream=sys.stderr)
    named = {os.environ.get(name, "") for name in ("REWARDS_QUEUE", "REWARDS_FINETUNE_QUEUE")}
    queues = ",".join(sorted({"default", *named} - {""}))
    supervisor = Supervisor(children(args.port, queues, args.concurrency))
    logger.info("http://127.0.0.1:%s/  (Ctrl-C stops web, worker and beat)", args.port)
    return supervisor.run()


if __name__ == "__main__":
    sys.exit(main())
