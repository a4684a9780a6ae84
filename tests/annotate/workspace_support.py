"""Shared helpers of the workspace page tests: judged pairs made through the real paths."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from django.test import Client

from annotate.judging.queue import lease_next_pair
from annotate.judging.recording import record_judgement
from annotate.models import Judgement, Pair, Project
from tests.factories import make_pairs


def logged_in(user: Any | None, *, csrf: bool = False) -> Client:
    client = Client(enforce_csrf_checks=csrf)
    if user is not None:
        client.force_login(user)
    return client


def judge_next(user: Any, project: Project, choice: str = "a") -> Judgement:
    """Lease the next pair as `user` and judge it `choice` (canonical a, b, tie, both_bad)."""
    assignment = lease_next_pair(user, project)
    assert assignment is not None
    side = choice
    if choice in ("a", "b"):
        side = "left" if (choice == "a") == assignment.left_is_a else "right"
    return record_judgement(
        assignment.pk, user, choice=side, client_id=str(uuid.uuid4()), duration_ms=900
    ).judgement


def judged_pair(project: Project, tmp_path: Path, annotator: Any) -> Pair:
    """One pending pair of the project, judged once by `annotator` (overlap 1: complete)."""
    make_pairs(project, tmp_path, 1, labelled=False)
    return judge_next(annotator, project).pair
