"""Who can redeem what: an invitation grants one role in one project to whoever holds its link."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client

from annotate.models import Invitation, Membership, Project, Role
from annotate.projects.lifecycle import create_project, delete_project
from tests.annotate.workspace_support import logged_in

pytestmark = pytest.mark.django_db

PASSWORD = "a long enough passphrase 42"


def _invite(admin: Any, project: Project, email: str, role: str = "annotator") -> str:
    """The path of the link the members page shows the admin."""
    client = logged_in(admin)
    response = client.post(
        f"/projects/{project.slug}/members/invite", {"emails": email, "role": role}
    )
    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()
    (link,) = re.findall(r'value="http://testserver(/invitations/[^"]+)"', page)
    return link


def _sign_up(path: str, username: str) -> tuple[Client, Any]:
    visitor = logged_in(None)
    response = visitor.post(
        path, {"username": username, "password1": PASSWORD, "password2": PASSWORD}
    )
    return visitor, response


@pytest.fixture
def other_admin(django_user_model: type[User]) -> User:
    """Admin of another project, who shares nothing with `admin`."""
    return django_user_model.objects.create_user("mallory", password="mallory-pass")


def test_inviting_a_pending_address_elsewhere_cannot_take_over_its_other_invitation(
    admin: Any, other_admin: Any, project: Project
) -> None:
    # given the victim's open admin invitation to project P2
    p2 = project
    victim_link = _invite(admin, p2, "victim@x.org", role="admin")
    # when another project's admin invites the same address and opens their own link
    p1 = create_project(slug="p1", admin=other_admin)
    attacker_link = _invite(other_admin, p1, "victim@x.org")
    attacker, response = _sign_up(attacker_link, "victim@x.org")

    # then the attacker's account is an annotator of P1 only: P2 stays out of reach
    assert response.status_code == 302
    account = User.objects.get(username="victim@x.org")
    assert Membership.objects.get(user=account).project == p1
    assert Membership.objects.get(user=account).role == Role.ANNOTATOR
    assert attacker.get(f"/projects/{p2.slug}/members").status_code == 404
    assert attacker.get(f"/projects/{p2.slug}/export?format=trl").status_code == 404
    # and the victim's own link still works, for P2 and as admin, with a new account
    assert logged_in(None).get(victim_link).status_code == 200
    taken = _sign_up(victim_link, "victim@x.org")[1]
    assert taken.status_code == 400 and "That username is taken" in taken.content.decode()
    victim, response = _sign_up(victim_link, "victim")
    assert response["Location"] == f"/projects/{p2.slug}/"
    assert Membership.objects.get(project=p2, user__username="victim").role == Role.ADMIN
    assert victim.get(f"/projects/{p2.slug}/members").status_code == 200


def test_inviting_an_address_never_changes_an_existing_accounts_password(
    admin: Any, outsider: Any, project: Project
) -> None:
    # given an account whose username is the invited address, with no usable password
    pending = User.objects.create_user("dana@example.com")
    pending.set_unusable_password()
    pending.save()
    path = _invite(admin, project, "dana@example.com", role="admin")

    # when the link holder tries to claim that username
    response = _sign_up(path, "dana@example.com")[1]

    # then it is refused, the account is untouched and not a member
    assert response.status_code == 400
    pending.refresh_from_db()
    assert not pending.has_usable_password()
    assert not Membership.objects.filter(user=pending).exists()
    assert Invitation.objects.get().used_at is None


def test_a_link_grants_the_role_it_was_issued_with(admin: Any, project: Project) -> None:
    admin_path = _invite(admin, project, "lead@example.com", role="admin")
    annotator_path = _invite(admin, project, "helper@example.com", role="annotator")
    _sign_up(admin_path, "lead")
    _sign_up(annotator_path, "helper")
    roles = dict(Membership.objects.filter(project=project).values_list("user__username", "role"))
    assert roles["lead"] == Role.ADMIN
    assert roles["helper"] == Role.ANNOTATOR


def test_a_logged_in_person_is_asked_before_joining_with_their_account(
    admin: Any, outsider: Any, project: Project
) -> None:
    path = _invite(admin, project, "charlie@example.com")
    client = logged_in(outsider)

    # when they open the link, nothing happens yet: the page asks
    page = client.get(path)
    assert page.status_code == 200
    assert "Join as charlie" in page.content.decode()
    assert not Membership.objects.filter(project=project, user=outsider).exists()

    # when they confirm, their own account joins and they stay logged in as themselves
    response = client.post(path)
    assert response["Location"] == f"/projects/{project.slug}/"
    assert Membership.objects.get(project=project, user=outsider).role == Role.ANNOTATOR
    assert client.get("/").wsgi_request.user == outsider
    assert Invitation.objects.get().used_by == outsider


def test_a_member_who_accepts_keeps_their_role(
    admin: Any, annotator: Any, project: Project
) -> None:
    path = _invite(admin, project, "bob@example.com", role="admin")
    response = logged_in(annotator).post(path)
    assert response.status_code == 302
    assert Membership.objects.get(project=project, user=annotator).role == Role.ANNOTATOR


def test_reinviting_replaces_the_link_for_that_project_only(
    admin: Any, other_admin: Any, project: Project
) -> None:
    first = _invite(admin, project, "dana@example.com")
    elsewhere = _invite(other_admin, create_project(slug="p1", admin=other_admin), "dana@x.org")
    other_project_link = _invite(other_admin, Project.objects.get(slug="p1"), "dana@example.com")
    second = _invite(admin, project, "Dana@Example.com")
    visitor = logged_in(None)
    assert visitor.get(first).status_code == 404
    assert visitor.get(second).status_code == 200
    assert visitor.get(other_project_link).status_code == 200
    assert visitor.get(elsewhere).status_code == 200


@pytest.mark.parametrize("token", ["", "x", "A" * 43, "../../admin"])
def test_guessed_links_are_refused(admin: Any, project: Project, token: str) -> None:
    _invite(admin, project, "dana@example.com")
    response = logged_in(None).post(
        f"/invitations/{token}", {"username": "z", "password1": PASSWORD, "password2": PASSWORD}
    )
    assert response.status_code == 404
    assert not User.objects.filter(username="z").exists()


def test_an_admin_sees_and_revokes_open_invitations(
    admin: Any, annotator: Any, other_admin: Any, project: Project
) -> None:
    path = _invite(admin, project, "dana@example.com")
    invitation = Invitation.objects.get()
    page = logged_in(admin).get(f"/projects/{project.slug}/members").content.decode()
    assert 'data-invitation="dana@example.com"' in page

    revoke = f"/projects/{project.slug}/invitations/{invitation.pk}/revoke"
    assert logged_in(annotator).post(revoke).status_code == 403
    assert logged_in(other_admin).post(revoke).status_code == 404
    assert logged_in(None).get(path).status_code == 200

    assert logged_in(admin).post(revoke).status_code == 302
    assert logged_in(None).get(path).status_code == 404
    page = logged_in(admin).get(f"/projects/{project.slug}/members").content.decode()
    assert "dana@example.com" not in page


def test_a_link_to_a_deleted_project_is_refused(
    admin: Any, outsider: Any, project: Project
) -> None:
    # given an open link, then the project is deleted
    path = _invite(admin, project, "dana@example.com")
    delete_project(project)
    # when someone opens it, signs up with it or joins with their account
    opened = logged_in(None).get(path)
    signed_up = _sign_up(path, "dana")[1]
    joined = logged_in(outsider).post(path)
    # then each is a 404 and nobody joins or gets an account
    assert (opened.status_code, signed_up.status_code, joined.status_code) == (404, 404, 404)
    assert not User.objects.filter(username="dana").exists()
    assert not Membership.objects.filter(project=project, user=outsider).exists()
    assert Invitation.objects.get().used_at is None


def _at_once(*calls: Callable[[], Any]) -> list[Any]:
    """Run the calls in threads released together; their answers in order."""
    start = threading.Barrier(len(calls))

    def run(call: Callable[[], Any]) -> Any:
        try:
            start.wait(timeout=30)
            return call()
        finally:
            connection.close()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


@pytest.mark.django_db(transaction=True)
def test_two_accounts_redeeming_one_link_at_once_let_exactly_one_join(
    admin: Any, outsider: Any, django_user_model: type[User], project: Project
) -> None:
    # given one link and two logged-in people who are not members
    path = _invite(admin, project, "dana@example.com")
    dave = django_user_model.objects.create_user("dave", password="dave-pass")
    first, second = logged_in(outsider), logged_in(dave)
    # when both confirm at the same moment
    answers = _at_once(lambda: first.post(path), lambda: second.post(path))
    # then one joins, the other is told the link is used up
    assert sorted(a.status_code for a in answers) == [302, 404]
    members = Membership.objects.filter(project=project, user__in=[outsider, dave])
    (joined,) = members
    assert Invitation.objects.get().used_by == joined.user


@pytest.mark.django_db(transaction=True)
def test_two_sign_ups_with_one_link_at_once_make_exactly_one_account(
    admin: Any, project: Project
) -> None:
    # given one link
    path = _invite(admin, project, "dana@example.com")
    # when two visitors sign up with it at the same moment
    answers = _at_once(lambda: _sign_up(path, "dana")[1], lambda: _sign_up(path, "erin")[1])
    # then one account is made and joins; the other attempt leaves no account behind
    assert sorted(a.status_code for a in answers) == [302, 404]
    (account,) = User.objects.filter(username__in=["dana", "erin"])
    assert Membership.objects.get(project=project, user=account).role == Role.ANNOTATOR
    assert Invitation.objects.get().used_by == account
