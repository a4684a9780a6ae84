"""Members of a project: list, add, invite, change role, remove; accepting an invitation."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from annotate.api.serializers import MembershipInputSerializer
from annotate.models import Project
from annotate.permissions import access_project, signed_in_user
from annotate.projects.invitations import (
    INVITATION_DAYS,
    Accepted,
    InvalidInvitation,
    accept_invitation,
    accept_invitation_as_new_account,
    access_invitation,
    invite_members,
    pending_invitations,
    revoke_invitation,
)
from annotate.projects.members import LastAdmin, UnknownUser, member_rows, remove_member, set_member
from annotate.views.forms import AcceptInvitationForm, AddMemberForm, InviteForm, RoleForm
from annotate.views.parsing import InvalidInput, parse

# The links made by the last invite, shown once on the next page view (PRG).
SESSION_LINKS = "invitation-links"


def _members_page(
    request: HttpRequest,
    project: Project,
    *,
    add_form: AddMemberForm | None = None,
    invite_form: InviteForm | None = None,
    status: int = 200,
) -> HttpResponse:
    context = {
        "project": project,
        "rows": member_rows(project),
        "add_form": add_form or AddMemberForm(),
        "invite_form": invite_form or InviteForm(),
        "role_form": RoleForm(),
        "links": request.session.pop(SESSION_LINKS, []),
        "pending": pending_invitations(project),
        "now": timezone.now(),
        "invitation_days": INVITATION_DAYS,
    }
    return render(request, "annotate/members.html", context, status=status)


@login_required
@require_GET
def members(request: HttpRequest, slug: str) -> HttpResponse:
    return _members_page(request, access_project(request.user, slug, admin=True))


@login_required
@require_POST
def member_add(request: HttpRequest, slug: str) -> HttpResponse:
    project = access_project(request.user, slug, admin=True)
    form = AddMemberForm(request.POST)
    if form.is_valid():
        try:
            membership = set_member(project, **form.cleaned_data, by=signed_in_user(request))
        except (UnknownUser, LastAdmin) as exc:
            form.add_error("user", str(exc))
        else:
            messages.success(request, f"{membership.user} is now {membership.role} here.")
            return redirect("members", slug=slug)
    return _members_page(request, project, add_form=form, status=400)


@login_required
@require_POST
def member_invite(request: HttpRequest, slug: str) -> HttpResponse:
    project = access_project(request.user, slug, admin=True)
    form = InviteForm(request.POST)
    if not form.is_valid():
        return _members_page(request, project, invite_form=form, status=400)
    invited = invite_members(
        project,
        emails=form.cleaned_data["emails"],
        role=form.cleaned_data["role"],
        by=signed_in_user(request),
    )
    request.session[SESSION_LINKS] = [
        {"email": i.email, "url": request.build_absolute_uri(reverse("invitation", args=[i.token]))}
        for i in invited
    ]
    return redirect("members", slug=slug)


@login_required
@require_POST
def invitation_revoke(request: HttpRequest, slug: str, invitation_id: int) -> HttpResponse:
    project = access_project(request.user, slug, admin=True)
    if revoke_invitation(project, invitation_id):
        messages.success(request, "The invitation link no longer works.")
    else:
        messages.error(request, "That invitation was already used or revoked.")
    return redirect("members", slug=slug)


@login_required
@require_POST
def member_role(request: HttpRequest, slug: str, user_id: int) -> HttpResponse:
    project = access_project(request.user, slug, admin=True)
    membership = get_object_or_404(project.memberships.select_related("user"), user_id=user_id)
    # The API's members call with this member's name: the same checks and messages.
    data = request.POST.copy()
    data["username"] = membership.user.get_username()
    by = signed_in_user(request)
    try:
        changed = set_member(project, **parse(MembershipInputSerializer, data), by=by)
    except (InvalidInput, UnknownUser, LastAdmin) as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{changed.user} is now {changed.role} here.")
    return redirect("members", slug=slug)


@login_required
@require_POST
def member_remove(request: HttpRequest, slug: str, user_id: int) -> HttpResponse:
    project = access_project(request.user, slug, admin=True)
    membership = get_object_or_404(project.memberships.select_related("user"), user_id=user_id)
    try:
        remove_member(project, membership.user)
    except LastAdmin as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Removed {membership.user}; their judgements stay.")
        if membership.user_id == request.user.pk:
            return redirect("project-list")
    return redirect("members", slug=slug)


@require_http_methods(["GET", "POST"])
def invitation(request: HttpRequest, token: str) -> HttpResponse:
    """The invitation link: join as the logged-in account (asked first) or with a new one."""
    try:
        invite = access_invitation(token)
    except InvalidInvitation as exc:
        return render(request, "annotate/invitation.html", {"error": str(exc)}, status=404)
    user = request.user
    if user.is_authenticated:
        if request.method == "POST":
            return _accepted(request, token, lambda: accept_invitation(token, user=user))
        return render(request, "annotate/invitation.html", {"invite": invite})
    form = AcceptInvitationForm(request.POST or None, initial={"username": invite.email})
    if request.method == "POST" and form.is_valid():

        def accept() -> Accepted:
            user, accepted = accept_invitation_as_new_account(
                token,
                username=form.cleaned_data["username"],
                password=form.cleaned_data["password1"],
            )
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            return accepted

        return _accepted(request, token, accept)
    context = {"form": form, "invite": invite, "login_url": reverse("login")}
    return render(request, "annotate/invitation.html", context, status=400 if form.errors else 200)


def _accepted(request: HttpRequest, token: str, accept: Callable[[], Accepted]) -> HttpResponse:
    try:
        accepted = accept()
    except InvalidInvitation as exc:
        return render(request, "annotate/invitation.html", {"error": str(exc)}, status=404)
    project = accepted.invitation.project
    if accepted.joined:
        messages.success(request, f"Welcome to {project.name}.")
    else:
        messages.info(request, f"You were already {accepted.membership.role} in {project.name}.")
    return redirect("project-detail", slug=project.slug)
