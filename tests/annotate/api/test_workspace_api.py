"""The workspace endpoints: settings, members, invitations, pairs with review, import jobs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext

from annotate.models import Invitation, Judgement, Pair, Project
from annotate.projects.invitations import invite_members
from tests.annotate.statistics_support import fetched
from tests.conftest import client_for
from tests.factories import make_pairs

pytestmark = pytest.mark.django_db


def _all_pages(client: Any, url: str) -> list[int]:
    ids: list[int] = []
    while url:
        body = client.get(url).json()
        ids += [row["id"] for row in body["results"]]
        url = body["next"]
    return ids


def test_patch_changes_any_setting_but_the_slug(admin: User, project: Project) -> None:
    # given the project's counts, as a worker stored them
    fetched(client_for(admin), f"/api/projects/{project.slug}/")
    # when
    response = client_for(admin).patch(
        f"/api/projects/{project.slug}/",
        {"gold_rate": 0.1, "random_slice_share": 0.2, "slug": "renamed"},
        format="json",
    )
    # then
    assert response.status_code == 200, response.json()
    project.refresh_from_db()
    assert (project.gold_rate, project.random_slice_share, project.slug) == (0.1, 0.2, "proj")
    assert response.json()["counts"]["pairs"] == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("judgements_per_pair", 0),
        ("lease_seconds", 1),
        ("gold_rate", 2),
        ("random_slice_share", -1),
        ("ask_rationale", "sometimes"),
        ("allow_tie", "perhaps"),
    ],
)
def test_patch_refuses_a_bad_setting_naming_the_field(
    admin: User, project: Project, field: str, value: Any
) -> None:
    response = client_for(admin).patch(
        f"/api/projects/{project.slug}/", {field: value}, format="json"
    )
    assert response.status_code == 400
    assert list(response.json()) == [field]


def test_archive_hides_the_project_from_annotators_until_unarchived(
    admin: User, annotator: User, project: Project
) -> None:
    # when
    archived = client_for(admin).post(f"/api/projects/{project.slug}/archive")
    # then
    assert archived.status_code == 200 and archived.json()["archived_at"] is not None
    assert client_for(annotator).get(f"/api/projects/{project.slug}/").status_code == 404
    # when
    active = client_for(admin).post(f"/api/projects/{project.slug}/unarchive")
    # then
    assert active.json()["archived_at"] is None
    assert client_for(annotator).get(f"/api/projects/{project.slug}/").status_code == 200


def test_delete_hides_the_project_at_once(admin: User, project: Project) -> None:
    assert client_for(admin).delete(f"/api/projects/{project.slug}/").status_code == 204
    assert client_for(admin).get(f"/api/projects/{project.slug}/").status_code == 404


def test_members_list_role_change_and_removal(
    admin: User, annotator: User, project: Project
) -> None:
    client = client_for(admin)
    url = f"/api/projects/{project.slug}/members"
    # when
    listed = client.get(url).json()
    # then
    assert [(m["username"], m["role"]) for m in listed] == [
        ("alice", "admin"),
        ("bob", "annotator"),
        ("carol", "annotator"),
    ]
    assert set(listed[0]) == {
        *("user_id", "username", "role", "judgements", "last_active", "paused_reason"),
        "created_at",
    }
    # when bob becomes admin, then alice may step down, and bob is removed last
    changed = client.patch(f"{url}/{annotator.pk}", {"role": "admin"}, format="json")
    assert changed.status_code == 200 and changed.json()["role"] == "admin"
    assert client.patch(f"{url}/{annotator.pk}", {"role": "boss"}, format="json").json() == {
        "role": ['"boss" is not a valid choice.']
    }
    assert client.delete(f"{url}/{annotator.pk}").status_code == 204
    assert client.get(url).json()[0]["username"] == "alice"


def test_the_last_admin_can_neither_leave_nor_step_down(admin: User, project: Project) -> None:
    url = f"/api/projects/{project.slug}/members/{admin.pk}"
    demoted = client_for(admin).patch(url, {"role": "annotator"}, format="json")
    assert demoted.status_code == 400 and "at least one admin" in demoted.json()["role"][0]
    removed = client_for(admin).delete(url)
    assert removed.status_code == 409 and "at least one admin" in removed.json()["detail"]


def test_a_member_that_is_not_one_is_404(admin: User, outsider: User, project: Project) -> None:
    url = f"/api/projects/{project.slug}/members/{outsider.pk}"
    assert client_for(admin).delete(url).status_code == 404


def test_invite_lists_revokes_and_the_link_joins(
    admin: User, outsider: User, project: Project
) -> None:
    client = client_for(admin)
    url = f"/api/projects/{project.slug}/invitations"
    # when
    made = client.post(url, {"emails": "Dana@Example.org, eli@example.org", "role": "admin"})
    # then
    assert made.status_code == 201, made.json()
    links = made.json()
    assert [(i["email"], i["role"]) for i in links] == [
        ("dana@example.org", "admin"),
        ("eli@example.org", "admin"),
    ]
    assert links[0]["url"].startswith("http://testserver/invitations/")
    assert [i["email"] for i in client.get(url).json()] == ["eli@example.org", "dana@example.org"]
    # when one is revoked, then it is gone, and revoking it again is 404
    assert client.delete(f"{url}/{links[1]['id']}").status_code == 204
    assert client.delete(f"{url}/{links[1]['id']}").status_code == 404
    # when someone signed in uses the other link, then they join with its role, once
    token = links[0]["url"].rsplit("/", 1)[1]
    accepted = client_for(outsider).post(f"/api/invitations/{token}/accept")
    assert accepted.json() == {"project": "proj", "role": "admin", "joined": True}
    assert client_for(outsider).post(f"/api/invitations/{token}/accept").status_code == 404
    assert client.get(url).json() == []


@pytest.mark.parametrize(
    ("emails", "message"),
    [
        ("", "Enter at least one email address."),
        ("a@example.org nope", "Not valid email addresses: nope"),
        ([1, 2], "Give the addresses as a list or as text separated by spaces or commas."),
        (" ".join(f"p{i}@example.org" for i in range(101)), "Invite at most 100 people at once."),
    ],
)
def test_bad_invitations_are_a_field_error(
    admin: User, project: Project, emails: Any, message: str
) -> None:
    response = client_for(admin).post(
        f"/api/projects/{project.slug}/invitations", {"emails": emails}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"emails": [message]}
    assert not Invitation.objects.exists()


def test_pair_pages_stay_stable_while_pairs_are_added(
    admin: User, project: Project, tmp_path: Path
) -> None:
    # given 120 pairs, read 50 at a time
    make_pairs(project, tmp_path, 120, labelled=False)
    client = client_for(admin)
    first = client.get(f"/api/projects/{project.slug}/pairs").json()
    # when more pairs arrive between pages
    make_pairs(project, tmp_path, 30, labelled=False, prefix="late")
    rest = _all_pages(client, first["next"])
    # then every pair that was there is listed exactly once, newest first
    seen = [row["id"] for row in first["results"]] + rest
    before = list(
        Pair.objects.filter(project=project).order_by("-pk").values_list("pk", flat=True)[30:]
    )
    assert seen == before
    assert first["cursor"] is not None and len(first["results"]) == 50


def test_pairs_filter_and_sort_like_the_browser(
    admin: User, project: Project, tmp_path: Path
) -> None:
    # given pairs, one with gold and two votes
    make_pairs(project, tmp_path, 5)
    pair = Pair.objects.filter(project=project).order_by("pk").first()
    assert pair is not None
    Pair.objects.filter(pk=pair.pk).update(gold_label="a", judgement_count=2)
    client = client_for(admin)
    url = f"/api/projects/{project.slug}/pairs"
    # then
    gold = client.get(f"{url}?gold=yes").json()["results"]
    assert [row["id"] for row in gold] == [pair.pk]
    assert gold[0]["gold_label"] == "a" and gold[0]["model_a"] == "model-x"
    assert client.get(f"{url}?sort=votes").json()["results"][0]["id"] == pair.pk
    assert client.get(f"{url}?q=question 3").json()["results"][0]["prompt"] == "q question 3?"
    bad = client.get(f"{url}?sort=random&annotator=999999&after=x")
    assert bad.status_code == 400 and set(bad.json()) == {"sort", "annotator", "after"}


def test_listing_pairs_takes_the_same_queries_for_any_page_size(
    admin: User, project: Project, tmp_path: Path
) -> None:
    client = client_for(admin)
    make_pairs(project, tmp_path, 3)
    with CaptureQueriesContext(connection) as few:
        client.get(f"/api/projects/{project.slug}/pairs")
    make_pairs(project, tmp_path, 40, prefix="more")
    with CaptureQueriesContext(connection) as many:
        client.get(f"/api/projects/{project.slug}/pairs")
    assert len(many) == len(few)


def test_review_through_the_api(admin: User, project: Project, tmp_path: Path) -> None:
    # given an imported vote
    make_pairs(project, tmp_path, 1)
    pair = Pair.objects.get(project=project)
    judgement = Judgement.objects.get(pair=pair)
    client = client_for(admin)
    base = f"/api/projects/{project.slug}/pairs/{pair.pk}"
    # when it is invalidated without a reason, then nothing changes
    assert client.post(f"{base}/judgements/{judgement.pk}/invalidate", {"reason": " "}).json() == {
        "reason": ["This field may not be blank."]
    }
    # when invalidated with one
    invalid = client.post(f"{base}/judgements/{judgement.pk}/invalidate", {"reason": "a bot"})
    # then it no longer counts, and the pair shows why
    assert invalid.status_code == 200
    assert (invalid.json()["valid"], invalid.json()["invalid_reason"]) == (False, "a bot")
    detail = client.get(base).json()
    assert detail["judgement_count"] == 0
    assert detail["judgements"][0]["reviews"][0]["action"] == "invalidated"
    assert detail["judgements"][0]["reviews"][0]["by"] == "alice"
    # when restored, then it counts again
    restored = client.post(f"{base}/judgements/{judgement.pk}/restore").json()
    assert restored["valid"] is True and client.get(base).json()["judgement_count"] == 1
    # gold: set, refuse a bad label, clear
    assert client.put(f"{base}/gold", {"label": "tie"}).json()["gold_label"] == "tie"
    assert client.put(f"{base}/gold", {"label": "c"}).status_code == 400
    assert client.delete(f"{base}/gold").json()["gold_label"] == ""
    # a judgement of another pair is not found under this one
    assert client.post(f"{base}0/judgements/{judgement.pk}/restore").status_code == 404


def test_import_jobs_are_listed_newest_first(admin: User, project: Project, tmp_path: Path) -> None:
    client = client_for(admin)
    url = f"/api/projects/{project.slug}/imports"
    for name in ("one.jsonl", "two.jsonl"):
        path = tmp_path / name
        path.write_text('{"prompt": "p", "response_a": "a", "response_b": "b"}\n')
        with path.open("rb") as f:
            assert client.post(url, {"file": f}, format="multipart").status_code == 202
    body = client.get(url).json()
    assert [job["original_name"] for job in body["results"]] == ["two.jsonl", "one.jsonl"]
    assert body["next"] is None
    assert client.get(f"{url}?after=nope").status_code == 400


def test_existing_membership_answers_keep_their_fields(admin: User, project: Project) -> None:
    invite_members(project, emails=["z@example.org"], role="annotator", by=admin)
    body = client_for(admin).get(f"/api/projects/{project.slug}/invitations").json()[0]
    assert set(body) == {"id", "email", "role", "created_at", "expires_at", "expired"} | {
        "created_by"
    }
    assert body["created_by"] == "alice" and body["expired"] is False
