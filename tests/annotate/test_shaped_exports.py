"""Exports of rankings, a criterion's preferences, ratings (KTO) and edits (SFT), and a
replay: the demo's prompts with 4 or more responses ranked through the API, whose trl export
holds exactly the rankings' decisive pairs."""

from __future__ import annotations

import io
import json
from collections import Counter, defaultdict
from itertools import combinations
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from annotate.importing.pipeline import import_file
from annotate.models import Pair, Project
from annotate.projects.members import set_member
from tests.conftest import client_for, streamed
from tests.factories import DEMO_DATA, make_pairs, make_project, write_jsonl

pytestmark = pytest.mark.django_db


def _export(user: Any, project: Project, **query: str) -> Any:
    return client_for(user).get(f"/api/projects/{project.slug}/export", query)


def _rows(user: Any, project: Project, **query: str) -> list[dict[str, Any]]:
    response = _export(user, project, **query)
    assert response.status_code == 200, response.content
    body = streamed(response)
    if query.get("file") == "parquet":
        return pq.read_table(io.BytesIO(body)).to_pylist()
    return [json.loads(line) for line in body.splitlines()]


def _judge(user: Any, assignment: int, **body: Any) -> Any:
    body.setdefault("client_id", f"{user.pk}-{assignment}")
    url = f"/api/assignments/{assignment}/judgement?next=1"
    response = client_for(user).post(url, body, format="json")
    assert response.status_code == 201, response.json()
    return response.json()["next"]


def _demo_ranking_rows(least: int = 4) -> list[dict[str, Any]]:
    """The demo's prompts with at least `least` distinct responses, as `responses` rows."""
    answers: dict[str, list[str]] = defaultdict(list)
    for part in ("labelled", "pending"):
        for line in (DEMO_DATA / f"pandalm-{part}.jsonl").read_text().splitlines():
            record = json.loads(line)
            for text in (record["response_a"], record["response_b"]):
                if text not in answers[record["prompt"]]:
                    answers[record["prompt"]].append(text)
    return [
        {"prompt": prompt, "responses": texts}
        for prompt, texts in answers.items()
        if len(texts) >= least
    ]


