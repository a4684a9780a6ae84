"""Web processes never import torch: only workers and the CLI load the model side."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Runs in a fresh interpreter: the WSGI app on its own SQLite file and an in-memory broker,
# then the pages and API calls that touch the model side, activation included.
WEB_SESSION = """
import sys
from config.wsgi import application
from django.core.management import call_command
from django.test.utils import setup_test_environment

setup_test_environment()
call_command("migrate", verbosity=0)
call_command("collectstatic", interactive=False, verbosity=0)

from django.contrib.auth.models import User
from django.test import Client
from annotate.projects.lifecycle import create_project
from rewards.models import RewardModel

admin = User.objects.create_user("alice", password="alice-pass")
project = create_project(slug="web", admin=admin)
v1 = RewardModel.objects.create(project=project, version=1, mode="heads", backbone="b")
v2 = RewardModel.objects.create(project=project, version=2, mode="heads", backbone="b")
client = Client()
client.force_login(admin)
codes = [
    client.get("/projects/web/models").status_code,
    client.post(f"/projects/web/models/{v1.pk}/activate").status_code,
    client.post(f"/api/models/{v2.pk}/activate").status_code,
    client.get("/api/projects/web/models").status_code,
    client.get("/projects/web/export?format=trl").status_code,
]
assert codes == [200, 302, 200, 200, 200], codes
assert RewardModel.objects.get(is_active=True).pk == v2.pk
assert "torch" not in sys.modules, "a web request imported torch"
# The bridge to the model side is the workers' business: loading it is one edit from torch.
worker_side = [m for m in sys.modules if m.startswith(("rewards.worker.", "rewards.ml."))]
assert not worker_side, worker_side
print("ok")
"""


def test_it_serves_pages_and_activates_a_version_without_importing_torch(tmp_path: Path) -> None:
    # given a fresh interpreter with the web app's settings
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "SECRET_KEY": "test-only-secret-key",
        "DEBUG": "false",
        "VAR_DIR": str(tmp_path),
        "STATIC_ROOT": str(tmp_path / "static"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'web.sqlite3'}",
        "CELERY_BROKER_URL": "memory://",
        "CELERY_TASK_ALWAYS_EAGER": "false",
    }

    # when it loads config.urls through the WSGI app and serves the model pages
    result = subprocess.run(
        [sys.executable, "-c", WEB_SESSION],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )

    # then every request succeeded and neither torch nor the worker-side modules loaded
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")
