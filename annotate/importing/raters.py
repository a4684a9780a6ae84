"""Rater identities for imported votes: one per distinct annotator string of a project.

A rater is a user that cannot log in (inactive, unusable password), so agreement and
reliability treat imported votes exactly like votes made here. Its username is derived from the
project and the source's annotator id; the id itself is kept as the first name, for display.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password

from annotate.formats import sha256
from annotate.models import Project

PREFIX = "rater-"


def rater_username(project: Project, name: str) -> str:
    return f"{PREFIX}{project.pk}-{sha256(name)[:24]}"


def ensure_raters(project: Project, names: Iterable[str]) -> dict[str, int]:
    """The user id of each annotator name in this project, creating the missing raters."""
    User = get_user_model()
    wanted = {rater_username(project, name): name for name in sorted(set(names))}
    existing = dict(User.objects.filter(username__in=wanted).values_list("username", "id"))
    missing = [
        User(
            username=username,
            first_name=wanted[username],
            is_active=False,
            password=make_password(None),
        )
        for username in wanted
        if username not in existing
    ]
    if missing:
        User.objects.bulk_create(missing)
        existing.update(
            User.objects.filter(username__in=[u.username for u in missing]).values_list(
                "username", "id"
            )
        )
    return {wanted[username]: user_id for username, user_id in existing.items()}


def display_name(username: str, first_name: str, *, is_active: bool) -> str:
    """How a rater is shown: the source's annotator id for imported raters, else the username."""
    if not is_active and username.startswith(PREFIX) and first_name:
        return f"{first_name} (imported)"
    return username
