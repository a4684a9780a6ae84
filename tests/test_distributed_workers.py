"""Workers on other machines: web, a `default` worker and `gpu` workers sharing no disk.

Each process has its own VAR_DIR and MEDIA_ROOT, as on separate machines; they share only what
separate machines share: the database, a broker of this test's own (a private redis-server, or
a SQLite broker file when there is no such binary) and S3-compatible object storage on loopback
(moto's server mode). An import, a retrain on the `gpu` worker, a re-rank and a score request
go through the HTTP API; a second `gpu` worker, started fresh after the first is gone, serves a
version it never trained by fetching it from the bucket.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest
from rest_framework.authtoken.models import Token

from annotate.models import Project, Response
from rewards.models import ResponseScore
from tests.config.test_broker_down import _free_port, _start_redis, _stop
from tests.conftest import ROOT, _database_url, _wait_for, dedicated_worker, together
from tests.factories import pair_rows

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# What each process's environment must not inherit from this one: its folders are its own.
LOCAL_SETTINGS = ("VAR_DIR", "MEDIA_ROOT", "REWARDS_MODEL_DIR", "REWARDS_CACHE_DIR")


class Api:
    """A token-authenticated JSON (and multipart) client for the web process."""

    def __init__(self, base: str, token: str) -> None:
        self.base, self.token = base, token

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data, kind = (None, "application/json") if body is None else body
        headers = {"Authorization": f"Token {self.token}", "Content-Type": kind}
        request = urllib.request.Request(self.base + path, data, headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(errors="replace")

    def post(self, path: str, payload: dict[str, Any]) -> tuple[int, Any]:
        return self.call("POST", path, (json.dumps(payload).encode(), "application/json"))

    def upload(self, path: str, name: str, content: bytes) -> tuple[int, Any]:
        boundary = uuid.uuid4().hex
        head = (
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="file"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        )
        body = head.encode() + content + f"\r\n--{boundary}--\r\n".encode()
        return self.call("POST", path, (body, f"multipart/form-data; boundary={boundary}"))

    def wait_for(self, path: str, done: Any, *, timeout: float, what: str, log: Path) -> Any:
        """GET `path` until `done(body)`; the body then."""
        seen: dict[str, Any] = {}

        def ready() -> bool:
            status, body = self.call("GET", path)
            seen["body"] = body
            return status == 200 and bool(done(body))

        _wait_for(ready, timeout=timeout, what=f"{what} (last: {seen.get('body')})", log=log)
        return seen["body"]


@contextmanager
def private_broker(folder: Path) -> Iterator[str]:
    """A broker only this test's processes use (the shared test worker reads `default` too)."""
    if not shutil.which("redis-server"):
        yield f"sqla+sqlite:///{folder / 'broker.sqlite3'}"
        return
    port = _free_port()
    redis = _start_redis(port, folder)
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        _stop(redis)


