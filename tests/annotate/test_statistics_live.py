"""Under gunicorn with a real worker and beat: ten members reading the leaderboard, the
quality report and the models' random-slice tables while an annotator judges are served the
stored figures; the worker, never a web process, computes them, and beat keeps them up with the
votes."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from rest_framework.authtoken.models import Token

from annotate.models import Membership, Project, Role, StatisticsSnapshot
from rewards.models import RewardModel
from tests.annotate.test_leaderboard_pages import import_votes
from tests.conftest import ROOT, _database_url, _wait_for, wait_until
from tests.factories import make_pairs

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

READERS = 10
READS_EACH = 4
JUDGEMENTS = 12


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(url: str) -> bool:
    try:
        httpx.get(url, timeout=5)
    except httpx.HTTPError:
        return False
    return True


@pytest.fixture
def web(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """gunicorn with two workers on the test database; its URL and its log."""
    port = _free_port()
    log = tmp_path / "gunicorn.log"
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "ALLOWED_HOSTS": "127.0.0.1",
        "API_THROTTLE_EXPENSIVE": "1000/minute",
    }
    argv = [sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}"]
    argv += ["--workers", "2", "--threads", "4"]
    with log.open("w") as out:
        process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for(lambda: _answers(f"{url}/api/"), timeout=60, what="gunicorn", log=log)
        yield url, log
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture
def beat(tmp_path: Path) -> Iterator[Path]:
    """`celery beat`, looking for changed statistics every second; its log."""
    log = tmp_path / "beat.log"
    env = {**os.environ, "DATABASE_URL": _database_url(), "STATISTICS_CHECK_SECONDS": "1"}
    argv = [sys.executable, "-m", "celery", "-A", "config", "beat", "--loglevel", "INFO"]
    argv += ["--schedule", str(tmp_path / "beat-schedule")]
    with log.open("w") as out:
        process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_for(lambda: "beat: Starting" in log.read_text(), timeout=60, what="beat", log=log)
        yield log
    finally:
        process.terminate()
        process.wait(timeout=30)


def _token(user: Any) -> dict[str, str]:
    return {"Authorization": f"Token {Token.objects.get_or_create(user=user)[0].key}"}


def test_ten_members_read_stored_statistics_while_an_annotator_judges(
    web: tuple[str, Path],
    celery_worker: Path,
    beat: Path,
    django_user_model: Any,
    project: Project,
    annotator: Any,
    tmp_path: Path,
) -> None:
    url, web_log = web
    # given votes between three models, pairs to judge, a served version, and ten admins
    import_votes(project, tmp_path)
    make_pairs(project, tmp_path, JUDGEMENTS + 4, labelled=False)
    RewardModel.objects.create(
        project=project, version=1, mode="heads", backbone="tiny", is_active=True
    )
    readers = []
    for k in range(READERS):
        user = django_user_model.objects.create_user(f"reader{k}", password="x")
        Membership.objects.create(project=project, user=user, role=Role.ADMIN)
        readers.append(_token(user))
    paths = [f"/api/projects/{project.slug}/leaderboard", f"/api/projects/{project.slug}/quality"]
    # the models overview, whose versions' random-slice tables the worker stores
    overview = f"/api/projects/{project.slug}/models"

    def slices(client: httpx.Client) -> dict[str, Any]:
        return dict(client.get(overview).json()["slice_freshness"])

    # and the first read of each, which the worker answers
    with httpx.Client(base_url=url, headers=readers[0], timeout=30) as first:
        assert {first.get(path).status_code for path in paths} == {202}
        assert slices(first)["status"] == "computing"
        wait_until(
            lambda: (
                all(first.get(path).json()["status"] == "ready" for path in paths)
                and slices(first)["status"] == "ready"
            ),
            timeout=120,
            what="the worker's first leaderboard, quality report and random-slice tables",
        )

    def read(headers: dict[str, str]) -> list[dict[str, Any]]:
        with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
            return [
                {"code": reply.status_code, "path": path, **reply.json()}
                for _ in range(READS_EACH)
                for path in (*paths, overview)
                for reply in (client.get(path),)
            ]

    def judge() -> list[int]:
        codes = []
        with httpx.Client(base_url=url, headers=_token(annotator), timeout=30) as client:
            shown = client.post(f"/api/projects/{project.slug}/next", json={}).json()
            for _ in range(JUDGEMENTS):
                body = {"choice": "left", "duration_ms": 1500, "client_id": str(uuid.uuid4())}
                reply = client.post(
                    f"/api/assignments/{shown['assignment']}/judgement?next=1", json=body
                )
                codes.append(reply.status_code)
                shown = reply.json()["next"]
        return codes

    # when ten members read all three at once while the annotator judges
    with ThreadPoolExecutor(max_workers=READERS + 1) as pool:
        judging = pool.submit(judge)
        read_all = [a for reads in pool.map(read, readers) for a in reads]
    answers = [a for a in read_all if a["path"] != overview]
    overviews = [a for a in read_all if a["path"] == overview]
    # then every judgement landed
    assert judging.result() == [201] * JUDGEMENTS
    # and every read was served from the store, with its freshness
    assert len(answers) == READERS * READS_EACH * len(paths)
    assert len(overviews) == READERS * READS_EACH
    assert {a["code"] for a in overviews} == {200}
    for answer in overviews:
        freshness = answer["slice_freshness"]
        assert freshness["status"] == "ready"
        assert freshness["votes_reflected"] <= freshness["votes_now"] <= 48 + JUDGEMENTS
    assert {(a["code"], a["status"]) for a in answers} == {(200, "ready")}
    for answer in answers:
        freshness = answer["freshness"]
        assert freshness["votes_reflected"] <= freshness["votes_now"] <= 48 + JUDGEMENTS
    boards = [a for a in answers if "models" in a]
    assert boards and all(
        {"strong", "mid", "weak"} <= {m["model"] for m in b["models"]} for b in boards
    )
    # and beat saw the new votes and the worker caught up with them
    with httpx.Client(base_url=url, headers=readers[0], timeout=30) as client:

        def caught_up() -> bool:
            fresh = [client.get(path).json()["freshness"] for path in paths]
            fresh.append(slices(client))
            return all(f["votes_reflected"] == 48 + JUDGEMENTS and not f["updating"] for f in fresh)

        wait_until(caught_up, timeout=120, what="statistics reflecting the new judgements")
    # and no web process computed any of it: the worker did, as its log says
    web_pids = {
        int(pid) for pid in re.findall(r"Booting worker with pid: (\d+)", web_log.read_text())
    }
    assert len(web_pids) == 2
    computed_by = set(StatisticsSnapshot.objects.values_list("computed_by", flat=True))
    assert len(computed_by) == 1
    host, pid = computed_by.pop().rsplit(":", 1)
    assert host == socket.gethostname() and int(pid) not in web_pids | {os.getpid()}
    assert "annotate.tasks.compute_statistics_task" in celery_worker.read_text()
    assert "annotate.tasks.refresh_statistics_task" in beat.read_text()
