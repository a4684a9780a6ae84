"""The edit rules: an edit required only below a rating (`edit_below`), and each edit judged
later as a new pending pair (`judge_edits`), set through the API and the settings page."""

from __future__ import annotations

import html
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache

from annotate.importing.pipeline import import_file
from annotate.models import Assignment, Judgement, Pair, Project, RankedResponse, Response
from annotate.projects.members import set_member
from tests.annotate.workspace_support import logged_in
from tests.conftest import client_for, streamed
from tests.factories import make_pairs, make_project, write_jsonl

pytestmark = pytest.mark.django_db

SCALE = [1, 2, 3, 4, 5]


def _patch(user: Any, project: Project, **body: Any) -> Any:
    return client_for(user).patch(f"/api/projects/{project.slug}/", body, format="json")


def _next(user: Any, project: Project) -> dict[str, Any]:
    response = client_for(user).post(f"/api/projects/{project.slug}/next")
    assert response.status_code == 200, response.content
    return dict(response.json())


def _judge(user: Any, assignment: int, **body: Any) -> Any:
    body.setdefault("client_id", str(uuid.uuid4()))
    url = f"/api/assignments/{assignment}/judgement"
    return client_for(user).post(url, body, format="json")


def _better(lease: dict[str, Any]) -> int:
    """The id of the response shown on the left of a pairwise lease."""
    assignment = Assignment.objects.select_related("pair").get(pk=lease["assignment"])
    pair = assignment.pair
    return pair.response_a_id if assignment.left_is_a else pair.response_b_id


@pytest.fixture
def rated(project: Project, tmp_path: Path) -> Project:
    """Two pending pairs, a 1-5 rating, edits required below 4."""
    make_pairs(project, tmp_path, 2, labelled=False)
    Project.objects.filter(pk=project.pk).update(rating_scale=SCALE, edits="required", edit_below=4)
    project.refresh_from_db()
    return project


# ---------------------------------------------------------------- settings


def test_it_takes_and_returns_the_edit_rules(admin: Any, project: Project) -> None:
    # when
    response = _patch(
        admin, project, rating_scale=SCALE, edits="required", edit_below=3, judge_edits=True
    )
    # then
    assert response.status_code == 200, response.json()
    read = client_for(admin).get(f"/api/projects/{project.slug}/").json()
    assert (read["edit_below"], read["judge_edits"]) == (3, True)
    project.refresh_from_db()
    assert (project.edit_below, project.judge_edits) == (3, True)


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"rating_scale": SCALE, "edits": "required", "edit_below": 9}, "edit_below", "9 is not"),
        ({"rating_scale": SCALE, "edits": "required", "edit_below": "4"}, "edit_below", "not on"),
        ({"rating_scale": SCALE, "edits": "required", "edit_below": True}, "edit_below", "not on"),
        ({"rating_scale": SCALE, "edits": "required", "edit_below": 1}, "edit_below", "lowest"),
        ({"rating_scale": SCALE, "edits": "optional", "edit_below": 3}, "edit_below", "required"),
        ({"edits": "required", "edit_below": 3}, "edit_below", "needs a rating scale"),
        ({"judge_edits": True}, "judge_edits", "needs edits"),
    ],
)
def test_it_refuses_bad_edit_rules_naming_the_field(
    admin: Any, project: Project, body: dict[str, Any], field: str, message: str
) -> None:
    response = _patch(admin, project, **body)
    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert message in response.json()[field][0]
    project.refresh_from_db()
    assert (project.edit_below, project.judge_edits, project.edits) == (None, False, "off")


def test_turning_edits_off_under_a_threshold_is_refused_until_the_threshold_goes(
    admin: Any, rated: Project
) -> None:
    refused = _patch(admin, rated, edits="optional")
    assert refused.status_code == 400
    assert list(refused.json()) == ["edit_below"]
    assert _patch(admin, rated, edits="optional", edit_below=None).status_code == 200


def test_the_edit_rules_still_change_once_judging_has_started(
    admin: Any, annotator: Any, rated: Project
) -> None:
    # given a judgement
    lease = _next(annotator, rated)
    judged = _judge(annotator, lease["assignment"], choice="left", ratings={"left": 5})
    assert judged.status_code == 201, judged.json()
    assert Judgement.objects.count() == 1
    # then the threshold and judge_edits still change (they say what is asked from now on)
    assert _patch(admin, rated, edit_below=2, judge_edits=True).status_code == 200
    rated.refresh_from_db()
    assert (rated.edit_below, rated.judge_edits) == (2, True)


