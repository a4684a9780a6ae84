"""Members: adding, inviting (one-time links), changing roles and removing."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from annotate.judging.queue import lease_next_pair
from annotate.models import Assignment, Invitation, Judgement, Membership, Project, Role
from annotate.projects.lifecycle import create_project
from tests.annotate.workspace_support import judge_next, logged_in
from tests.factories import make_pairs

pytestmark = pytest.mark.django_db


def _links(page: str) -> list[str]:
    return re.findall(r'value="(http://testserver/invitations/[^"]+)"', page)


def test_the_list_shows_role_valid_judgements_and_last_activity(
    tmp_path: Path, admin: Any, annotator: Any, project: Project
) -> None:
    make_pairs(project, tmp_path, 2, labelled=False)
    judge_next(annotator, project)
    page = logged_in(admin).get(f"/projects/{project.slug}/members").content.decode()
    [row] = re.findall(r'<tr data-member="bob">(.*?)</tr>', page, re.S)
    assert '<td class="num">1</td>' in row
    assert "ago" in row
    [carol] = re.findall(r'<tr data-member="carol">(.*?)</tr>', page, re.S)
    assert "never" in carol


def test_an_admin_adds_an_existing_user_by_email(
    admin: Any, outsider: Any, project: Project
) -> None:
    outsider.email = "Charlie@Example.com"
    outsider.save()
    # who annotates another of the admin's projects
    other = create_project(slug="other", admin=admin)
    Membership.objects.create(project=other, user=outsider, role=Role.ANNOTATOR)
    client = logged_in(admin)
    response = client.post(
        f"/projects/{project.slug}/members/add", {"user": "charlie@example.com", "role": "admin"}
    )
    assert response.status_code == 302
    assert Membership.objects.get(project=project, user=outsider).role == Role.ADMIN


def test_an_unknown_user_is_named_next_to_the_field(admin: Any, project: Project) -> None:
    response = logged_in(admin).post(
        f"/projects/{project.slug}/members/add", {"user": "nobody", "role": "annotator"}
    )
    page = html.unescape(response.content.decode())
    assert response.status_code == 400
    assert "no user named 'nobody'" in page
    assert page.index("id_user_error") < page.index('name="user"')


def test_invited_people_make_an_account_once_and_land_in_the_project(
    admin: Any, outsider: Any, project: Project
) -> None:
    # given an existing account and two new addresses, pasted in one go
    outsider.email = "charlie@example.com"
    outsider.save()
    client = logged_in(admin)
    emails = "dana@example.com, erin@example.com\ncharlie@example.com dana@example.com"

    # when the admin invites them
    response = client.post(
        f"/projects/{project.slug}/members/invite", {"emails": emails, "role": "annotator"}
    )

    # then every address gets one link, shown once, whether or not it has an account; nobody
    # is added and no account is made until a link is used
    page = client.get(response["Location"]).content.decode()
    links = _links(page)
    assert len(links) == 3 and "charlie@example.com" in page and "erin@example.com" in page
    assert "Added" not in page
    assert _links(client.get(f"/projects/{project.slug}/members").content.decode()) == []
    assert not Membership.objects.filter(project=project, user=outsider).exists()
    assert not User.objects.filter(username="dana@example.com").exists()
    token = links[0].rsplit("/", 1)[1]
    assert not Invitation.objects.filter(token_hash__contains=token).exists()

    # when Dana opens her link and makes an account with the suggested username
    visitor = logged_in(None)
    path = links[0].removeprefix("http://testserver")
    assert "Join Proj" in visitor.get(path).content.decode()
    password = "a long enough passphrase 42"
    response = visitor.post(
        path, {"username": "dana@example.com", "password1": password, "password2": password}
    )

    # then she is logged in on the project page and can log in again with the password
    assert response["Location"] == f"/projects/{project.slug}/"
    assert visitor.get(response["Location"]).status_code == 200
    assert Membership.objects.get(project=project, user__username="dana@example.com").role == (
        Role.ANNOTATOR
    )
    login = logged_in(None).post("/login/", {"username": "dana@example.com", "password": password})
    assert login.status_code == 302
    # and the link does not work a second time
    again = logged_in(None).post(
        path, {"username": "someone", "password1": "x" * 20, "password2": "x" * 20}
    )
    assert again.status_code == 404
    assert "already used" in again.content.decode()


def test_an_invitation_link_expires(admin: Any, project: Project) -> None:
    client = logged_in(admin)
    response = client.post(
        f"/projects/{project.slug}/members/invite",
        {"emails": "dana@example.com", "role": "annotator"},
    )
    link = _links(client.get(response["Location"]).content.decode())[0]
    Invitation.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    page = logged_in(None).get(link.removeprefix("http://testserver"))
    assert page.status_code == 404
    assert "expired" in page.content.decode()


def test_a_weak_password_is_refused_next_to_the_field(admin: Any, project: Project) -> None:
    client = logged_in(admin)
    response = client.post(
        f"/projects/{project.slug}/members/invite",
        {"emails": "dana@example.com", "role": "annotator"},
    )
    path = _links(client.get(response["Location"]).content.decode())[0].removeprefix(
        "http://testserver"
    )
    response = logged_in(None).post(
        path, {"username": "dana@example.com", "password1": "123", "password2": "123"}
    )
    assert response.status_code == 400
    assert "too short" in response.content.decode()
    assert Invitation.objects.get().used_at is None
    assert not User.objects.filter(username="dana@example.com").exists()


def test_bad_addresses_are_listed_and_nothing_is_created(admin: Any, project: Project) -> None:
    response = logged_in(admin).post(
        f"/projects/{project.slug}/members/invite",
        {"emails": "ok@example.com not-an-email", "role": "annotator"},
    )
    assert response.status_code == 400
    assert "Not valid email addresses: not-an-email" in response.content.decode()
    assert not User.objects.filter(username="ok@example.com").exists()


def test_removing_a_member_releases_their_leases_and_keeps_their_judgements(
    tmp_path: Path, admin: Any, annotator: Any, project: Project
) -> None:
    # given an annotator with one judgement and one live lease
    make_pairs(project, tmp_path, 3, labelled=False)
    judge_next(annotator, project)
    lease = lease_next_pair(annotator, project)
    assert lease is not None

    # when the admin removes them
    response = logged_in(admin).post(f"/projects/{project.slug}/members/{annotator.pk}/remove")

    # then the lease is closed, the judgement stays, and the project is gone for them
    assert response.status_code == 302
    lease.refresh_from_db()
    assert lease.closed_at is not None
    assert Judgement.objects.filter(annotator=annotator).count() == 1
    assert not Membership.objects.filter(project=project, user=annotator).exists()
    assert logged_in(annotator).get(f"/projects/{project.slug}/").status_code == 404
    assert Assignment.objects.filter(pair=lease.pair, closed_at__isnull=True).count() == 0


def test_the_last_admin_cannot_be_demoted_or_removed(
    admin: Any, annotator: Any, project: Project
) -> None:
    client = logged_in(admin)
    base = f"/projects/{project.slug}/members/{admin.pk}"
    client.post(f"{base}/role", {"role": "annotator"})
    client.post(f"{base}/remove")
    assert Membership.objects.get(project=project, user=admin).role == Role.ADMIN
    page = client.get(f"/projects/{project.slug}/members").content.decode()
    assert "at least one admin" in page
    # with a second admin, the first may step down
    client.post(f"/projects/{project.slug}/members/{annotator.pk}/role", {"role": "admin"})
    client.post(f"{base}/role", {"role": "annotator"})
    assert Membership.objects.get(project=project, user=admin).role == Role.ANNOTATOR


def test_the_members_api_calls_the_same_rules(admin: Any, project: Project) -> None:
    from tests.conftest import client_for

    response = client_for(admin).post(
        f"/api/projects/{project.slug}/members", {"username": "alice", "role": "annotator"}
    )
    assert response.status_code == 400
    assert "at least one admin" in response.json()["username"][0]


def test_inviting_an_address_that_is_already_a_username_leaves_that_account_alone(
    admin: Any, django_user_model: type[User], project: Project
) -> None:
    # given an account named by an address but with no email set
    user = django_user_model.objects.create_user("Erin@example.com", password="erin-pass")

    # when that address is invited
    response = logged_in(admin).post(
        f"/projects/{project.slug}/members/invite", {"emails": "erin@example.com", "role": "admin"}
    )

    # then there is a link like for anyone, and the account is neither added nor changed
    assert response.status_code == 302
    assert not Membership.objects.filter(project=project, user=user).exists()
    assert Invitation.objects.get().email == "erin@example.com"
    user.refresh_from_db()
    assert user.check_password("erin-pass")


def test_a_role_the_api_refuses_is_refused_on_the_page_with_its_message(
    admin: Any, annotator: Any, project: Project
) -> None:
    from django.contrib.messages import get_messages

    from tests.conftest import client_for

    # when the same unknown role is asked for on the API and on the members page
    api = client_for(admin).post(
        f"/api/projects/{project.slug}/members", {"username": annotator.username, "role": "owner"}
    )
    page = logged_in(admin).post(
        f"/projects/{project.slug}/members/{annotator.pk}/role", {"role": "owner"}
    )
    # then both refuse it with the same message and the role stays
    assert api.status_code == 400 and page.status_code == 302
    shown = [m.message for m in get_messages(page.wsgi_request)]
    assert shown == [f"role: {api.json()['role'][0]}"]
    assert Membership.objects.get(project=project, user=annotator).role == Role.ANNOTATOR


def test_adding_a_member_without_a_name_shows_the_api_message_next_to_the_field(
    admin: Any, project: Project
) -> None:
    from tests.conftest import client_for

    # when
    api = client_for(admin).post(
        f"/api/projects/{project.slug}/members", {"username": " ", "role": "annotator"}
    )
    response = logged_in(admin).post(
        f"/projects/{project.slug}/members/add", {"user": " ", "role": "annotator"}
    )
    # then
    page = html.unescape(response.content.decode())
    assert api.status_code == response.status_code == 400
    assert api.json()["username"][0] in page
    assert page.index("id_user_error") < page.index('name="user"')
