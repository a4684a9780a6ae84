"""The task broker unreachable when work is queued: the request still answers (202 for new work),
says the work waits for the workers, loses nothing, and the work starts once the broker is back.

This process sends to a Redis nobody listens on (refused at once); the real worker reads the
configured broker. With a `redis-server` binary, a last test stops and restarts a private Redis
under a worker of its own.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from annotate.models import ImportJob, Pair, Project
from annotate.tasks import import_file_task, recover_imports_task
from config.celery import WAITING_FOR_WORKERS, app, try_send
from rewards.models import RewardModel, TrainingRun
from rewards.runs import resend_waiting_runs
from tests.conftest import _wait_for, client_for, dedicated_worker, wait_until
from tests.factories import pair_rows, write_jsonl

# On-commit sends run inside the request only when the request's transaction really commits.
pytestmark = pytest.mark.django_db(transaction=True)

UNREACHABLE = "redis://127.0.0.1:1/0"


@contextmanager
def broker_at(url: str) -> Iterator[None]:
    """Send this process's tasks to `url`; the app's cached connection pools are swapped too."""
    celery: Any = app  # the pools are private attributes, absent from the stubs
    conf = celery.conf
    saved = (conf.broker_url, conf.broker_transport_options)
    pools = (celery._pool, celery.amqp._producer_pool)
    conf.update(broker_url=url, broker_transport_options={"socket_connect_timeout": 1})
    celery._pool = celery.amqp._producer_pool = None
    try:
        # Celery reads CELERY_BROKER_URL from the environment before its own setting.
        with pytest.MonkeyPatch.context() as env:
            env.setenv("CELERY_BROKER_URL", url)
            yield
    finally:
        # Not closed: kombu keeps one pool per URL for the process, and a closed one stays dead.
        conf.update(broker_url=saved[0], broker_transport_options=saved[1])
        celery._pool, celery.amqp._producer_pool = pools


def _upload(rows: int, tmp_path: Path) -> SimpleUploadedFile:
    path = write_jsonl(tmp_path / "pairs.jsonl", pair_rows(rows, labelled=False))
    return SimpleUploadedFile("pairs.jsonl", path.read_bytes())


def _waited_an_hour() -> None:
    """As if the recovery beats found the rows long after they were queued."""
    an_hour_ago = timezone.now() - timedelta(hours=1)
    ImportJob.objects.update(created_at=an_hour_ago)
    TrainingRun.objects.update(created_at=an_hour_ago)


def test_it_accepts_an_upload_and_a_retrain_and_runs_them_once_the_broker_is_back(
    admin: Any, project: Project, tmp_path: Path, celery_worker: Path
) -> None:
    # given: the broker cannot be reached
    api = client_for(admin)
    with broker_at(UNREACHABLE):
        # when: an admin uploads a file and asks for a retrain
        upload = api.post(
            f"/api/projects/{project.slug}/imports",
            {"file": _upload(3, tmp_path)},
            format="multipart",
        )
        retrain = api.post(f"/api/projects/{project.slug}/retrain", {}, format="json")
    # then: both are accepted, say they wait for the workers, and their rows are kept
    assert upload.status_code == 202, upload.content
    assert upload.json()["notice"] == f"Import {WAITING_FOR_WORKERS}."
    assert retrain.status_code == 202, retrain.content
    assert retrain.json()["notice"] == f"Run {WAITING_FOR_WORKERS}."
    job = ImportJob.objects.get(pk=upload.json()["id"])
    run = TrainingRun.objects.get(pk=retrain.json()["id"])
    assert (job.status, run.status) == ("queued", "queued")

    # when: the broker is back and the recovery beats run
    _waited_an_hour()
    assert recover_imports_task() == 1
    assert resend_waiting_runs() == 1
    # then: the worker imports the file, and claims the run (it fails: no judgements yet)
    wait_until(lambda: ImportJob.objects.get(pk=job.pk).status == "succeeded", timeout=60)
    assert Pair.objects.filter(project=project).count() == 3
    wait_until(lambda: TrainingRun.objects.get(pk=run.pk).status == "failed", timeout=60)
    assert TrainingRun.objects.get(pk=run.pk).attempts == 1
    # and another copy of the job's task (a resend that crossed the first) is a no-op
    import_file_task.apply(args=(job.pk,))
    assert Pair.objects.filter(project=project).count() == 3
    assert recover_imports_task() == 0


def test_the_pages_say_the_upload_and_the_run_wait_for_the_workers(
    admin: Any, project: Project, tmp_path: Path
) -> None:
    # given
    client = Client()
    client.force_login(admin)
    with broker_at(UNREACHABLE):
        # when
        imported = client.post(f"/projects/{project.slug}/import", {"file": _upload(2, tmp_path)})
        retrained = client.post(f"/projects/{project.slug}/models/retrain", {"mode": "heads"})
    # then: both redirect with a warning instead of failing
    assert imported.status_code == retrained.status_code == 302
    # (both messages wait in the session until a page shows them)
    notes = [(m.level_tag, str(m)) for m in get_messages(retrained.wsgi_request)]
    run = TrainingRun.objects.get()
    assert notes == [
        ("warning", f"Import of pairs.jsonl {WAITING_FOR_WORKERS}."),
        ("warning", f"Run {run.pk} {WAITING_FOR_WORKERS}."),
    ]
    assert ImportJob.objects.get().status == "queued"


def test_scoring_activating_and_deleting_answer_while_the_broker_is_down(
    admin: Any, project: Project
) -> None:
    # given: a served model
    model = RewardModel.objects.create(project=project, version=1, mode="heads", is_active=True)
    api, page = client_for(admin), Client()
    page.force_login(admin)
    with broker_at(UNREACHABLE):
        # when
        scored = api.post(
            f"/api/projects/{project.slug}/score",
            {"prompt": "hi", "responses": ["a", "b"]},
            format="json",
        )
        activated = api.post(f"/api/models/{model.pk}/activate")
        deleted = page.post(f"/projects/{project.slug}/delete", {"confirm": project.slug})
    # then: nothing fails; the score request says it waits for the workers
    assert scored.status_code == 202, scored.content
    assert scored.json()["notice"] == f"Scoring {WAITING_FOR_WORKERS}."
    assert activated.status_code == 200
    assert deleted.status_code == 302
    assert Project.objects.get(pk=project.pk).deleted_at is not None


def test_it_lets_errors_other_than_an_unreachable_broker_through(monkeypatch: Any) -> None:
    # given: sending fails for a reason that is not the broker's connection
    def broken(*args: Any) -> None:
        raise TypeError("not serializable")

    monkeypatch.setattr(import_file_task, "delay", broken)
    # when / then
    with pytest.raises(TypeError):
        try_send(import_file_task, 1)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_redis(port: int, folder: Path) -> subprocess.Popen[bytes]:
    argv = ["redis-server", "--bind", "127.0.0.1", "--port", str(port)]
    argv += ["--save", "", "--appendonly", "no", "--dir", str(folder)]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until(lambda: _listening(port), timeout=10, what="redis-server")
    return process


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait()


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.slow
@pytest.mark.skipif(not shutil.which("redis-server"), reason="needs a redis-server binary")
def test_a_worker_picks_up_an_upload_made_while_its_redis_was_down(
    admin: Any, project: Project, tmp_path: Path, tiny_backbone: str
) -> None:
    # given: a worker on a Redis of its own, which then stops
    port = _free_port()
    url = f"redis://127.0.0.1:{port}/0"
    env = {"CELERY_BROKER_URL": url, "REWARDS_BACKBONE": tiny_backbone}
    env["REWARDS_CACHE_DIR"] = str(tmp_path / "embeddings")
    api = client_for(admin)
    redis = _start_redis(port, tmp_path)
    try:
        with broker_at(url), dedicated_worker(tmp_path, "outage", "default", **env) as worker:
            _stop(redis)
            # when: a file is uploaded while Redis is down
            upload = api.post(
                f"/api/projects/{project.slug}/imports",
                {"file": _upload(2, tmp_path)},
                format="multipart",
            )
            assert upload.status_code == 202
            assert upload.json()["notice"]
            # and Redis comes back (empty: it kept nothing) and the recovery beat runs
            redis = _start_redis(port, tmp_path)
            _waited_an_hour()
            assert recover_imports_task() == 1
            # then: the same worker, still running, reconnects and imports the file
            _wait_for(
                lambda: ImportJob.objects.get(pk=upload.json()["id"]).status == "succeeded",
                timeout=90,
                what="the import",
                log=tmp_path / "outage.log",
            )
            assert worker.poll() is None
    finally:
        _stop(redis)
    assert Pair.objects.filter(project=project).count() == 2
