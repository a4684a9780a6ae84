"""`POST /api/assignments/ID/judgement`: what a vote's body may hold, and what is refused."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from annotate.importing.pipeline import import_file
from annotate.models import Judgement, Project
from tests.conftest import client_for
from tests.factories import pair_rows, write_jsonl

pytestmark = pytest.mark.django_db


@pytest.fixture
def leased(annotator: Any, project: Project, tmp_path: Path) -> tuple[Any, int]:
    """The annotator's client and a lease on one of the project's 3 pending pairs."""
    import_file(project, write_jsonl(tmp_path / "p.jsonl", pair_rows(3, labelled=False)))
    client = client_for(annotator)
    lease = client.post(f"/api/projects/{project.slug}/next", {}, format="json").json()
    return client, lease["assignment"]


def _judge(client: Any, assignment: int, body: dict[str, Any], query: str = "?next=1") -> Any:
    return client.post(f"/api/assignments/{assignment}/judgement{query}", body, format="json")


def test_it_stores_the_pages_vote_and_answers_the_next_pair(leased: tuple[Any, int]) -> None:
    # given
    client, assignment = leased
    client_id = str(uuid.uuid4())
    # when the page's body is sent
    response = _judge(
        client, assignment, {"choice": "right", "duration_ms": 800, "client_id": client_id}
    )
    # then
    assert response.status_code == 201
    stored = Judgement.objects.get(pk=response.json()["judgement"])
    assert (stored.client_id, stored.duration_ms, stored.rationale) == (client_id, 800, "")
    assert response.json()["next"]["assignment"] != assignment


@pytest.mark.parametrize(
    ("body", "query", "stored", "answers_next"),
    [
        ({"client_id": "  padded  "}, "?next=1", {"client_id": "padded"}, True),
        ({"client_id": 7}, "?next=1", {"client_id": "7"}, True),
        ({"duration_ms": "800"}, "?next=1", {"duration_ms": 800}, True),
        ({"duration_ms": None}, "?next=1", {"duration_ms": None}, True),
        ({"next": "true"}, "", {}, True),
        ({"next": True}, "?next=0", {}, True),
        ({}, "?next=true", {}, True),
        ({}, "?next=0", {}, False),
        ({}, "", {}, False),
        ({"strength": 2, "rationale": "clearer"}, "?next=1", {}, True),
    ],
)
def test_it_reads_every_accepted_spelling_of_a_vote(
    leased: tuple[Any, int],
    body: dict[str, Any],
    query: str,
    stored: dict[str, Any],
    answers_next: bool,
) -> None:
    # given
    client, assignment = leased
    # when
    response = _judge(client, assignment, {"choice": "left", "client_id": "c-1", **body}, query)
    # then
    assert response.status_code == 201, response.json()
    judgement = Judgement.objects.get(pk=response.json()["judgement"])
    assert {field: getattr(judgement, field) for field in stored} == stored
    assert ("next" in response.json()) is answers_next


@pytest.mark.parametrize(
    ("body", "query", "field"),
    [
        ({"client_id": ""}, "?next=1", "client_id"),
        ({"client_id": "   "}, "?next=1", "client_id"),
        ({"client_id": "x" * 101}, "?next=1", "client_id"),
        ({"client_id": "a\x00b"}, "?next=1", "client_id"),
        ({"choice": "LEFT"}, "?next=1", "choice"),
        ({"duration_ms": -1}, "?next=1", "duration_ms"),
        ({"duration_ms": True}, "?next=1", "duration_ms"),
        ({"after": None}, "?next=1", "after"),
        ({"next": None}, "", "next"),
        ({}, "?next=maybe", "next"),
    ],
)
def test_it_refuses_a_malformed_vote_and_names_the_field(
    leased: tuple[Any, int], body: dict[str, Any], query: str, field: str
) -> None:
    # given
    client, assignment = leased
    # when
    response = _judge(client, assignment, {"choice": "left", "client_id": "c-2", **body}, query)
    # then
    assert response.status_code == 400
    assert field in response.content.decode()
    assert not Judgement.objects.exists()
