"""The client's typed answers for the pairs browser, review, gold, webhook deliveries and the
freshness of stored statistics.

The server's own answers (from its API, in this process) are served to the client over a real
socket, so the dataclasses are checked against the JSON the server writes, key for key.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from prefloop_client import (
    Client,
    Delivery,
    DeliveryAttempt,
    Freshness,
    PairDetail,
    PairJudgement,
    PairRow,
    Project,
    ResponseText,
    ReviewEvent,
)

from annotate.models import Pair
from annotate.models import Project as ProjectRow
from tests.client.conftest import FaultServer, Reply
from tests.conftest import client_for
from tests.factories import make_pairs
from webhooks.models import Attempt, Subscription
from webhooks.models import Delivery as DeliveryRow

pytestmark = pytest.mark.django_db


# The stored statistics and the overview whose freshness the client reads, in that order.
STORED = ("leaderboard", "quality", "models")


def _keys(cls: type) -> set[str]:
    """The JSON keys a record declares as attributes."""
    return {f.name for f in dataclasses.fields(cls)} - {"raw"}


def _client_project(
    server: FaultServer, project: ProjectRow, admin: User, *replies: Any
) -> Project:
    """The client's handle on the project; then the server answers `replies` in order."""
    about = client_for(admin).get(f"/api/projects/{project.slug}/").json()
    server.script(Reply(200, about), *(Reply(200, body) for body in replies))
    return Client(server.url, token="t0k").project(project.slug)


def test_pairs_and_a_pairs_detail_come_typed_with_the_servers_keys(
    fault_server: FaultServer, project: ProjectRow, admin: User, tmp_path: Path
) -> None:
    # given the server's answers for the pairs list and a pair
    make_pairs(project, tmp_path, 3)
    pair = Pair.objects.filter(project=project).order_by("pk").first()
    assert pair is not None
    api = client_for(admin)
    listed = api.get(f"/api/projects/{project.slug}/pairs", {"sort": "newest"}).json()
    detail = api.get(f"/api/projects/{project.slug}/pairs/{pair.pk}").json()
    # when the client reads them
    handle = _client_project(fault_server, project, admin, listed, detail)
    rows = list(handle.pairs(sort="newest"))
    got = handle.pair(pair.pk)
    # then every key is an attribute of the same name, typed
    assert [fault_server.seen[1].path, fault_server.seen[2].path] == [
        f"/api/projects/{project.slug}/pairs?sort=newest",
        f"/api/projects/{project.slug}/pairs/{pair.pk}",
    ]
    assert _keys(PairRow) == set(listed["results"][0])
    assert all(isinstance(row, PairRow) for row in rows) and len(rows) == 3
    assert [row.id for row in rows] == [row["id"] for row in listed["results"]]
    assert rows[0].status == "complete" and rows[0].target == project.judgements_per_pair
    assert _keys(PairDetail) == set(detail)
    assert isinstance(got, PairDetail) and got.id == pair.pk
    assert got.response_a == ResponseText(pair.response_a.text, pair.response_a.model_name)
    assert isinstance(got.created_at, datetime)
    assert got.prompt == detail["prompt"] and got.details == detail["details"]
    [judgement] = got.judgements
    assert isinstance(judgement, PairJudgement) and judgement.valid is True
    assert _keys(PairJudgement) == set(detail["judgements"][0])
    # and the dicts they replace still read as before
    assert got["judgements"][0]["id"] == judgement.id and rows[0].get("gold_label") == ""


def test_review_and_gold_answers_are_a_judgement_and_a_pair(
    fault_server: FaultServer, project: ProjectRow, admin: User, tmp_path: Path
) -> None:
    # given the server's answers to invalidating, restoring, setting and clearing gold
    make_pairs(project, tmp_path, 1)
    pair = Pair.objects.get(project=project)
    judgement = pair.judgements.get()
    api = client_for(admin)
    base = f"/api/projects/{project.slug}/pairs/{pair.pk}"
    invalid = api.post(f"{base}/judgements/{judgement.pk}/invalidate", {"reason": "a bot"}).json()
    restored = api.post(f"{base}/judgements/{judgement.pk}/restore").json()
    gold = api.put(f"{base}/gold", {"label": "a"}, format="json").json()
    cleared = api.delete(f"{base}/gold").json()
    # when the client sends the same calls
    handle = _client_project(fault_server, project, admin, invalid, restored, gold, cleared)
    got_invalid = handle.invalidate(pair.pk, judgement.pk, "a bot")
    got_restored = handle.restore(pair.pk, judgement.pk)
    got_gold = handle.set_gold(pair.pk, "a")
    got_cleared = handle.clear_gold(pair.pk)
    # then
    assert [s.method for s in fault_server.seen[1:]] == ["POST", "POST", "PUT", "DELETE"]
    assert got_invalid.valid is False and got_invalid.invalid_reason == "a bot"
    assert got_invalid.invalidated_by == "alice"
    assert isinstance(got_invalid.invalidated_at, datetime)
    [event] = got_invalid.reviews
    assert event == ReviewEvent("invalidated", "a bot", "alice", event.at)
    assert isinstance(event.at, datetime)
    assert got_restored.valid is True and [r.action for r in got_restored.reviews] == [
        "invalidated",
        "restored",
    ]
    assert isinstance(got_gold, PairDetail) and got_gold.gold_label == "a"
    assert got_cleared.gold_label == "" and got_cleared.id == pair.pk