@contextmanager
def web_process(folder: Path, env: dict[str, str]) -> Iterator[str]:
    """gunicorn (the Procfile's server) with one worker; yields its base URL."""
    port = _free_port()
    log = folder.parent / "web.log"
    argv = [sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}"]
    with log.open("w") as out:
        process = subprocess.Popen(
            [*argv, "--workers", "1"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for(lambda: _answers(base), timeout=60, what="gunicorn", log=log)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def _answers(base: str) -> bool:
    try:
        urllib.request.urlopen(f"{base}/api/projects/", timeout=5)
    except urllib.error.HTTPError:
        return True  # 401/403: Django is serving
    except OSError:
        return False
    return True


def _machine(tmp_path: Path, name: str) -> dict[str, str]:
    """The folders of one process, as if it ran on a machine of its own."""
    var = tmp_path / name / "var"
    var.mkdir(parents=True)
    return {
        "VAR_DIR": str(var),
        "MEDIA_ROOT": str(tmp_path / name / "media"),
        "REWARDS_MODEL_DIR": str(var / "models"),
        "REWARDS_CACHE_DIR": str(var / "embeddings"),
    }


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def test_web_and_workers_share_no_disk_only_the_database_broker_and_bucket(
    s3_server: str, tiny_backbone: str, admin: Any, project: Project, tmp_path: Path
) -> None:
    # given: a bucket, and the environment every process shares
    bucket_name = f"prefloop-{uuid.uuid4().hex[:12]}"
    credentials = {"AWS_ACCESS_KEY_ID": "test-key", "AWS_SECRET_ACCESS_KEY": "test-secret"}
    bucket = boto3.resource(
        "s3", endpoint_url=s3_server, region_name="us-east-1", **_boto(credentials)
    ).Bucket(bucket_name)
    bucket.create()
    token = Token.objects.create(user=admin).key
    inherited = {k: v for k, v in os.environ.items() if k not in LOCAL_SETTINGS}
    with private_broker(tmp_path) as broker:
        shared = {
            **inherited,
            **credentials,
            "DATABASE_URL": _database_url(),
            "CELERY_BROKER_URL": broker,
            "STORAGE_URL": f"s3://{bucket_name}/prefloop?endpoint_url={s3_server}&region=us-east-1",
            "REWARDS_QUEUE": "gpu",
            "REWARDS_BACKBONE": tiny_backbone,
            "SECRET_KEY": "distributed-test-key",
            "DEBUG": "false",
            "ALLOWED_HOSTS": "127.0.0.1",
        }
        machines = {n: _machine(tmp_path, n) for n in ("web", "default", "gpu-a", "gpu-b")}
        logs = {n: tmp_path / f"{n}.log" for n in machines}

        def worker(name: str, queue: str) -> Any:
            return dedicated_worker(tmp_path, name, queue, **shared, **machines[name])

        # The three processes start at once: their start-ups overlap.
        with together(
            web_process(tmp_path / "web", {**shared, **machines["web"]}),
            worker("default", "default"),
            worker("gpu-a", "gpu"),
        ) as (base, _, gpu_a):
            api = Api(base, token)
            # when: labelled pairs are uploaded, and a retrain is asked for
            _import(api, pair_rows(40), logs["default"])
            status, run = api.post(f"/api/projects/{project.slug}/retrain", {"members": 2})
            assert status == 202, run
            run = api.wait_for(
                f"/api/training-runs/{run['id']}",
                lambda body: body["status"] in ("succeeded", "failed"),
                timeout=300,
                what="the retrain",
                log=logs["gpu-a"],
            )
            assert run["status"] == "succeeded", run
            # the GPU machine that trained v1 is gone; a fresh one takes the queue
            gpu_a.kill()
            gpu_a.wait()
            with worker("gpu-b", "gpu"):
                _import(api, pair_rows(4, labelled=False, prefix="new"), logs["default"])
                version = run["model"]
                status, body = api.post(f"/api/models/{version['id']}/activate", {})
                assert status == 200, body
                overview = api.wait_for(
                    f"/api/projects/{project.slug}/models",
                    lambda body: body["active"]["reranked_at"],
                    timeout=180,
                    what="the re-rank",
                    log=logs["gpu-b"],
                )
                status, queued = api.post(
                    f"/api/projects/{project.slug}/score",
                    {"prompt": "new question 0?", "responses": ["short", "a longer answer"]},
                )
                assert status == 202, queued
                scored = api.wait_for(
                    queued["url"].removeprefix(base),
                    lambda body: "rewards" in body,
                    timeout=180,
                    what="the score request",
                    log=logs["gpu-b"],
                )

    # then: each step ran where it was routed, and the served version answered
    ran = {name: _tasks_run(log) for name, log in logs.items()}
    # (the default worker also computes the stored statistics the pages ask for, and indexes
    # the imported texts for search)
    assert "annotate.tasks.import_file_task" in ran["default"]
    assert ran["default"] <= {
        "annotate.tasks.import_file_task",
        "annotate.tasks.compute_statistics_task",
        "annotate.tasks.index_texts_task",
    }
    assert "rewards.tasks.retrain_project_task" in ran["gpu-a"]
    assert {"rewards.tasks.rerank_project_task", "rewards.tasks.score_request_task"} <= ran["gpu-b"]
    assert overview["active"]["rerank_error"] == ""
    assert scored["model"] == 1 and len(scored["rewards"]) == 2
    # (every response, the four imported after v1 was trained too, has v1's reward)
    responses = Response.objects.filter(prompt__project=project)
    assert responses.count() == 2 * 44
    assert ResponseScore.objects.filter(model_id=version["id"]).count() == responses.count()
    # the uploads and the version went through the bucket
    keys = sorted(item.key for item in bucket.objects.all())
    assert [k for k in keys if k.startswith("prefloop/imports/")] and len(keys) == 3
    assert "prefloop/reward-models/proj-v1.tar" in keys
    # and no process wrote (so none could read) another's files: no media on any machine,
    # checkpoints only on the GPU machines, the second one's fetched from the bucket
    files = {name: _files(tmp_path / name) for name in machines}
    assert not any(f.startswith("media/") for listing in files.values() for f in listing)
    assert not any("models/" in f for f in files["web"] + files["default"])
    model_dir = f"var/models/model-{version['id']}"
    assert any(f.startswith(model_dir + "/") for f in files["gpu-a"])
    assert any(f.startswith(model_dir + "/") for f in files["gpu-b"])
    fetched = tmp_path / "gpu-b" / (model_dir + ".source")
    assert fetched.read_text() == "reward-models/proj-v1.tar"


def _tasks_run(log: Path) -> set[str]:
    """The tasks a worker's log says it received."""
    return set(re.findall(r"Task ([\w.]+)\[[-\w]+\] received", log.read_text()))


def _boto(credentials: dict[str, str]) -> dict[str, str]:
    return {
        "aws_access_key_id": credentials["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": credentials["AWS_SECRET_ACCESS_KEY"],
    }


def _import(api: Api, rows: list[dict[str, Any]], log: Path) -> None:
    content = "".join(json.dumps(row) + "\n" for row in rows).encode()
    status, job = api.upload("/api/projects/proj/imports", "pairs.jsonl", content)
    assert status == 202, job
    job = api.wait_for(
        f"/api/imports/{job['id']}",
        lambda body: body["status"] in ("succeeded", "failed"),
        timeout=120,
        what="the import",
        log=log,
    )
    assert job["status"] == "succeeded", job
