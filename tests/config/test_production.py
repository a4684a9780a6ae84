"""Production mode as the README runs it: the Procfile's release and web commands (gunicorn,
DEBUG off, collectstatic + WhiteNoise), tried from a real browser and a real HTTP client."""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from rest_framework.authtoken.models import Token

from annotate.models import Project
from rewards.models import RewardModel, ScoreRequest
from tests.conftest import ROOT, _database_url, _wait_for
from tests.factories import make_pairs

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()
    except OSError:  # not listening yet
        return 0, {}, b""


@pytest.fixture(scope="module")
def server(django_db_setup: Any, tmp_path_factory: Any) -> Iterator[str]:
    """gunicorn with one sync worker, started by the Procfile's commands."""
    port = _free_port()
    static = tmp_path_factory.mktemp("static_root")
    log = static.parent / "gunicorn.log"
    env = {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": "production-test-key",
        "ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": _database_url(),
        "STATIC_ROOT": str(static),
        "PORT": str(port),
        # One worker: anything that blocked it would block every other request.
        "WEB_CONCURRENCY": "1",
        # Scoring goes to a queue the shared test worker does not read: none is answered here.
        "REWARDS_QUEUE": "production-test",
    }
    commands = _procfile()
    subprocess.run(
        ["bash", "-c", commands["release"]], cwd=ROOT, env=env, check=True, capture_output=True
    )
    with log.open("w") as out:
        process = subprocess.Popen(
            ["bash", "-c", "exec " + commands["web"]],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for(lambda: _get(f"{base}/login/")[0] == 200, timeout=60, what="gunicorn", log=log)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_static_files_are_hashed_compressed_and_served(server: str) -> None:
    # given: the login page as gunicorn serves it
    status, _, body = _get(f"{server}/login/")
    assert status == 200
    [css] = re.findall(r'href="(/static/css/app\.[0-9a-f]{12}\.css)"', body.decode())
    # when
    status, headers, _ = _get(f"{server}{css}", **{"Accept-Encoding": "gzip"})
    # then
    assert status == 200
    assert headers.get("Content-Encoding") == "gzip"
    assert "max-age=315360000" in headers.get("Cache-Control", "")


def test_the_api_docs_load_swagger_ui_from_this_server(server: str, admin: Any) -> None:
    # anonymous callers get no schema in production (API_DOCS_PUBLIC defaults to DEBUG)
    assert _get(f"{server}/api/docs/")[0] in (401, 403)
    assert _get(f"{server}/api/schema/")[0] in (401, 403)
    auth = {"Authorization": f"Token {Token.objects.create(user=admin).key}"}
    status, headers, body = _get(f"{server}/api/docs/", **auth)
    page = body.decode()
    assert status == 200
    assert "script-src 'self'" in headers.get("Content-Security-Policy", "")
    scripts = re.findall(r'src="([^"]+)"', page)
    assert scripts and all(src.startswith("/static/") or src.startswith("/api/") for src in scripts)
    assert "cdn" not in page.lower()
    assert all(_get(f"{server}{src}", **auth)[0] == 200 for src in scripts)


def test_sixteen_score_calls_at_once_do_not_hold_up_next(
    server: str, admin: Any, annotator: Any, project: Project, tmp_path: Path
) -> None:
    # given: a served model, and no worker reading its queue
    RewardModel.objects.create(project=project, version=1, mode="heads", is_active=True)
    make_pairs(project, tmp_path, 3, labelled=False)
    token = Token.objects.create(user=annotator).key
    answers: list[int] = []

    def call(path: str, body: bytes) -> None:
        request = urllib.request.Request(
            f"{server}/api/projects/proj/{path}",
            data=body,
            headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                answers.append(response.status)
        except urllib.error.HTTPError as exc:
            answers.append(exc.code)

    score = b'{"prompt": "hi", "responses": ["a", "b"]}'
    threads = [threading.Thread(target=call, args=("score", score)) for _ in range(16)]
    # when: next is asked for behind sixteen score calls, on a single web worker
    for thread in threads:
        thread.start()
    call("next", b"{}")
    for thread in threads:
        thread.join()
    # then: every score call was answered at once with where to look, and next got its pair
    assert sorted(answers) == [200] + [202] * 16
    assert ScoreRequest.objects.count() == 16


@pytest.mark.browser
def test_the_annotation_page_script_runs_under_gunicorn(
    server: str, annotator: Any, project: Project, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    from tests.annotate.browser_support import (
        CHROMIUM_ARGS,
        chromium_or_skip,
        log_in,
        wait_for_pair,
    )

    # The server checks passwords with the production hashers, not the tests' fast one.
    annotator.password = PBKDF2PasswordHasher().encode("bob-pass", "salt", iterations=1000)
    annotator.save()
    make_pairs(project, tmp_path, 2, labelled=False)
    with pytest.MonkeyPatch.context() as mp, sync_playwright() as p:
        mp.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = p.chromium.launch(
            executable_path=chromium_or_skip(), headless=True, args=CHROMIUM_ARGS
        )
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        log_in(page, server, "bob", next_path="/projects/proj/annotate")
        # the pair is fetched and drawn by static/js/annotate.js
        assert wait_for_pair(page)
        browser.close()
    assert not errors


def test_the_procfile_runs_what_the_readme_documents() -> None:
    readme = (ROOT / "README.md").read_text()
    for name, command in _procfile().items():
        assert shlex.split(command)[0].startswith(".venv/bin/"), name
        assert command in readme, f"the README's Production section lacks the {name} command"
