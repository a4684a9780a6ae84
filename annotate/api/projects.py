"""Project endpoints: list, create, read; the members, imports and export actions join them."""

from __future__ import annotations

from typing import Any

from rest_framework import mixins, viewsets
from rest_framework.permissions import IsAuthenticated
from rest_framework.serializers import BaseSerializer

from annotate.api.exporting import ExportActions
from annotate.api.importing import ImportActions
from annotate.api.members import MemberActions
from annotate.api.serializers import ProjectDetailSerializer, ProjectSerializer
from annotate.models import Project
from annotate.permissions import (
    CanCreateProjects,
    IsProjectMember,
    signed_in_user,
    visible_projects,
)
from annotate.projects.lifecycle import create_project


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
    permission_classes = [IsAuthenticated & CanCreateProjects & IsProjectMember]

    def get_queryset(self) -> Any:
        return visible_projects(self.request.user).order_by("name")

    def get_serializer_class(self) -> type:
        return ProjectDetailSerializer if self.action == "retrieve" else ProjectSerializer

    def perform_create(self, serializer: BaseSerializer[Project]) -> None:
        data = dict(serializer.validated_data)
        serializer.instance = create_project(
            slug=data.pop("slug"), name=data.pop("name"), admin=signed_in_user(self.request), **data
        )
