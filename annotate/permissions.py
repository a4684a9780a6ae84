"""The one place that decides who may do what in a project.

Superusers may do everything. Project admins manage members, import, export and retrain.
Annotators see and judge the projects they are members of. Everyone else sees nothing: a
project they are not in answers 404, so its existence is not revealed.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Q, QuerySet
from django.http import Http404
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from annotate.models import Membership, Project, Role

User = AbstractBaseUser | AnonymousUser


def role_in(user: User, project: Project) -> str | None:
    """The user's role in the project ("admin", "annotator"), or None."""
    if not user.is_authenticated:
        return None
    if user.is_superuser:
        return Role.ADMIN
    return (
        Membership.objects.filter(project=project, user=user).values_list("role", flat=True).first()
    )


def is_project_admin(user: User, project: Project) -> bool:
    return role_in(user, project) == Role.ADMIN


def is_project_member(user: User, project: Project) -> bool:
    return role_in(user, project) is not None


def can_create_projects(user: User) -> bool:
    return user.is_authenticated and user.has_perm("annotate.add_project")


def visible_projects(user: User) -> QuerySet[Project]:
    """Projects the user may see: archived ones only to their admins, deleted ones to nobody."""
    if not user.is_authenticated:
        return Project.objects.none()
    projects = Project.objects.filter(deleted_at__isnull=True)
    if user.is_superuser:
        return projects
    # One filter() call, so both conditions apply to the same membership row.
    return projects.filter(
        Q(archived_at__isnull=True) | Q(memberships__role=Role.ADMIN), memberships__user=user
    ).distinct()


def access_project(user: User, slug: str, *, admin: bool = False) -> Project:
    """Fetch a project the user may see (or administer); raise Http404 otherwise."""
    project = visible_projects(user).filter(slug=slug).first()
    if project is None or (admin and not is_project_admin(user, project)):
        raise Http404("No such project")
    return project


def _project_of(obj: Any) -> Project:
    return obj if isinstance(obj, Project) else obj.project


class IsProjectMember(BasePermission):
    """Object permission: the object's project has the user as a member."""

    def has_object_permission(self, request: Request, view: Any, obj: Any) -> bool:
        return is_project_member(request.user, _project_of(obj))


class IsProjectAdmin(BasePermission):
    """Object permission: the user administers the object's project."""

    def has_object_permission(self, request: Request, view: Any, obj: Any) -> bool:
        return is_project_admin(request.user, _project_of(obj))


class CanCreateProjects(BasePermission):
    """Creating a project needs Django's annotate.add_project permission (or superuser)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return request.method != "POST" or can_create_projects(request.user)