def _rank(responses: list[dict[str, Any]]) -> list[list[int]]:
    """An annotator's ranking: longer answers first, answers of a similar length tied."""
    buckets: dict[int, list[int]] = defaultdict(list)
    for r in responses:
        buckets[len(r["text"]) // 150].append(r["id"])
    return [buckets[b] for b in sorted(buckets, reverse=True)]


def test_replay_the_trl_export_of_ranked_demo_prompts_is_their_decisive_pairs(
    admin: Any, annotator: Any, tmp_path: Path
) -> None:
    # given the demo's prompts with 4+ responses in a ranking project (5 ranked at a time)
    project = make_project("replay", comparison="ranking", max_ranked=5, admin=admin)
    set_member(project, username=annotator.username, role="annotator")
    rows = _demo_ranking_rows()
    assert len(rows) >= 30
    import_file(project, write_jsonl(tmp_path / "demo.jsonl", rows))
    # when the annotator ranks every item through the API
    expected: Counter[tuple[str, str, str]] = Counter()
    ties = rankings = 0
    lease = client_for(annotator).post(f"/api/projects/{project.slug}/next").json()
    while lease:
        ranking = _rank(lease["responses"])
        texts = {r["id"]: r["text"] for r in lease["responses"]}
        prompt = lease["prompt"][-1]["content"]
        for index, group in enumerate(ranking):
            ties += sum(1 for _ in combinations(group, 2))
            for later in ranking[index + 1 :]:
                expected.update((prompt, texts[u], texts[v]) for u in group for v in later)
        rankings += 1
        lease = _judge(annotator, lease["assignment"], ranking=ranking)
    # then the trl export holds exactly the implied decisive pairs, ties kept out
    assert ties > 0 and rankings == project.pairs.count()
    for file in ("jsonl", "parquet"):
        exported = _rows(admin, project, format="trl", file=file)
        assert Counter((r["prompt"], r["chosen"], r["rejected"]) for r in exported) == expected
    # and the rankings export holds every ranking with its ties, as indexes into responses
    ranked = _rows(admin, project, format="rankings")
    assert len(ranked) == rankings
    implied = Counter(
        (row["prompt"], row["responses"][u], row["responses"][v])
        for row in ranked
        for i, group in enumerate(row["ranking"])
        for later in row["ranking"][i + 1 :]
        for u in group
        for v in later
    )
    assert implied == expected
    # and the rankings export imports back into an empty project unchanged
    back = make_project("back", comparison="ranking", max_ranked=5, admin=admin)
    summary = import_file(back, write_jsonl(tmp_path / "rankings.jsonl", ranked))
    assert (summary.pairs_created, summary.judgements_created) == (rankings, rankings)
    again = _rows(admin, back, format="rankings")

    def unsigned(rows: list[dict[str, Any]]) -> list[str]:
        return sorted(json.dumps([r["prompt"], r["responses"], r["ranking"]]) for r in rows)

    assert unsigned(again) == unsigned(ranked)
    assert len({r["annotator"] for r in again}) == len({r["annotator"] for r in ranked}) == 1
    assert (
        Counter((r["prompt"], r["chosen"], r["rejected"]) for r in _rows(admin, back, format="trl"))
        == expected
    )


def test_a_pair_the_rankings_disagree_on_is_left_out(
    admin: Any, annotator: Any, second_annotator: Any, tmp_path: Path
) -> None:
    # given one item of three responses ranked by two annotators who disagree on one pair
    project = make_project("two", comparison="ranking", judgements_per_pair=2, admin=admin)
    for user in (annotator, second_annotator):
        set_member(project, username=user.username, role="annotator")
    row = {"prompt": "p?", "responses": ["x", "y", "z"]}
    import_file(project, write_jsonl(tmp_path / "r.jsonl", [row]))
    for order in (["x", "y", "z"], ["y", "x", "z"]):
        user = annotator if order[0] == "x" else second_annotator
        lease = client_for(user).post(f"/api/projects/{project.slug}/next").json()
        ids = {r["text"]: r["id"] for r in lease["responses"]}
        _judge(user, lease["assignment"], ranking=[[ids[t]] for t in order])
    # when
    exported = _rows(admin, project, format="trl")
    # then x and y split one-one; both beat z twice
    assert sorted((r["chosen"], r["rejected"]) for r in exported) == [("x", "z"), ("y", "z")]
    assert len(_rows(admin, project, format="rankings")) == 2


def _pairwise(project: Project, tmp_path: Path, **settings: Any) -> Project:
    make_pairs(project, tmp_path, 2, labelled=False)
    Project.objects.filter(pk=project.pk).update(**settings)
    project.refresh_from_db()
    return project


def test_trl_with_a_criterion_holds_that_criterion_s_preferences(
    admin: Any, annotator: Any, project: Project, tmp_path: Path
) -> None:
    # given two pairs where the overall choice and "safe" disagree
    criteria = [{"name": "safe", "guidance": "", "required": True}]
    _pairwise(project, tmp_path, criteria=criteria)
    lease = client_for(annotator).post(f"/api/projects/{project.slug}/next").json()
    lease = _judge(annotator, lease["assignment"], choice="left", criteria={"safe": "right"})
    _judge(annotator, lease["assignment"], choice="left", criteria={"safe": "tie"})
    # when
    overall = _rows(admin, project, format="trl")
    safe = _rows(admin, project, format="trl", criterion="safe")
    refused = _export(admin, project, format="trl", criterion="kind")
    # then
    assert len(overall) == 2
    assert len(safe) == 1  # the tie is kept out
    first = next(r for r in overall if r["prompt"] == safe[0]["prompt"])
    assert (safe[0]["chosen"], safe[0]["rejected"]) == (first["rejected"], first["chosen"])
    assert refused.status_code == 400
    assert "'kind' is not a criterion" in refused.json()["criterion"][0]


def test_kto_labels_rated_responses_by_their_place_on_the_scale(
    admin: Any, annotator: Any, project: Project, tmp_path: Path
) -> None:
    # given a 1-5 scale: 4 and 5 are desirable, 1 and 2 not, 3 (the middle) says neither
    _pairwise(project, tmp_path, rating_scale=[1, 2, 3, 4, 5])
    lease = client_for(annotator).post(f"/api/projects/{project.slug}/next").json()
    first = {"left": lease["left"]["text"], "right": lease["right"]["text"]}
    lease = _judge(annotator, lease["assignment"], choice="left", ratings={"left": 5, "right": 2})
    second = {"left": lease["left"]["text"], "right": lease["right"]["text"]}
    _judge(annotator, lease["assignment"], choice="tie", ratings={"left": 3, "right": 4})
    # when
    for file in ("jsonl", "parquet"):
        rows = _rows(admin, project, format="kto", file=file)
        # then
        assert sorted((r["completion"], r["label"]) for r in rows) == sorted(
            [(first["left"], True), (first["right"], False), (second["right"], True)]
        )
        assert all(r["prompt"].startswith("q question") for r in rows)


def _judge_one_edit(annotator: Any, project: Project, tmp_path: Path) -> tuple[str, str]:
    """Two judged pairs, the first with an edit of the right response: (edit, right text)."""
    _pairwise(project, tmp_path, edits="optional")
    lease = client_for(annotator).post(f"/api/projects/{project.slug}/next").json()
    right_text = lease["right"]["text"]
    improved = right_text + " (fixed)"
    lease = _judge(annotator, lease["assignment"], choice="right", edit=improved)
    _judge(annotator, lease["assignment"], choice="left")
    return improved, right_text


def test_sft_holds_each_edit_with_its_prompt(
    admin: Any, annotator: Any, project: Project, tmp_path: Path
) -> None:
    improved, _ = _judge_one_edit(annotator, project, tmp_path)
    for file in ("jsonl", "parquet"):
        rows = _rows(admin, project, format="sft", file=file)
        assert [r["completion"] for r in rows] == [improved]
        assert rows[0]["prompt"].startswith("q question")


def test_the_judgements_export_holds_each_edit_and_the_response_it_improves(
    admin: Any, annotator: Any, project: Project, tmp_path: Path
) -> None:
    # given one judgement with an edit of the right response and one without
    improved, right_text = _judge_one_edit(annotator, project, tmp_path)
    for file in ("jsonl", "parquet"):
        # when
        rows = _rows(admin, project, format="judgements", file=file)
        # then the edited row names its text and the pair position (0: a, 1: b) it improves
        edited = [r for r in rows if r["edit"] is not None]
        assert [r["edit"] for r in edited] == [improved]
        assert [r["edit_of"] for r in rows if r["edit"] is None] == [None]
        pair = Pair.objects.get(pk=edited[0]["pair_id"])
        texts = [pair.response_a.text, pair.response_b.text]
        assert texts[edited[0]["edit_of"]] == right_text


def test_a_ranking_invalidated_in_review_leaves_every_export(
    admin: Any, annotator: Any, tmp_path: Path
) -> None:
    # given one ranked item whose ranking review then invalidates
    from annotate.models import Judgement
    from annotate.review.actions import invalidate_judgement

    project = make_project("reviewed", comparison="ranking", admin=admin, rating_scale=[1, 2])
    set_member(project, username=annotator.username, role="annotator")
    import_file(
        project, write_jsonl(tmp_path / "r.jsonl", [{"prompt": "p?", "responses": ["x", "y", "z"]}])
    )
    lease = client_for(annotator).post(f"/api/projects/{project.slug}/next").json()
    ids = [r["id"] for r in lease["responses"]]
    _judge(annotator, lease["assignment"], ranking=[[i] for i in ids], ratings={str(ids[0]): 2})
    assert len(_rows(admin, project, format="trl")) == 3
    # when
    invalidate_judgement(Judgement.objects.get(), by=admin, reason="careless")
    # then
    for fmt in ("trl", "hh", "rankings", "kto"):
        assert _rows(admin, project, format=fmt) == [], fmt
