"""The one place that decides who may do what in a project.

Superusers may do everything. Project admins manage members, import, export and retrain.
Annotators see and judge the projects they are members of. Pages and API answer alike: a
project (or an object of one) that the user is not in answers 404, so its existence is not
revealed; a member without the needed role gets 403.

Querysets from here carry the user's role (`my_role`), so checking it costs no query.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied
from django.db.models import CharField, OuterRef, Q, QuerySet, Subquery, Value
from django.http import Http404, HttpRequest
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from annotate.models import Membership, Project, Role

# `request.user`: signed in or not. Domain functions that act for someone take a `User`.
AnyUser = User | AnonymousUser


def signed_in_user(request: HttpRequest | Request) -> User:
    """The request's user, in a view that requires a login (login_required, IsAuthenticated)."""
    user = request.user
    if not user.is_authenticated:  # only a view that lost its login guard gets here
        raise PermissionDenied("Sign in first.")
    return user


def _role_expression(user: User, project_ref: Any) -> Any:
    if user.is_superuser:
        return Value(Role.ADMIN, output_field=CharField())
    return Subquery(Membership.objects.filter(project=project_ref, user=user).values("role")[:1])


def with_role(
    queryset: QuerySet[Any], user: AnyUser, *, project_field: str = "project"
) -> QuerySet:
    """Rows whose project the user is in, each annotated with the user's role there."""
    if not user.is_authenticated:
        return queryset.none()
    ref = OuterRef("pk" if queryset.model is Project else project_field)
    membership = Membership.objects.filter(project=ref, user=user)
    return queryset.annotate(
        my_role=_role_expression(user, ref),
        # Why the user is paused there ("" or None when not): the lease path checks it free.
        my_paused_reason=Subquery(membership.values("paused_reason")[:1]),
        role_user_id=Value(user.pk),
    ).filter(my_role__isnull=False)


def visible_projects(user: AnyUser) -> QuerySet[Project]:
    """Projects the user may see, annotated with the user's role (one query).

    Archived projects are seen by their admins only; projects being deleted by nobody.
    """
    projects = with_role(Project.objects.filter(deleted_at__isnull=True), user)
    if not user.is_authenticated:
        return projects  # empty, and without the role annotation to filter on
    return projects.filter(Q(archived_at__isnull=True) | Q(my_role=Role.ADMIN))


def role_in(user: AnyUser, project: Project) -> str | None:
    """The user's role in the project ("admin", "annotator"), or None."""
    if not user.is_authenticated:
        return None
    if user.is_superuser:
        return Role.ADMIN
    if getattr(project, "role_user_id", None) == user.pk:
        return project.my_role  # annotated by with_role for this user
    return (
        Membership.objects.filter(project=project, user=user).values_list("role", flat=True).first()
    )


def is_project_admin(user: AnyUser, project: Project) -> bool:
    return role_in(user, project) == Role.ADMIN


def can_create_projects(user: AnyUser) -> bool:
    return user.is_authenticated and user.has_perm("annotate.add_project")


def access_project(user: AnyUser, slug: str, *, admin: bool = False) -> Project:
    """A project the user may see; Http404 if not a member, PermissionDenied if `admin` and
    the member is not one."""
    project = visible_projects(user).filter(slug=slug).first()
    if project is None:
        raise Http404("No such project")
    if admin and project.my_role != Role.ADMIN:
        raise PermissionDenied("Only project admins may do this.")
    return project


def _role_of(user: AnyUser, obj: Any) -> str | None:
    """The user's role in the project of `obj`: a Project, or any row with a `project`."""
    if getattr(obj, "role_user_id", None) == user.pk:
        return obj.my_role  # annotated by with_role for this user
    return role_in(user, obj if isinstance(obj, Project) else obj.project)


class IsProjectMember(BasePermission):
    """Object permission: the object's project has the user as a member."""

    def has_object_permission(self, request: Request, view: Any, obj: Any) -> bool:
        return _role_of(request.user, obj) is not None


class IsProjectAdmin(BasePermission):
    """Object permission: the user administers the object's project."""

    message = "Only project admins may do this."

    def has_object_permission(self, request: Request, view: Any, obj: Any) -> bool:
        return _role_of(request.user, obj) == Role.ADMIN


class CanCreateProjects(BasePermission):
    """Creating a project needs Django's annotate.add_project permission (or superuser)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return request.method != "POST" or can_create_projects(request.user)


def can_view_leaderboard(user: AnyUser, project: Project) -> bool:
    """Admins always; annotators unless the project keeps them blind to the models."""
    role = _role_of(user, project)
    return role == Role.ADMIN or (role == Role.ANNOTATOR and project.leaderboard_for_annotators)


class CanViewLeaderboard(BasePermission):
    """Object permission: the user may see the project's model leaderboard."""

    def has_object_permission(self, request: Request, view: Any, obj: Any) -> bool:
        return can_view_leaderboard(request.user, obj if isinstance(obj, Project) else obj.project)


class ProjectAPIView(GenericAPIView):
    """An endpoint about the project named by `slug`.

    `get_object()` answers 404 to non-members, then applies the view's permission classes.
    """

    lookup_field = "slug"

    def get_queryset(self) -> QuerySet[Project]:
        return visible_projects(self.request.user)
