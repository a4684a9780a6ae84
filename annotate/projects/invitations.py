"""Inviting people by email: a one-time link that grants one role in one project.

No mail server is assumed: the link is shown once to the admin, who passes it on. Only a hash
of its token is stored. An invitation names an address, a project and a role, and nothing else:
inviting never creates, finds or changes an account, and never touches another project's
invitations. Whoever holds the link redeems it, either with a new account made on the spot or
with the account they are logged in as (after saying so); no link sets an existing password.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from annotate.models import Invitation, Membership, Project

INVITATION_DAYS = 7


class InvalidInvitation(Exception):
    """The link is unknown, already used or expired."""


@dataclass(frozen=True)
class Invited:
    email: str
    token: str
    invitation: Invitation


@dataclass(frozen=True)
class Accepted:
    invitation: Invitation
    membership: Membership
    # False when the person was already a member: their role stays as it was.
    joined: bool


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def invite_members(project: Project, *, emails: list[str], role: str, by: User) -> list[Invited]:
    """A fresh link per address; an address's older open links to this project stop working.

    The answer is the same whether or not anyone with the address has an account.
    """
    invited = []
    for email in emails:
        address = email.lower()
        project.invitations.filter(email=address, used_at__isnull=True).delete()
        token = secrets.token_urlsafe(32)
        invitation = Invitation.objects.create(
            project=project,
            email=address,
            role=role,
            token_hash=_hash(token),
            created_by=by,
            expires_at=timezone.now() + timedelta(days=INVITATION_DAYS),
        )
        invited.append(Invited(address, token, invitation))
    return invited


def pending_invitations(project: Project) -> list[Invitation]:
    """The project's links nobody has used yet, newest first (expired ones included)."""
    links = project.invitations.filter(used_at__isnull=True).select_related("created_by")
    return list(links.order_by("-created_at", "-pk"))


def revoke_invitation(project: Project, invitation_id: int) -> bool:
    """Make an unused link stop working; False when there was no such open link."""
    deleted, _ = project.invitations.filter(pk=invitation_id, used_at__isnull=True).delete()
    return deleted > 0


def access_invitation(token: str) -> Invitation:
    """The open invitation for this token; raise InvalidInvitation otherwise."""
    invitation = (
        Invitation.objects.select_related("project").filter(token_hash=_hash(token)).first()
    )
    if invitation is None or invitation.used_at is not None:
        raise InvalidInvitation("This invitation link is not valid or was already used.")
    if invitation.expires_at <= timezone.now():
        raise InvalidInvitation("This invitation link has expired; ask for a new one.")
    if invitation.project.deleted_at is not None:
        raise InvalidInvitation("This invitation link is not valid or was already used.")
    return invitation


@transaction.atomic
def accept_invitation(token: str, *, user: User) -> Accepted:
    """Use the link up (once, even when raced) and make `user` a member with its role.

    A person who is already a member keeps the role they have.
    """
    invitation = access_invitation(token)
    used = Invitation.objects.filter(pk=invitation.pk, used_at__isnull=True).update(
        used_at=timezone.now(), used_by=user
    )
    if used != 1:
        raise InvalidInvitation("This invitation link was already used.")
    membership, joined = Membership.objects.get_or_create(
        project=invitation.project, user=user, defaults={"role": invitation.role}
    )
    return Accepted(invitation, membership, joined)


@transaction.atomic
def accept_invitation_as_new_account(
    token: str, *, username: str, password: str
) -> tuple[User, Accepted]:
    """Make a new account (the invited address as its email) and accept the link with it.

    Caller has validated the username (free) and the password (strong enough).
    """
    invitation = access_invitation(token)
    user = get_user_model().objects.create_user(
        username=username, email=invitation.email, password=password
    )
    return user, accept_invitation(token, user=user)