def test_the_settings_page_takes_the_edit_rules_and_refuses_what_the_api_refuses(
    admin: Any, project: Project
) -> None:
    # given the page's settings as a browser posts them
    base = {
        "name": "Proj",
        "judgements_per_pair": "1",
        "lease_seconds": "600",
        "ask_rationale": "off",
        "acquisition": "random",
        "retrain_every": "0",
        "rating_scale": '["bad", "ok", "good"]',
        "edits": "required",
    }
    url = f"/projects/{project.slug}/settings"
    # when
    page = logged_in(admin).get(url).content.decode()
    saved = logged_in(admin).post(url, {**base, "edit_below": "good", "judge_edits": "on"})
    project.refresh_from_db()
    stored = (project.edit_below, project.judge_edits)
    bad = logged_in(admin).post(url, {**base, "edit_below": "great"})
    cleared = logged_in(admin).post(url, {**base, "edit_below": ""})
    # then
    assert 'name="edit_below"' in page and 'name="judge_edits"' in page
    assert saved.status_code == 302
    assert stored == ("good", True)
    assert bad.status_code == 400
    assert "'great' is not on this project's rating scale" in html.unescape(bad.content.decode())
    assert cleared.status_code == 302
    project.refresh_from_db()
    assert (project.edit_below, project.judge_edits) == (None, False)


def test_the_settings_page_reads_a_number_as_the_scales_number(
    admin: Any, project: Project
) -> None:
    body = {"name": "Proj", "judgements_per_pair": "1", "lease_seconds": "600"}
    body |= {"ask_rationale": "off", "acquisition": "random", "retrain_every": "0"}
    body |= {"rating_scale": json.dumps(SCALE), "edits": "required", "edit_below": " 4 "}
    response = logged_in(admin).post(f"/projects/{project.slug}/settings", body)
    assert response.status_code == 302
    project.refresh_from_db()
    assert project.edit_below == 4
    settings_page = logged_in(admin).get(f"/projects/{project.slug}/settings").content.decode()
    assert 'name="edit_below" value="4"' in settings_page


# ---------------------------------------------------------------- edit_below


def test_next_says_when_an_edit_is_required(annotator: Any, rated: Project) -> None:
    lease = _next(annotator, rated)
    assert (lease["edits"], lease["edit_below"], lease["rating_scale"]) == ("required", 4, SCALE)


@pytest.mark.parametrize(
    ("ratings", "needs_edit"),
    [
        ({"left": 3, "right": 5}, True),  # the better response rated below 4
        ({"left": 1}, True),
        ({"right": 5}, True),  # the better response unrated
        (None, True),
        ({"left": 4, "right": 1}, False),  # at the threshold: no edit needed
        ({"left": 5}, False),
    ],
)
def test_an_edit_is_required_only_below_the_threshold(
    annotator: Any, rated: Project, ratings: dict[str, int] | None, needs_edit: bool
) -> None:
    # given
    lease = _next(annotator, rated)
    # when the left is chosen with these ratings and no edit
    response = _judge(annotator, lease["assignment"], choice="left", ratings=ratings)
    # then
    if needs_edit:
        assert response.status_code == 400, response.json()
        assert list(response.json()) == ["edit"]
        assert "rated below 4" in response.json()["edit"][0]
        assert not Judgement.objects.exists()
    else:
        assert response.status_code == 201, response.json()
        assert Judgement.objects.get().edit is None


def test_ratings_keyed_by_response_id_count_for_the_threshold(
    annotator: Any, rated: Project
) -> None:
    lease = _next(annotator, rated)
    better = _better(lease)
    refused = _judge(annotator, lease["assignment"], choice="left", ratings={str(better): 2})
    taken = _judge(annotator, lease["assignment"], choice="left", ratings={str(better): 4})
    assert refused.status_code == 400 and list(refused.json()) == ["edit"]
    assert taken.status_code == 201, taken.json()


def test_a_required_edit_below_the_threshold_is_recorded(annotator: Any, rated: Project) -> None:
    lease = _next(annotator, rated)
    edit = lease["left"]["text"] + " Fixed."
    response = _judge(annotator, lease["assignment"], choice="left", ratings={"left": 2}, edit=edit)
    assert response.status_code == 201, response.json()
    judgement = Judgement.objects.get()
    assert judgement.edit is not None and judgement.edit.text == edit
    assert judgement.edit.parent_id == _better(lease)