def test_webhook_deliveries_come_with_their_attempts(
    fault_server: FaultServer, project: ProjectRow, admin: User, settings: Any
) -> None:
    # given a subscription with a delivery that failed once and then went through
    settings.OUTBOUND_HOSTS = ["hooks.example.com"]
    hook = Subscription.objects.create(
        project=project, url="https://hooks.example.com/x", events=["pair.completed"], secret="s"
    )
    delivery = DeliveryRow.objects.create(
        subscription=hook,
        event="pair.completed",
        body="{}",
        next_attempt_at="2030-01-01T00:00:00Z",
        status="delivered",
        attempts=2,
        last_status_code=204,
    )
    Attempt.objects.create(delivery=delivery, number=1, latency_ms=30, error="ConnectError")
    Attempt.objects.create(delivery=delivery, number=2, status_code=204, latency_ms=12)
    api = client_for(admin)
    base = f"/api/projects/{project.slug}/webhooks/{hook.pk}"
    page = api.get(f"{base}/deliveries").json()
    one = api.get(base).json()
    # when
    handle = _client_project(fault_server, project, admin, page, one)
    [got] = handle.webhook_deliveries(hook.pk, status="delivered")
    webhook = handle.webhook(hook.pk)
    # then
    assert fault_server.seen[1].path == f"{base}/deliveries?status=delivered"
    assert _keys(Delivery) == set(page["results"][0])
    assert isinstance(got, Delivery) and got.id == delivery.pk and got.status == "delivered"
    assert got.event_id == str(delivery.event_id) and got.last_status_code == 204
    assert isinstance(got.next_attempt_at, datetime)
    assert [(a.number, a.status_code, a.error) for a in got.attempt_log] == [
        (1, None, "ConnectError"),
        (2, 204, ""),
    ]
    assert all(isinstance(a, DeliveryAttempt) for a in got.attempt_log)
    assert _keys(DeliveryAttempt) == set(page["results"][0]["attempt_log"][0])
    assert webhook.id == hook.pk and webhook.url == hook.url and webhook.secret == ""


def test_a_criterions_leaderboard_is_asked_for_by_name_and_says_what_it_counted(
    fault_server: FaultServer, admin: User, tmp_path: Path
) -> None:
    from tests.annotate.statistics_support import fetched
    from tests.annotate.test_leaderboard_shapes import RANKINGS, criteria_project

    # given the server's own answer for a ranking project's board of one criterion
    project = criteria_project(admin, tmp_path)
    body = fetched(client_for(admin), f"/api/projects/{project.slug}/leaderboard?criterion=safety")
    about = client_for(admin).get(f"/api/projects/{project.slug}/").json()
    fault_server.script(Reply(200, about), Reply(200, body.json()))
    # when the client asks for it
    board = (
        Client(fault_server.url, token="t0k").project(project.slug).leaderboard(criterion="safety")
    )
    # then it sent the name, and the typed board says which votes it counted
    assert "criterion=safety" in fault_server.seen[1].path
    assert (board.criterion, board.rankings) == ("safety", len(RANKINGS))
    assert board.implied_pairs > board.rankings and board.models


def test_the_leaderboard_quality_and_models_say_how_fresh_they_are(
    fault_server: FaultServer, project: ProjectRow, admin: User, tmp_path: Path
) -> None:
    from rewards.models import RewardModel
    from tests.annotate.statistics_support import fetched

    # given the server's own answers for a judged project's stored statistics and its versions
    make_pairs(project, tmp_path, 4)
    RewardModel.objects.create(project=project, version=1, mode="heads", backbone="tiny")
    api = client_for(admin)
    base = f"/api/projects/{project.slug}"
    board, quality, models = (fetched(api, f"{base}/{name}").json() for name in STORED)
    # when the client reads them
    handle = _client_project(fault_server, project, admin, board, quality, models)
    got = [handle.leaderboard().freshness, handle.quality().freshness]
    got.append(handle.models().slice_freshness)
    # then each carries the answer's freshness, typed, key for key
    for freshness, body in zip(
        got, (board["freshness"], quality["freshness"], models["slice_freshness"]), strict=True
    ):
        assert isinstance(freshness, Freshness) and _keys(Freshness) == set(body)
        assert freshness.status == "ready" and isinstance(freshness.computed_at, datetime)
        assert freshness.votes_reflected == freshness.votes_now == 4
        assert freshness.votes_behind == 0 and freshness.updating is False


