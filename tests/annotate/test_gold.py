"""Gold checks: mixed into the queue at gold_rate, pausing below the threshold, never trained on."""

from __future__ import annotations

import json
import random
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from annotate.exporting.datasets import iter_judgement_rows
from annotate.importing.pipeline import import_file
from annotate.judging.gold import pick_gold_pair, reinstate_annotator
from annotate.models import Pair, Project
from rewards.worker.snapshot import snapshot_project
from tests.conftest import client_for
from tests.factories import pair_rows, with_gold_checks, write_jsonl
from tests.plans import plan_of, statements_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def checked(project: Project, tmp_path: Path) -> Project:
    """5 ordinary pending pairs and 3 gold pairs (labels a, b, a), gold served every time."""
    return with_gold_checks(project, tmp_path, 5)


def _answer(user: Any, project: Project, *, right: bool) -> tuple[int, Any]:
    """Lease the next pair and answer it, correctly or not when it is gold."""
    client = client_for(user)
    leased = client.post(f"/api/projects/{project.slug}/next", {}, format="json")
    if leased.status_code != 200:
        return leased.status_code, leased
    body = leased.json()
    pair = Pair.objects.get(pk=body["pair"])
    left_is_a = body["left"]["text"] == pair.response_a.text
    wanted = (pair.gold_label or "a") == "a"
    choice = "left" if (left_is_a == wanted) == right else "right"
    payload = {"choice": choice, "duration_ms": 4000, "client_id": str(uuid.uuid4())}
    client.post(f"/api/assignments/{body['assignment']}/judgement", payload, format="json")
    return 200, pair


def test_gold_pairs_come_first_at_rate_one_never_twice_and_look_like_any_pair(
    annotator: Any, checked: Project
) -> None:
    # when the annotator works through the queue
    served = []
    while (answered := _answer(annotator, checked, right=True))[0] == 200:
        served.append(answered[1])
    # then: the 3 gold checks, each once, then the 5 ordinary pairs
    assert [bool(p.gold_label) for p in served] == [True] * 3 + [False] * 5
    assert len({p.pk for p in served}) == 8


def test_the_page_cannot_tell_a_gold_pair(annotator: Any, checked: Project) -> None:
    body = client_for(annotator).post(f"/api/projects/{checked.slug}/next", {}, format="json")
    assert Pair.objects.get(pk=body.json()["pair"]).gold_label
    assert "gold" not in body.content.decode()


def test_gold_pairs_are_not_served_when_gold_is_off(annotator: Any, checked: Project) -> None:
    checked.gold_rate = 0
    checked.save()
    served = []
    while (answered := _answer(annotator, checked, right=True))[0] == 200:
        served.append(answered[1])
    assert len(served) == 5 and not any(p.gold_label for p in served)


def test_an_annotator_failing_gold_is_paused_until_reinstated(
    annotator: Any, second_annotator: Any, checked: Project
) -> None:
    # given three wrong answers on gold
    for _ in range(3):
        assert _answer(annotator, checked, right=False)[0] == 200
    # when
    status, response = _answer(annotator, checked, right=True)
    # then: paused, with the reason on the API and on the page
    assert status == 403
    assert "0 of 3 check questions right" in response.json()["detail"]
    page = client_for(annotator)
    page.force_login(annotator)
    assert "0 of 3 check questions right" in page.get(f"/projects/{checked.slug}/annotate").text
    # others carry on
    assert _answer(second_annotator, checked, right=True)[0] == 200
    # when an admin reinstates them
    reinstate_annotator(checked, annotator.pk)
    # then they get pairs again
    assert _answer(annotator, checked, right=True)[0] == 200


def test_gold_judgements_never_reach_snapshots_or_exports(annotator: Any, checked: Project) -> None:
    # given every pair judged, gold included
    while _answer(annotator, checked, right=True)[0] == 200:
        pass
    # when
    snapshot = snapshot_project(checked)
    exported = list(iter_judgement_rows(checked))
    # then
    trained = {p.id for p in snapshot.train + snapshot.validation}
    gold_ids = {str(pk) for pk in Pair.objects.exclude(gold_label="").values_list("pk", flat=True)}
    assert snapshot.judgements == 5 and not trained & gold_ids
    assert len(exported) == 5
    assert not any(row["pair_external_id"].startswith("g-") for row in exported)
    assert json.dumps(exported)


def test_unanimous_pairs_become_gold_when_the_project_enables_it(tmp_path: Path) -> None:
    # given
    from tests.factories import make_project

    project = make_project("auto", judgements_per_pair=3, gold_from_unanimous=True)
    import_file(project, write_jsonl(tmp_path / "p.jsonl", pair_rows(2, labelled=False)))
    votes = [
        {"pair_external_id": pair, "annotator": f"r{k}", "choice": choice}
        for pair, choices in (("q-0", "bbb"), ("q-1", "aab"))
        for k, choice in enumerate(choices)
    ]
    # when
    import_file(project, write_jsonl(tmp_path / "v.jsonl", votes))
    # then
    gold = dict(Pair.objects.filter(project=project).values_list("external_id", "gold_label"))
    assert gold == {"q-0": "b", "q-1": ""}


def test_a_gold_draw_reads_the_gold_index_not_every_pair(
    project: Project, annotator: Any, tmp_path: Path
) -> None:
    # given thousands of ordinary pairs, a few gold ones and the database's statistics
    import_file(project, write_jsonl(tmp_path / "p.jsonl", pair_rows(3000, labelled=False)))
    gold = pair_rows(5, prefix="g")
    import_file(project, write_jsonl(tmp_path / "g.jsonl", gold), labels="gold")
    project.gold_rate = 1.0
    project.save()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    # when a gold pair is drawn for the annotator
    drawn: list[Any] = []
    sent = statements_of(
        lambda: drawn.append(pick_gold_pair(annotator, project, rng=random.Random(3)))
    )
    # then it is gold, and each statement is an ordered scan of the gold pairs' index
    assert drawn[0] is not None and drawn[0].gold_label
    for sql, params in sent:
        plan = plan_of(sql, params)
        assert "pair_gold_by_tiebreak" in plan, plan
        assert "TEMP B-TREE FOR ORDER BY" not in plan and "Sort Key" not in plan, plan