# ---------------------------------------------------------------- judge_edits


@pytest.fixture
def edited(project: Project, tmp_path: Path) -> Project:
    """One pending pair, one vote a pair, optional edits judged later."""
    make_pairs(project, tmp_path, 1, labelled=False)
    Project.objects.filter(pk=project.pk).update(edits="optional", judge_edits=True)
    project.refresh_from_db()
    return project


def test_an_edit_becomes_a_pending_pair_another_annotator_judges(
    admin: Any, annotator: Any, second_annotator: Any, edited: Project
) -> None:
    # given bob improves the left response of the only pair
    lease = _next(annotator, edited)
    parent = _better(lease)
    text = lease["left"]["text"] + " With the missing step."
    judged = _judge(annotator, lease["assignment"], choice="left", edit=text)
    assert judged.status_code == 201, judged.json()
    original = Pair.objects.get(pk=lease["pair"])
    # then the edit is a new pending pair of the prompt: the edit against the one it improves
    made = Pair.objects.exclude(pk=original.pk).get()
    edit = Response.objects.get(parent_id=parent)
    assert made.status == "pending" and made.prompt_id == original.prompt_id
    assert {made.response_a_id, made.response_b_id} == {parent, edit.pk}
    assert made.meta == {"edit_of": parent, "edit_judgement": judged.json()["judgement"]}
    # when carol asks for a pair, she gets the edit's and prefers the edit
    served = _next(second_annotator, edited)
    assert served["pair"] == made.pk
    side = "left" if served["left"]["text"] == text else "right"
    vote = _judge(second_annotator, served["assignment"], choice=side)
    # then her vote counts: the pair is complete, and the edit is the chosen response
    assert vote.status_code == 201, vote.json()
    made.refresh_from_db()
    assert (made.status, made.judgement_count) == ("complete", 1)
    stats = client_for(admin).get(f"/api/projects/{edited.slug}/stats").json()
    assert (stats["pending"], stats["complete"], stats["judgements"]) == (0, 2, 2)
    winner = Judgement.objects.get(pair=made).choice
    assert (made.response_a_id if winner == "a" else made.response_b_id) == edit.pk


