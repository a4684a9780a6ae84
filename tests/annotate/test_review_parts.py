"""Review of one part of a judgement: a criterion's vote or an edit is invalidated (and
restored) from the API and the pair page, leaves that part's exports and is audited; the pair
page and the data browser show what a judgement holds."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from annotate.importing.pipeline import import_file
from annotate.models import Judgement, Pair, Project, ReviewEvent
from annotate.projects.members import set_member
from tests.annotate.workspace_support import logged_in
from tests.conftest import client_for, streamed
from tests.factories import make_pairs, make_project, write_jsonl

pytestmark = pytest.mark.django_db

SAFE = [{"name": "safe", "guidance": "", "required": False}]


def _rows(user: Any, project: Project, **query: str) -> list[dict[str, Any]]:
    response = client_for(user).get(f"/api/projects/{project.slug}/export", query)
    assert response.status_code == 200, response.content
    return [json.loads(line) for line in streamed(response).splitlines()]


def _judge(user: Any, assignment: int, **body: Any) -> Any:
    body.setdefault("client_id", f"{user.pk}-{assignment}")
    response = client_for(user).post(
        f"/api/assignments/{assignment}/judgement?next=1", body, format="json"
    )
    assert response.status_code == 201, response.json()
    return response.json()["next"]


def _review_url(judgement: Judgement, action: str, *, api: bool = True) -> str:
    project = judgement.pair.project
    base = f"/projects/{project.slug}/pairs/{judgement.pair_id}/judgements/{judgement.pk}"
    return f"{'/api' if api else ''}{base}/{action}"


def _pairwise(project: Project, tmp_path: Path, **settings: Any) -> Project:
    make_pairs(project, tmp_path, 2, labelled=False)
    Project.objects.filter(pk=project.pk).update(**settings)
    project.refresh_from_db()
    return project


def test_an_invalid_criterion_vote_leaves_that_criterion_s_exports_but_the_judgement_counts(
    admin: Any, annotator: Any, project: Project, tmp_path: Path
) -> None:
    # given two pairs, each judged overall and on "safe"
    _pairwise(project, tmp_path, criteria=SAFE)
    lease = client_for(annotator).post(f"/api/projects/{project.slug}/next").json()
    lease = _judge(annotator, lease["assignment"], choice="left", criteria={"safe": "right"})
    _judge(annotator, lease["assignment"], choice="right", criteria={"safe": "left"})
    assert len(_rows(admin, project, format="trl", criterion="safe")) == 2
    first = Judgement.objects.order_by("pk").first()
    assert first is not None
    api = client_for(admin)

    # when the admin invalidates the first judgement's "safe" vote through the API
    response = api.post(
        _review_url(first, "invalidate"),
        {"reason": "misread the safety guidance", "part": "criterion:safe"},
        format="json",
    )

    # then the answer says so, and only that vote is gone
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["valid"] is True and body["invalid_criteria"] == ["safe"]
    assert body["criteria"] == {"safe": first.criteria["safe"]}
    assert len(_rows(admin, project, format="trl", criterion="safe")) == 1
    assert len(_rows(admin, project, format="rankings", criterion="safe")) == 1
    assert len(_rows(admin, project, format="trl")) == 2  # the overall vote still counts
    rows = {r["pair_id"]: r for r in _rows(admin, project, format="judgements")}
    assert rows[first.pair_id]["criterion_safe"] is None
    assert rows[first.pair_id]["choice"] == first.choice
    assert [r["criterion_safe"] for p, r in rows.items() if p != first.pair_id] != [None]
    first.pair.refresh_from_db()
    assert first.pair.judgement_count == 1

    # when it is restored, the vote is back
    response = api.post(_review_url(first, "restore"), {"part": "criterion:safe"}, format="json")
    assert response.status_code == 200 and response.json()["invalid_criteria"] == []
    assert len(_rows(admin, project, format="trl", criterion="safe")) == 2

    # and both steps are in the audit trail, naming the part, on the pair's answer too
    detail = api.get(f"/api/projects/{project.slug}/pairs/{first.pair_id}").json()
    [judged] = detail["judgements"]
    assert [(e["action"], e["part"], e["reason"]) for e in judged["reviews"]] == [
        ("invalidated", "criterion:safe", "misread the safety guidance"),
        ("restored", "criterion:safe", ""),
    ]


def test_an_edit_found_wanting_leaves_sft_from_the_pair_page_and_comes_back_restored(
    admin: Any, annotator: Any, project: Project, tmp_path: Path
) -> None:
    # given a judgement with an edit of the right response
    _pairwise(project, tmp_path, edits="optional")
    lease = client_for(annotator).post(f"/api/projects/{project.slug}/next").json()
    improved = lease["right"]["text"] + " <b>fixed</b>"
    _judge(annotator, lease["assignment"], choice="right", edit=improved)
    judgement = Judgement.objects.get()
    assert [r["completion"] for r in _rows(admin, project, format="sft")] == [improved]
    client = logged_in(admin)
    page_url = f"/projects/{project.slug}/pairs/{judgement.pair_id}"

    # then the pair page shows the edit as an escaped diff with its own review button
    page = client.get(page_url).content.decode()
    assert "<ins>+" in page and "&lt;b&gt;fixed&lt;/b&gt;" in page and "<b>fixed" not in page
    assert 'name="part" value="edit"' in page

    # when the admin marks the edit invalid on the page
    response = client.post(
        _review_url(judgement, "invalidate", api=False),
        {"reason": "adds a wrong fact", "part": "edit"},
    )

    # then the edit leaves sft and the judgements export; the judgement still counts
    assert response.status_code == 302
    assert _rows(admin, project, format="sft") == []
    [row] = _rows(admin, project, format="judgements")
    assert (row["edit"], row["edit_of"], row["choice"]) == (None, None, judgement.choice)
    assert len(_rows(admin, project, format="trl")) == 1
    page = client.get(page_url).content.decode()
    assert "adds a wrong fact" in page and "invalidated the edit by alice" in page

    # when it is restored from the page, it is back
    client.post(_review_url(judgement, "restore", api=False), {"part": "edit"})
    assert [r["completion"] for r in _rows(admin, project, format="sft")] == [improved]
    events = ReviewEvent.objects.values_list("action", "part", "reason")
    assert list(events) == [("invalidated", "edit", "adds a wrong fact"), ("restored", "edit", "")]


def test_a_part_the_judgement_does_not_have_is_a_400_naming_part(
    admin: Any, annotator: Any, project: Project, tmp_path: Path
) -> None:
    # given a judgement with a "safe" vote and no edit
    _pairwise(project, tmp_path, criteria=SAFE, edits="optional")
    lease = client_for(annotator).post(f"/api/projects/{project.slug}/next").json()
    _judge(annotator, lease["assignment"], choice="left", criteria={"safe": "tie"})
    judgement = Judgement.objects.get()
    api = client_for(admin)
    for part in ("criterion:kind", "edit", "ranking", "criterion:"):
        # when
        invalidated = api.post(
            _review_url(judgement, "invalidate"), {"reason": "x", "part": part}, format="json"
        )
        restored = api.post(_review_url(judgement, "restore"), {"part": part}, format="json")
        # then
        assert invalidated.status_code == 400 and "part" in invalidated.json(), part
        assert restored.status_code == 400 and "part" in restored.json(), part
    page = logged_in(admin).post(
        _review_url(judgement, "invalidate", api=False), {"reason": "x", "part": "edit"}
    )
    assert page.status_code == 400 and "this judgement has no edit" in page.content.decode()
    judgement.refresh_from_db()
    assert judgement.is_valid and not judgement.invalid_criteria
    assert not ReviewEvent.objects.exists()


@pytest.fixture
def ranked(admin: Any, annotator: Any, tmp_path: Path) -> Project:
    """A ranking project with a "safe" criterion and edits; one item of four, ranked once."""
    project = make_project(
        "ranked", comparison="ranking", admin=admin, criteria=SAFE, edits="optional"
    )
    set_member(project, username=annotator.username, role="annotator")
    row = {"prompt": "p?", "responses": ["w", "x", "y", "z"]}
    import_file(project, write_jsonl(tmp_path / "r.jsonl", [row]))
    lease = client_for(annotator).post(f"/api/projects/{project.slug}/next").json()
    ids = {r["text"]: r["id"] for r in lease["responses"]}
    _judge(
        annotator,
        lease["assignment"],
        ranking=[[ids["z"]], [ids["x"], ids["y"]], [ids["w"]]],
        criteria={"safe": [[ids["w"]], [ids["x"]], [ids["y"]], [ids["z"]]]},
        edit="z, improved",
    )
    return project


def test_a_ranking_item_s_criterion_ranking_is_invalidated_alone(
    admin: Any, ranked: Project
) -> None:
    judgement = Judgement.objects.get()
    assert len(_rows(admin, ranked, format="trl", criterion="safe")) == 6
    response = client_for(admin).post(
        _review_url(judgement, "invalidate"),
        {"reason": "ranked by length", "part": "criterion:safe"},
        format="json",
    )
    assert response.status_code == 200
    assert _rows(admin, ranked, format="trl", criterion="safe") == []
    assert _rows(admin, ranked, format="rankings", criterion="safe") == []
    assert len(_rows(admin, ranked, format="trl")) == 5  # the overall ranking: 5 decisive pairs
    assert [r["ranking"] for r in _rows(admin, ranked, format="rankings")] == [[[3], [1, 2], [0]]]


def test_the_pair_page_shows_a_ranking_in_order_with_review_per_part(
    admin: Any, ranked: Project
) -> None:
    # given
    judgement = Judgement.objects.get()
    assert judgement.ranking is not None
    page = logged_in(admin).get(f"/projects/{ranked.slug}/pairs/{judgement.pair_id}")
    html = page.content.decode()
    # then the judgement's responses are listed best first, ties at one place
    placed = re.findall(r'data-place="(\d+)" data-response="(\d+)"', html)
    assert [(int(p), int(r)) for p, r in placed] == [
        (place, rid) for place, group in enumerate(judgement.ranking, 1) for rid in group
    ]
    assert "tied" in html
    # and the criterion's vote and the edit each have a review button, the edit a diff
    assert 'name="part" value="criterion:safe"' in html and 'name="part" value="edit"' in html
    assert "<del>-z</del>" in html and "<ins>+z, improved</ins>" in html


def test_the_data_browser_counts_a_ranking_item_s_responses_and_its_edits(
    admin: Any, ranked: Project
) -> None:
    html = logged_in(admin).get(f"/projects/{ranked.slug}/pairs").content.decode()
    assert "Responses (k ≤ 4)" in html and "Edits" in html
    assert re.search(r"data-responses>4<", html) and re.search(r"data-edits>1<", html)
    [row] = client_for(admin).get(f"/api/projects/{ranked.slug}/pairs").json()["results"]
    assert (row["responses"], row["edits"]) == (4, 1)


def test_a_pairwise_project_without_edits_shows_no_such_columns(
    admin: Any, project: Project, tmp_path: Path
) -> None:
    make_pairs(project, tmp_path, 1)
    html = logged_in(admin).get(f"/projects/{project.slug}/pairs").content.decode()
    assert "data-responses" not in html and "data-edits" not in html
    [row] = client_for(admin).get(f"/api/projects/{project.slug}/pairs").json()["results"]
    assert (row["responses"], row["edits"]) == (None, None)
    assert Pair.objects.count() == 1


def test_a_ranking_is_invalidated_whole_through_the_api_and_the_pair_answer_shows_it(
    admin: Any, ranked: Project
) -> None:
    judgement = Judgement.objects.get()
    api = client_for(admin)
    # when the ranking is invalidated without a part
    response = api.post(_review_url(judgement, "invalidate"), {"reason": "random"}, format="json")
    # then it leaves every export, its edit too
    assert response.status_code == 200 and response.json()["valid"] is False
    for fmt in ("trl", "rankings", "sft", "judgements"):
        assert _rows(admin, ranked, format=fmt) == [], fmt
    # and the pair's answer lists the item's responses and the judgement in full
    detail = api.get(f"/api/projects/{ranked.slug}/pairs/{judgement.pair_id}").json()
    assert [r["text"] for r in detail["ranked"]] == ["w", "x", "y", "z"]
    [shown] = detail["judgements"]
    assert shown["ranking"] == judgement.ranking and shown["criteria"] == judgement.criteria
    # (its edit, which no other judgement wrote, is invalid with it)
    assert shown["edit"]["text"] == "z, improved" and shown["edit"]["valid"] is False
    assert shown["edit"]["parent"] == detail["ranked"][3]["id"]
    # when restored, it counts again, its edit too
    api.post(_review_url(judgement, "restore"), {}, format="json")
    assert len(_rows(admin, ranked, format="trl")) == 5
    assert len(_rows(admin, ranked, format="sft")) == 1
