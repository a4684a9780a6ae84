"""Real servers on loopback for generation tests: `transformers serve`, and a fault server.

The fault server speaks the chat-completions protocol under `/<name>/v1/chat/completions`. It
forwards to an upstream (the `transformers serve` process) or, with none, answers itself; the
test decides which calls fail and how (429 with Retry-After, 500, a hang past the timeout,
malformed JSON).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

FAULTS = ("429", "500", "hang", "malformed")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def transformers_server(model_dir: str, log: Path) -> Iterator[str]:
    """`transformers serve` on loopback with the local model; yields its base URL (…/v1)."""
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    cli = Path(sys.executable).parent / "transformers"
    argv = [str(cli), "serve", model_dir, "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--device", "cpu", "--log-level", "warning"]
    with log.open("w") as out:
        process = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    message = "transformers serve did not start:\n" + log.read_text()
                    raise AssertionError(message) from None
                time.sleep(0.3)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        process.terminate()
        process.wait(timeout=30)


@dataclass
class FaultPlan:
    """Which calls fail: `fail(n)` gets the 1-based call number and returns a fault or None."""

    fail: Callable[[int], str | None] = lambda n: None
    retry_after: str = "1"
    hang_s: float = 5.0
    calls: int = 0
    # Requests being answered now, and the most there ever were at once.
    in_flight: int = 0
    most_in_flight: int = 0
    faults: dict[str, int] = field(default_factory=dict)
    bodies: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _canned(body: dict[str, Any]) -> dict[str, Any]:
    text = "echo: " + str(body.get("messages", [{}])[-1].get("content", ""))
    if "seed" in body:
        text += f" #{body['seed']}"
    return {
        "id": "canned",
        "object": "chat.completion",
        "created": 0,
        "model": body.get("model", ""),
        "choices": [
            {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
    }


def _handler(plan: FaultPlan, upstream: str | None) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        answering = False

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
            with plan.lock:
                plan.calls += 1
                number = plan.calls
                plan.bodies.append(body)
                plan.headers.append({k.lower(): v for k, v in self.headers.items()})
                plan.in_flight += 1
                plan.most_in_flight = max(plan.most_in_flight, plan.in_flight)
            self.answering = True
            try:
                self._answer(number, body)
            finally:
                self._answered()

        def _answered(self) -> None:
            """No longer in flight: called before the answer is written, so a client that
            waits for it cannot be counted as overlapping with it."""
            with plan.lock:
                if self.answering:
                    self.answering = False
                    plan.in_flight -= 1

        def _answer(self, number: int, body: dict[str, Any]) -> None:
            fault = plan.fail(number)
            if fault is not None:
                with plan.lock:
                    plan.faults[fault] = plan.faults.get(fault, 0) + 1
                self._fault(fault)
                return
            if upstream is None:
                self._send(200, json.dumps(_canned(body)).encode())
                return
            request = urllib.request.Request(
                upstream + "/chat/completions",
                data=json.dumps(body).encode(),
                headers={"content-type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=60) as answer:
                self._send(answer.status, answer.read())

        def _fault(self, fault: str) -> None:
            if fault == "429":
                error = b'{"error": {"message": "slow down"}}'
                self._send(429, error, {"Retry-After": plan.retry_after})
            elif fault == "500":
                self._send(500, b'{"error": {"message": "boom"}}')
            elif fault == "hang":
                time.sleep(plan.hang_s)
                self._send(200, json.dumps(_canned({})).encode())
            elif fault == "malformed":
                self._send(200, b'{"choices": [ this is not json')
            elif fault == "400":
                self._send(400, b'{"error": {"message": "unknown model"}}')
            else:
                raise AssertionError(f"unknown fault {fault}")

        def _send(self, status: int, data: bytes, headers: dict[str, str] | None = None) -> None:
            self._answered()
            try:
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (its timeout); that is the point of a hang

    return Handler


@contextmanager
def fault_server(plan: FaultPlan, upstream: str | None = None) -> Iterator[str]:
    """A threaded fault server on loopback; yields its root URL (add `/<name>/v1`)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(plan, upstream))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
