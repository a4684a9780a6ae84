"""client_id makes a submission idempotent for its annotator, and reveals nothing of others."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from annotate.models import Judgement, Project, Role
from annotate.projects.members import set_member
from tests.conftest import client_for
from tests.factories import make_pairs, make_project

pytestmark = pytest.mark.django_db


def _lease(user: Any, slug: str) -> int:
    return (
        client_for(user).post(f"/api/projects/{slug}/next", {}, format="json").json()["assignment"]
    )


def _judge(user: Any, assignment: int, **body: Any) -> Any:
    body = {"choice": "left", "duration_ms": 500, "client_id": "same-id", **body}
    return client_for(user).post(f"/api/assignments/{assignment}/judgement", body, format="json")


@pytest.fixture
def pending(project: Project, tmp_path: Path) -> Project:
    make_pairs(project, tmp_path, 3, labelled=False)
    return project


def test_a_repeated_client_id_with_the_same_judgement_returns_it(
    annotator: Any, pending: Project
) -> None:
    lease = _lease(annotator, "proj")
    first = _judge(annotator, lease)
    again = _judge(annotator, lease)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["judgement"] == again.json()["judgement"]


@pytest.mark.parametrize(
    "changed", [{"choice": "right"}, {"duration_ms": 501}, {"rationale": "different"}]
)
def test_a_repeated_client_id_with_a_different_judgement_is_a_conflict(
    annotator: Any, pending: Project, changed: dict[str, Any]
) -> None:
    Project.objects.filter(pk=pending.pk).update(ask_rationale="optional")
    lease = _lease(annotator, "proj")
    assert _judge(annotator, lease).status_code == 201
    response = _judge(annotator, lease, **changed)
    assert response.status_code == 409
    assert "client_id" in response.json()["detail"]
    assert Judgement.objects.count() == 1


def test_a_client_id_on_another_lease_is_a_conflict(annotator: Any, pending: Project) -> None:
    first = _lease(annotator, "proj")
    assert _judge(annotator, first).status_code == 201
    second = _lease(annotator, "proj")
    assert _judge(annotator, second).status_code == 409
    assert Judgement.objects.count() == 1


def test_another_users_client_id_is_neither_revealed_nor_blocking(
    annotator: Any, outsider: Any, pending: Project, tmp_path: Path
) -> None:
    # given: a judgement in a project the outsider cannot see
    assert _judge(annotator, _lease(annotator, "proj")).status_code == 201
    other = make_project("other")
    set_member(other, username=outsider.username, role=Role.ANNOTATOR)
    make_pairs(other, tmp_path, 2, labelled=False)
    # when: the outsider happens to use the same client_id there
    response = _judge(outsider, _lease(outsider, "other"))
    # then: it is simply their own new judgement
    assert response.status_code == 201
    assert Judgement.objects.filter(client_id="same-id").count() == 2