def test_a_freshness_not_yet_counted_is_behind_by_nothing_known() -> None:
    # given a statistic still being computed, its votes not counted
    body = {"status": "computing", "computed_at": None, "votes_reflected": None}
    # when it is read
    freshness = Freshness.from_json({**body, "votes_now": None, "updating": True})
    # then nothing is known of what it reflects; an answer without one has none
    assert freshness is not None and freshness.votes_behind is None and freshness.updating
    assert Freshness.from_json(None) is None


def test_review_of_one_criterion_and_gold_per_criterion_come_typed(
    fault_server: FaultServer, admin: User, tmp_path: Path
) -> None:
    from annotate.projects.members import set_member
    from tests.factories import make_project

    # given a pair whose vote has a criterion, and the server's answers to reviewing that vote
    # and to a gold label with a gold vote on the criterion
    project = make_project(
        "crit", criteria=[{"name": "helpful", "guidance": "", "required": False}]
    )
    set_member(project, username=admin.username, role="admin")
    make_pairs(project, tmp_path, 1)
    pair = Pair.objects.get(project=project)
    judgement = pair.judgements.get()
    judgement.criteria = {"helpful": "b"}
    judgement.save(update_fields=["criteria"])
    api = client_for(admin)
    base = f"/api/projects/{project.slug}/pairs/{pair.pk}"
    part = {"reason": "off topic", "part": "criterion:helpful"}
    invalid = api.post(f"{base}/judgements/{judgement.pk}/invalidate", part, format="json")
    gold = api.put(f"{base}/gold", {"label": "a", "criteria": {"helpful": "b"}}, format="json")
    assert (invalid.status_code, gold.status_code) == (200, 200), (invalid.json(), gold.json())
    # when the client sends the same calls
    handle = _client_project(fault_server, project, admin, invalid.json(), gold.json())
    got_invalid = handle.invalidate(pair.pk, judgement.pk, "off topic", part="criterion:helpful")
    got_gold = handle.set_gold(pair.pk, "a", criteria={"helpful": "b"})
    # then the bodies name the part and the gold, and the answers say what changed
    assert b'"part": "criterion:helpful"' in fault_server.seen[1].body.replace(b'":"', b'": "')
    assert got_invalid.valid is True and got_invalid.invalid_criteria == ["helpful"]
    assert [r.part for r in got_invalid.reviews] == ["criterion:helpful"]
    assert (got_gold.gold_label, got_gold.gold_criteria) == ("a", {"helpful": "b"})


def test_a_ranking_item_is_leased_and_ranked_through_the_client(
    fault_server: FaultServer, admin: User, annotator: User, tmp_path: Path
) -> None:
    import json

    from annotate.importing.pipeline import import_file
    from annotate.projects.members import set_member
    from tests.factories import make_project, write_jsonl

    # given a ranking project with a criterion and a rating scale, and the server's own answers
    # to leasing its item and to ranking it
    project = make_project(
        "ranked",
        admin=admin,
        comparison="ranking",
        max_ranked=3,
        criteria=[{"name": "helpful", "guidance": "", "required": True}],
        rating_scale=[1, 2, 3],
    )
    set_member(project, username=annotator.username, role="annotator")
    import_file(
        project, write_jsonl(tmp_path / "i.jsonl", [{"prompt": "p?", "responses": list("xyz")}])
    )
    api = client_for(annotator)
    lease = api.post(f"/api/projects/{project.slug}/next").json()
    ids = [r["id"] for r in lease["responses"]]
    ranking = [[ids[2]], [ids[0], ids[1]]]
    criteria = {"helpful": [[ids[0]], [ids[1]], [ids[2]]]}
    ratings = {str(ids[2]): 3}
    body: dict[str, Any] = {"ranking": ranking, "criteria": criteria, "ratings": ratings}
    url = f"/api/assignments/{lease['assignment']}/judgement"
    judged = api.post(url, {**body, "client_id": "real"}, format="json")
    assert judged.status_code == 201, judged.json()
    about = client_for(annotator).get(f"/api/projects/{project.slug}/").json()
    fault_server.script(Reply(200, about), Reply(200, lease), Reply(201, judged.json()))
    # when a script leases and ranks it through the client
    handle = Client(fault_server.url, token="t0k").project(project.slug)
    assignment = handle.next()
    assert assignment is not None
    recorded = assignment.rank(ranking, criteria=criteria, ratings=ratings)
    # then the assignment shows the item's responses and what the project asks for
    assert [r["text"] for r in assignment.responses] == [r["text"] for r in lease["responses"]]
    assert (assignment.comparison, assignment.left, assignment.rating_scale) == (
        "ranking",
        "",
        [1, 2, 3],
    )
    assert [c["name"] for c in assignment.criteria] == ["helpful"]
    # and the judgement it sent is the ranking with its criteria and ratings
    sent = json.loads(fault_server.seen[2].body)
    assert {k: v for k, v in sent.items() if k != "client_id"} == body
    assert recorded.created and recorded.ranking == judged.json()["ranking"]
