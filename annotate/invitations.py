"""Inviting people by email: an account, a membership and a one-time link to set a password.

No mail server is assumed: the link is shown once to the admin, who passes it on. Only a hash
of its token is stored, so the database alone cannot be used to take over an account.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from annotate.models import Invitation, Membership, Project

INVITATION_DAYS = 7


class InvalidInvitation(Exception):
    """The link is unknown, already used or expired."""


@dataclass(frozen=True)
class Invited:
    email: str
    user: AbstractBaseUser
    # The token to put in the link; None when the person already had an account and was
    # simply added.
    token: str | None


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def invite_members(
    project: Project, *, emails: list[str], role: str, by: AbstractBaseUser
) -> list[Invited]:
    """Add each email's person to the project; new people get an account and a link.

    A person who was invited before but never set a password gets a fresh link (older links
    stop working); one with a password is just added.
    """
    users = get_user_model().objects
    invited = []
    for email in emails:
        # The address is the username of accounts made here, so look it up both ways.
        user = users.filter(Q(email__iexact=email) | Q(username__iexact=email)).first()
        if user is None:
            user = users.create_user(username=email.lower(), email=email.lower())
        Membership.objects.get_or_create(project=project, user=user, defaults={"role": role})
        token = None if user.has_usable_password() else _issue(project, user, by)
        invited.append(Invited(email, user, token))
    return invited


def _issue(project: Project, user: AbstractBaseUser, by: AbstractBaseUser) -> str:
    Invitation.objects.filter(user=user, used_at__isnull=True).delete()
    token = secrets.token_urlsafe(32)
    Invitation.objects.create(
        project=project,
        user=user,
        token_hash=_hash(token),
        created_by=by,
        expires_at=timezone.now() + timedelta(days=INVITATION_DAYS),
    )
    return token


def access_invitation(token: str) -> Invitation:
    """The open invitation for this token; raise InvalidInvitation otherwise."""
    invitation = (
        Invitation.objects.select_related("project", "user").filter(token_hash=_hash(token)).first()
    )
    if invitation is None or invitation.used_at is not None:
        raise InvalidInvitation("This invitation link is not valid or was already used.")
    if invitation.expires_at <= timezone.now():
        raise InvalidInvitation("This invitation link has expired; ask for a new one.")
    return invitation


@transaction.atomic
def accept_invitation(token: str, *, password: str) -> Invitation:
    """Set the invited person's password and use the link up (once, even when raced)."""
    invitation = access_invitation(token)
    used = Invitation.objects.filter(pk=invitation.pk, used_at__isnull=True).update(
        used_at=timezone.now()
    )
    if used != 1:
        raise InvalidInvitation("This invitation link was already used.")
    invitation.user.set_password(password)
    invitation.user.save(update_fields=["password"])
    return invitation
