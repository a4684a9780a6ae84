"""Personas (admin, annotator, second annotator, outsider), a project, and a real worker."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, ExitStack, contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.http import StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.utils import timezone
from rest_framework.test import APIClient

from annotate.models import Project, Role
from annotate.projects.members import set_member
from tests.factories import make_project

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    """PBKDF2 costs ~0.3 s a user on this CPU; tests do not need a slow hash."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _plain_static_files(settings: Any) -> None:
    """Pages render without collectstatic's manifest (production mode has its own test)."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(autouse=True)
def _empty_cache() -> None:
    """Cached counts must not leak between tests (ids repeat after a rollback)."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def admin(django_user_model: type[User]) -> User:
    """Admin of `project` (not a superuser)."""
    return django_user_model.objects.create_user("alice", password="alice-pass")


@pytest.fixture
def annotator(django_user_model: type[User]) -> User:
    return django_user_model.objects.create_user("bob", password="bob-pass")


@pytest.fixture
def second_annotator(django_user_model: type[User]) -> User:
    return django_user_model.objects.create_user("carol", password="carol-pass")


@pytest.fixture
def outsider(django_user_model: type[User]) -> User:
    """Should have no access to the project."""
    return django_user_model.objects.create_user("charlie", password="charlie-pass")


@pytest.fixture
def project(admin: User, annotator: User, second_annotator: User) -> Project:
    project = make_project("proj", admin=admin)
    set_member(project, username=annotator.username, role=Role.ANNOTATOR)
    set_member(project, username=second_annotator.username, role=Role.ANNOTATOR)
    return project


@pytest.fixture
def api() -> APIClient:
    return APIClient()


def client_for(user: User | None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def streamed(response: HttpResponseBase) -> bytes:
    """A streamed response's body; the test fails if the response is not streamed."""
    assert isinstance(response, StreamingHttpResponse), "the response is not streamed"
    return response.getvalue()


def _database_url() -> str:
    """A URL for the test database that the worker process can open."""
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture(scope="session")
def tiny_backbone(tmp_path_factory: Any) -> str:
    """A random-init BERT with a word-level tokenizer, built locally in about a second."""
    from rewards.ml.testing import build_tiny_backbone

    return str(build_tiny_backbone(tmp_path_factory.mktemp("tiny-backbone")))


@pytest.fixture(scope="session")
def celery_worker_process(
    django_db_setup: Any, tmp_path_factory: Any, tiny_backbone: str
) -> Iterator[Path]:
    """A real `celery worker` process on the test database and the configured broker.

    It trains on the tiny local backbone, with its own embedding cache.
    """
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "REWARDS_BACKBONE": tiny_backbone,
        "REWARDS_CACHE_DIR": str(tmp_path_factory.mktemp("embeddings")),
    }
    named = {settings.REWARDS_QUEUE, settings.REWARDS_FINETUNE_QUEUE}
    queues = ",".join(sorted({"default", *named} - {""}))
    # Messages left by earlier runs name rows that no longer exist.
    subprocess.run(
        [sys.executable, "-m", "celery", "-A", "config", "purge", "-f", "-Q", queues],
        cwd=ROOT,
        env=env,
        capture_output=True,
        check=False,
        timeout=60,
    )
    with log.open("w") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--pool",
                "solo",
                "--queues",
                queues,
                "--loglevel",
                "INFO",
                "--without-heartbeat",
                "--without-gossip",
                "--without-mingle",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_for(lambda: "ready." in log.read_text(), timeout=90, what="celery worker", log=log)
        yield log
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: Any) -> Iterator[str]:
    """An S3-compatible server on loopback (moto's server mode); yields its endpoint URL.

    It accepts any credentials; each test makes a bucket of its own.
    """
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = tmp_path_factory.mktemp("s3") / "moto.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        _wait_for(lambda: "Running on" in log.read_text(), timeout=60, what="moto", log=log)
        yield endpoint
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture
def celery_worker(celery_worker_process: Path) -> Iterator[Path]:
    """The real worker, left idle at the end of the test.

    A task still writing (e.g. the embed-ahead a test's import queued, a statistic a read
    queued, or the purge of a deleted project) would otherwise race the database flush that
    ends a transactional test.
    """
    yield celery_worker_process
    from annotate.models import ImportJob, Project, StatisticsSnapshot
    from rewards.models import EmbeddingRun, TrainingRun

    live = ["queued", "running"]

    def idle() -> bool:
        recent = timezone.now() - timedelta(seconds=30)
        return not (
            ImportJob.objects.filter(status__in=live).exists()
            or EmbeddingRun.objects.filter(status__in=live).exists()
            or TrainingRun.objects.filter(status__in=live).exists()
            # a statistic a read queued lately: its computation writes the snapshot when it
            # ends (one queued where no worker reads, or with the broker down, stops counting)
            or StatisticsSnapshot.objects.filter(requested_at__gt=recent).exists()
            # a project deleted lately: the worker deletes its rows, then the project itself
            or Project.objects.filter(deleted_at__gt=recent).exists()
        )

    _wait_for(idle, timeout=120, what="idle worker", log=celery_worker_process)


@contextmanager
def tasks_routed_to(tasks: str, queue: str) -> Iterator[None]:
    """Send the tasks matching `tasks` to `queue`, which the shared test worker does not read."""
    from config.celery import app as celery_app

    saved = celery_app.conf.task_routes
    celery_app.conf.update(task_routes={tasks: {"queue": queue}})
    try:
        yield
    finally:
        celery_app.conf.update(task_routes=saved)


def rewards_routed_to(queue: str) -> AbstractContextManager[None]:
    """Send rewards tasks to `queue`, which the shared test worker does not read."""
    return tasks_routed_to("rewards.tasks.*", queue)


@contextmanager
def dedicated_worker(
    tmp_path: Path, name: str, queue: str, **env: str
) -> Iterator[subprocess.Popen[bytes]]:
    """A real worker of its own on `queue` (a test may kill it), killed at the end."""
    log = tmp_path / f"{name}.log"
    environment = {**os.environ, "DATABASE_URL": _database_url(), **env}
    argv = [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo"]
    argv += ["-n", f"{name}@%h", "--queues", queue, "--loglevel", "INFO", "--without-gossip"]
    with log.open("w") as out:
        process = subprocess.Popen(
            argv, cwd=ROOT, env=environment, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        _wait_for(lambda: "ready." in log.read_text(), timeout=120, what=name, log=log)
        yield process
    finally:
        process.kill()
        process.wait()


@contextmanager
def together(*managers: AbstractContextManager[Any]) -> Iterator[list[Any]]:
    """Enter the managers at once, each in a thread (each starts a process and waits for it to
    be ready: the waits overlap); their values in order. All are exited at the end."""
    with ExitStack() as stack, ThreadPoolExecutor(len(managers)) as pool:
        yield list(pool.map(stack.enter_context, managers))


def _wait_for(condition: Any, *, timeout: float, what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    tail = log.read_text()[-3000:] if log else ""
    raise AssertionError(f"{what} not ready after {timeout}s\n{tail}")


def wait_until(condition: Any, *, timeout: float = 60, what: str = "condition") -> None:
    """Poll `condition` until it is truthy; fail with `what` after `timeout` seconds."""
    _wait_for(condition, timeout=timeout, what=what)