def test_replaying_the_client_id_makes_no_second_pair(annotator: Any, edited: Project) -> None:
    lease = _next(annotator, edited)
    body = {"choice": "right", "edit": lease["right"]["text"] + " Better.", "client_id": "c-1"}
    first = _judge(annotator, lease["assignment"], **body)
    again = _judge(annotator, lease["assignment"], **body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert Pair.objects.count() == 2
    assert Response.objects.filter(parent__isnull=False).count() == 1


def test_the_same_edit_twice_is_one_response_and_one_pair(
    annotator: Any, second_annotator: Any, edited: Project
) -> None:
    # given two votes a pair, and both annotators write the same improvement
    Project.objects.filter(pk=edited.pk).update(judgements_per_pair=2)
    edited.refresh_from_db()
    texts = []
    for user in (annotator, second_annotator):
        lease = _next(user, edited)
        side = "left" if Assignment.objects.get(pk=lease["assignment"]).left_is_a else "right"
        texts.append(lease[side]["text"] + " Same fix.")
        response = _judge(user, lease["assignment"], choice=side, edit=texts[-1])
        assert response.status_code == 201, response.json()
    # then
    assert texts[0] == texts[1]
    assert Response.objects.filter(parent__isnull=False).count() == 1
    assert Pair.objects.filter(meta__has_key="edit_of").count() == 1


def test_an_edit_is_not_queued_where_the_project_does_not_judge_edits(
    annotator: Any, edited: Project
) -> None:
    Project.objects.filter(pk=edited.pk).update(judge_edits=False)
    edited.refresh_from_db()
    lease = _next(annotator, edited)
    response = _judge(annotator, lease["assignment"], choice="left", edit="A new answer.")
    assert response.status_code == 201
    assert Pair.objects.count() == 1


def test_a_ranking_projects_edit_becomes_a_ranking_item_judged_later(
    annotator: Any, second_annotator: Any, tmp_path: Path
) -> None:
    # given a ranking project of four responses, ranking four at most, edits judged later
    project = make_project("ranked", comparison="ranking", max_ranked=4)
    project.edits, project.judge_edits = "optional", True
    project.save()
    for user in (annotator, second_annotator):
        set_member(project, username=user.username, role="annotator")
    row = {"prompt": "question?", "responses": [f"answer {i}" for i in range(4)]}
    import_file(project, write_jsonl(tmp_path / "ranked.jsonl", [row]))
    # when bob ranks them and improves the best
    lease = _next(annotator, project)
    ids = [r["id"] for r in lease["responses"]]
    text = "answer, improved"
    judged = _judge(annotator, lease["assignment"], ranking=[[i] for i in ids], edit=text)
    assert judged.status_code == 201, judged.json()
    # then a new item holds the improved response, the edit and the next two (the worst out)
    item = Pair.objects.exclude(pk=lease["pair"]).get()
    edit = Response.objects.get(text=text)
    ranked = list(RankedResponse.objects.filter(pair=item).values_list("response_id", flat=True))
    assert ranked == [ids[0], edit.pk, ids[1], ids[2]]
    assert (item.response_a_id, item.response_b_id) == (ids[0], edit.pk)
    assert item.meta == {"edit_of": ids[0], "edit_judgement": judged.json()["judgement"]}
    # and carol ranks it like any item, her vote counting
    served = _next(second_annotator, project)
    assert served["pair"] == item.pk
    assert sorted(r["id"] for r in served["responses"]) == sorted(ranked)
    vote = _judge(
        second_annotator, served["assignment"], ranking=[[edit.pk], [ids[0], ids[1], ids[2]]]
    )
    assert vote.status_code == 201, vote.json()
    item.refresh_from_db()
    assert (item.status, item.judgement_count) == ("complete", 1)
    assert Judgement.objects.get(pair=item).choice == "b"  # the edit beats what it improves


def test_an_edit_judged_with_next_is_queued_in_the_same_request_for_others(
    annotator: Any, edited: Project
) -> None:
    # given
    lease = _next(annotator, edited)
    text = lease["left"]["text"] + " Clearer."
    # when the judgement also asks for the next pair
    response = _judge(annotator, lease["assignment"], choice="left", edit=text, next=True)
    # then the edit's pair is there, but its author is not asked to judge their own edit
    assert response.status_code == 201, response.json()
    made = Pair.objects.get(meta__has_key="edit_of")
    assert made.status == "pending"
    assert response.json()["next"] is None
    assert client_for(annotator).post(f"/api/projects/{edited.slug}/next").status_code == 204


def test_an_edit_review_invalidated_is_not_served_for_judging(
    admin: Any, annotator: Any, second_annotator: Any, edited: Project
) -> None:
    # given bob's edit became a pending pair
    lease = _next(annotator, edited)
    judged = _judge(annotator, lease["assignment"], choice="left", edit=lease["left"]["text"] + "!")
    assert judged.status_code == 201, judged.json()
    made = Pair.objects.get(meta__has_key="edit_of")
    # when the admin invalidates the edit in review
    url = (
        f"/api/projects/{edited.slug}/pairs/{lease['pair']}/judgements/"
        f"{judged.json()['judgement']}/invalidate"
    )
    refused = client_for(admin).post(url, {"reason": "made up a fact", "part": "edit"}, "json")
    assert refused.status_code == 200, refused.json()
    # then nobody is asked to judge it: its pair wants no more votes
    assert client_for(second_annotator).post(f"/api/projects/{edited.slug}/next").status_code == 204
    made.refresh_from_db()
    assert (made.status, made.judgement_count) == ("complete", 0)


def _invalidate(admin: Any, project: Project, pair: int, judgement: int, **body: Any) -> Any:
    base = f"/api/projects/{project.slug}/pairs/{pair}/judgements/{judgement}"
    return client_for(admin).post(f"{base}/invalidate", {"reason": "spam", **body}, "json")


def _restore(admin: Any, project: Project, pair: int, judgement: int, **body: Any) -> Any:
    base = f"/api/projects/{project.slug}/pairs/{pair}/judgements/{judgement}"
    return client_for(admin).post(f"{base}/restore", body, "json")


def test_votes_on_an_edit_review_found_wanting_leave_the_exports(
    admin: Any, annotator: Any, second_annotator: Any, edited: Project
) -> None:
    # given bob's edit, judged better than its parent by carol
    lease = _next(annotator, edited)
    text = lease["left"]["text"] + " EDITED"
    judged = _judge(annotator, lease["assignment"], choice="left", edit=text)
    served = _next(second_annotator, edited)
    side = "left" if served["left"]["text"] == text else "right"
    assert _judge(second_annotator, served["assignment"], choice=side).status_code == 201

    def chosen() -> list[str]:
        export = client_for(admin).get(f"/api/projects/{edited.slug}/export", {"format": "trl"})
        lines = streamed(export).decode().splitlines()
        return [json.loads(line)["chosen"] for line in lines]

    assert text in chosen()
    # when the admin finds the edit wanting
    assert _invalidate(admin, edited, lease["pair"], judged.json()["judgement"], part="edit")
    # then carol's vote on it no longer makes the edit a chosen response
    assert text not in chosen() and len(chosen()) == 1


def test_invalidating_a_whole_judgement_takes_its_edit_out_of_later_pairs_and_back(
    admin: Any, annotator: Any, second_annotator: Any, edited: Project
) -> None:
    # given bob's edit, queued as a pair nobody judged yet
    lease = _next(annotator, edited)
    judged = _judge(annotator, lease["assignment"], choice="left", edit=lease["left"]["text"] + "?")
    judgement = judged.json()["judgement"]
    assert Pair.objects.filter(meta__has_key="edit_of").count() == 1
    # when the admin invalidates bob's whole judgement
    assert _invalidate(admin, edited, lease["pair"], judgement).status_code == 200
    # then the edit is invalid too and its pair is gone from the queue
    edit = Judgement.objects.get(pk=judgement).edit
    assert edit is not None and edit.invalidated_at is not None
    assert Pair.objects.get(meta__has_key="edit_of").status == "complete"
    # (the judged pair went back to the queue, wanting a valid vote: carol passes it)
    back = _next(second_annotator, edited)
    assert back["pair"] == lease["pair"]
    skipped = client_for(second_annotator).post(f"/api/assignments/{back['assignment']}/skip")
    assert skipped.status_code in (200, 204)
    assert client_for(second_annotator).post(f"/api/projects/{edited.slug}/next").status_code == 204
    # when it is restored, the edit counts again and its pair is back in the queue
    assert _restore(admin, edited, lease["pair"], judgement).status_code == 200
    edit.refresh_from_db()
    assert edit.invalidated_at is None
    made = Pair.objects.get(meta__has_key="edit_of")
    assert made.status == "pending" and _next(second_annotator, edited)["pair"] == made.pk


def test_the_edit_found_wanting_stays_out_when_its_judgement_is_restored(
    admin: Any, annotator: Any, edited: Project
) -> None:
    # given bob's edit, invalidated with his whole judgement and then found wanting itself
    lease = _next(annotator, edited)
    judged = _judge(annotator, lease["assignment"], choice="left", edit=lease["left"]["text"] + "#")
    judgement = judged.json()["judgement"]
    assert _invalidate(admin, edited, lease["pair"], judgement).status_code == 200
    assert _invalidate(admin, edited, lease["pair"], judgement, part="edit").status_code == 200
    # when the judgement is restored
    assert _restore(admin, edited, lease["pair"], judgement).status_code == 200
    # then the judgement counts again, and the edit stays wanting
    restored = Judgement.objects.select_related("edit").get(pk=judgement)
    assert restored.invalidated_at is None
    assert restored.edit is not None and restored.edit.invalidated_at is not None


def test_an_edit_with_a_text_the_prompt_had_is_not_touched_by_review(
    admin: Any, annotator: Any, second_annotator: Any, edited: Project
) -> None:
    # given bob "improves" the left response into the right one, which the prompt already has
    lease = _next(annotator, edited)
    judged = _judge(annotator, lease["assignment"], choice="left", edit=lease["right"]["text"])
    assert judged.status_code == 201, judged.json()
    judgement = Judgement.objects.select_related("edit").get(pk=judged.json()["judgement"])
    assert judgement.edit is not None and judgement.edit.parent_id is None
    # when the admin invalidates his whole judgement
    assert _invalidate(admin, edited, lease["pair"], judgement.pk).status_code == 200
    # then the response the prompt had is not marked wanting
    judgement.edit.refresh_from_db()
    assert judgement.edit.invalidated_at is None


def test_an_edits_author_is_not_counted_as_having_its_pair_left(
    annotator: Any, edited: Project
) -> None:
    # given bob judged the only pair with an edit, which made a pair for others
    lease = _next(annotator, edited)
    cache.clear()  # his progress is counted afresh
    answer = _judge(annotator, lease["assignment"], choice="left", edit=lease["left"]["text"] + "!")
    # then his progress says nothing is left for him
    assert answer.json()["progress"]["remaining"] == 0
