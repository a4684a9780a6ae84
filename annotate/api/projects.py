"""Project endpoints: list, create, read, change settings, archive, delete; the members,
imports and export actions join them (page twin: views/projects.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from annotate.api.exporting import ExportActions
from annotate.api.importing import ImportActions
from annotate.api.members import MemberActions
from annotate.api.serializers import (
    ProjectDetailSerializer,
    ProjectSerializer,
    ProjectSettingsSerializer,
)
from annotate.models import Project
from annotate.permissions import (
    CanCreateProjects,
    IsProjectAdmin,
    IsProjectMember,
    signed_in_user,
    visible_projects,
)
from annotate.projects.lifecycle import (
    archive_project,
    create_project,
    delete_project,
    unarchive_project,
    update_project,
)

ADMIN_ONLY = [IsAuthenticated & IsProjectAdmin]

CREATE_EXAMPLE = OpenApiExample(
    "A project with three votes per pair",
    value={"slug": "helpfulness", "name": "Helpfulness", "judgements_per_pair": 3},
    request_only=True,
)
SETTINGS_EXAMPLE = OpenApiExample(
    "Two votes per pair, no ties, check questions on",
    value={"judgements_per_pair": 2, "allow_tie": False, "gold_rate": 0.05},
    request_only=True,
)
EDIT_RULES_EXAMPLE = OpenApiExample(
    "Edits required below a rating of 4, each edit judged later",
    value={"rating_scale": [1, 2, 3, 4, 5], "edits": "required", "edit_below": 4}
    | {"judge_edits": True},
    request_only=True,
)


class ProjectPagination(LimitOffsetPagination):
    """`limit`/`offset` pages of projects; a larger `limit` is cut to `max_limit`.

    As DRF reads them, a `limit` that is no positive integer is the default page, an `offset`
    that is none is 0, and an offset past the end is an empty page (no query reads there).
    """

    max_limit = 500


class ProjectViewSet(
    MemberActions,
    ImportActions,
    ExportActions,
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Projects the user may see; creating one makes the creator its admin."""

    lookup_field = "slug"
    pagination_class = ProjectPagination
    permission_classes = [IsAuthenticated & CanCreateProjects & IsProjectMember]

    def get_queryset(self) -> Any:
        return visible_projects(self.request.user).order_by("name")

    def get_permissions(self) -> Sequence[Any]:
        if self.action in ("partial_update", "destroy"):
            return [permission() for permission in ADMIN_ONLY]
        return super().get_permissions()

    def get_serializer_class(self) -> type:
        if self.action == "partial_update":
            return ProjectSettingsSerializer
        return ProjectDetailSerializer if self.action == "retrieve" else ProjectSerializer

    @extend_schema(examples=[CREATE_EXAMPLE])
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Create a project (needs the annotate.add_project permission)."""
        return super().create(request, *args, **kwargs)

    def perform_create(self, serializer: BaseSerializer[Project]) -> None:
        data = dict(serializer.validated_data)
        serializer.instance = create_project(
            slug=data.pop("slug"), name=data.pop("name"), admin=signed_in_user(self.request), **data
        )

    @extend_schema(
        request=ProjectSettingsSerializer,
        responses=ProjectDetailSerializer,
        examples=[SETTINGS_EXAMPLE, EDIT_RULES_EXAMPLE],
    )
    def partial_update(self, request: Request, slug: str) -> Response:
        """Change any of the project's settings (project admins); the slug stays fixed."""
        project = self.get_object()
        data = ProjectSettingsSerializer(project, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        updated = update_project(project, **data.validated_data)
        return Response(self._detail(updated))

    @extend_schema(responses={204: OpenApiResponse(description="deleted")})
    def destroy(self, request: Request, slug: str) -> Response:
        """Delete the project: hidden at once, its data removed by a worker (project admins)."""
        delete_project(self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses=ProjectDetailSerializer)
    # `project-archive` names the page's URL; this one is `project-archive-api`.
    @action(detail=True, methods=["post"], permission_classes=ADMIN_ONLY, url_name="archive-api")
    def archive(self, request: Request, slug: str) -> Response:
        """Archive: hidden from annotators, read-only, exportable; live leases end."""
        return Response(self._detail(archive_project(self.get_object())))

    @extend_schema(request=None, responses=ProjectDetailSerializer)
    # `project-unarchive` names the page's URL; this one is `project-unarchive-api`.
    @action(detail=True, methods=["post"], permission_classes=ADMIN_ONLY, url_name="unarchive-api")
    def unarchive(self, request: Request, slug: str) -> Response:
        """Make an archived project active again."""
        return Response(self._detail(unarchive_project(self.get_object())))

    def _detail(self, project: Project) -> Any:
        return ProjectDetailSerializer(project, context=self.get_serializer_context()).data
