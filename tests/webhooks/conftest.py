"""A real HTTP receiver on loopback that records what it is sent, and webhook settings."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.contrib.auth.models import User

from annotate.judging.queue import lease_next_pair
from annotate.judging.recording import Recorded, record_judgement
from annotate.models import Project
from tests.conftest import tasks_routed_to


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """An `http.server` on 127.0.0.1 that answers `status` and records every request.

    `stop()` closes its socket (connections are refused), `start()` listens on the same port.
    """

    port: int = 0
    status: int = 204
    received: list[Received] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.received.append(Received(self.path, dict(self.headers.items()), body))
                self.send_response(receiver.status)
                if 300 <= receiver.status < 400:
                    self.send_header("Location", "http://127.0.0.1:9/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def wait_for(self, count: int, timeout: float = 30) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.received)} of {count} requests received")
            time.sleep(0.05)
        return self.received


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    receiver.start()
    yield receiver
    receiver.stop()


@pytest.fixture
def webhook_settings(settings: Any, receiver: Receiver) -> Any:
    """The receiver's host allowed; retries a few milliseconds apart; pause after 2 failures."""
    settings.OUTBOUND_HOSTS = [receiver.host]
    settings.WEBHOOK_BACKOFF_SECONDS = 0.01
    settings.WEBHOOK_MAX_BACKOFF_SECONDS = 0.05
    settings.WEBHOOK_MAX_ATTEMPTS = 3
    settings.WEBHOOK_PAUSE_AFTER_FAILURES = 2
    settings.WEBHOOK_TIMEOUT_SECONDS = 2
    settings.WEBHOOK_RESEND_SECONDS = 1
    return settings


@pytest.fixture
def unread_queue() -> Iterator[None]:
    """Tests that call the task functions themselves send the tasks where no worker reads."""
    with tasks_routed_to("webhooks.tasks.*", "webhooks-unread"):
        yield


def judge(project: Project, annotator: User, *, choice: str = "left") -> Recorded:
    """Lease the annotator's next pair and judge it."""
    assignment = lease_next_pair(annotator, project)
    assert assignment is not None, "no pair left to judge"
    return record_judgement(
        assignment.pk, annotator, choice=choice, client_id=f"c-{assignment.pk}-{time.time()}"
    )
