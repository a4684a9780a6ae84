"""The embedded broker: a malformed message is logged and skipped; the worker keeps working."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from kombu import Connection

from config.celery import app as celery_app
from tests.conftest import ROOT, _database_url, _wait_for, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def broker_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqla+sqlite:///{tmp_path_factory.mktemp('broker') / 'broker.sqlite3'}"


@pytest.fixture(scope="module")
def module_worker(
    tmp_path_factory: pytest.TempPathFactory, broker_url: str, django_db_setup: None
) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """One worker for the module (each start costs seconds) on its own embedded broker."""
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    env = {**os.environ, "CELERY_BROKER_URL": broker_url, "DATABASE_URL": _database_url()}
    argv = [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo"]
    argv += ["--queues", "default", "--loglevel", "INFO", "--without-gossip", "--without-mingle"]
    with log.open("w") as out:
        process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: "ready." in log.read_text(), timeout=120, what="worker")
        yield process, log
    finally:
        process.kill()
        process.wait()


class WorkerLog:
    """The worker's log from where this test began."""

    def __init__(self, path: Path) -> None:
        self.path, self.start = path, len(path.read_text())

    def read_text(self) -> str:
        return self.path.read_text()[self.start :]


@pytest.fixture
def worker_log(
    module_worker: tuple[subprocess.Popen[bytes], Path], transactional_db: None
) -> Iterator[WorkerLog]:
    """The module's worker, which must still be alive when the test ends."""
    process, path = module_worker
    yield WorkerLog(path)
    assert process.poll() is None, "the worker died:\n" + path.read_text()[-3000:]


def _enqueue_raw(database: Path, payload: bytes) -> None:
    """Put a row in the default queue as a broken producer or a torn write would."""
    with sqlite3.connect(database) as db:
        [queue_id] = db.execute("SELECT id FROM kombu_queue WHERE name = 'default'").fetchone()
        db.execute(
            "INSERT INTO kombu_message (visible, timestamp, payload, version, queue_id) "
            "VALUES (1, '2000-01-01 00:00:00', ?, 1, ?)",
            (payload, queue_id),
        )


@pytest.mark.parametrize("payload", [b"", b'{"body": "half a mess', b'{"not": "a message"}'])
def test_a_malformed_message_is_skipped_and_later_tasks_still_run(
    worker_log: WorkerLog, broker_url: str, payload: bytes
) -> None:
    database = Path(broker_url.removeprefix("sqla+sqlite:///"))
    # given: the worker met a bad row
    _enqueue_raw(database, payload)
    _wait_for(
        lambda: "skipped a" in worker_log.read_text(), timeout=60, what="skip", log=worker_log.path
    )
    # when
    # An explicit connection: CELERY_BROKER_URL in the environment (CI's Redis) would win over
    # an app's broker setting.
    with Connection(broker_url) as connection:
        celery_app.send_task(
            "rewards.tasks.purge_score_requests_task", queue="default", connection=connection
        )
    # then: the task after it ran, and the worker lives on (checked by the fixture)
    _wait_for(
        lambda: (
            "purge_score_requests_task" in worker_log.read_text()
            and "succeeded" in worker_log.read_text()
        ),
        timeout=60,
        what="the next task",
        log=worker_log.path,
    )
    # and taken messages leave no rows behind
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT count(*) FROM kombu_message").fetchone() == (0,)
