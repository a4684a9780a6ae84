"""REST endpoints for projects, members, imports and exports."""

from __future__ import annotations

from typing import Any

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import generics, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from annotate.api.serializers import (
    ExportQuerySerializer,
    ImportInputSerializer,
    ImportJobSerializer,
    MembershipInputSerializer,
    MembershipSerializer,
    ProjectDetailSerializer,
    ProjectSerializer,
)
from annotate.exporting import export_response
from annotate.importing import UploadTooLarge, start_import
from annotate.models import ImportJob
from annotate.permissions import (
    CanCreateProjects,
    IsProjectAdmin,
    IsProjectMember,
    visible_projects,
    with_role,
)
from annotate.projects import LastAdmin, ProjectArchived, UnknownUser, create_project, set_member


class ProjectViewSet(
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

    def perform_create(self, serializer: ProjectSerializer) -> None:
        data = dict(serializer.validated_data)
        serializer.instance = create_project(
            slug=data.pop("slug"), name=data.pop("name"), admin=self.request.user, **data
        )

    @extend_schema(request=MembershipInputSerializer, responses=MembershipSerializer)
    @action(detail=True, methods=["post"], permission_classes=[IsAuthenticated & IsProjectAdmin])
    def members(self, request: Request, slug: str) -> Response:
        """Add a member or change a member's role (project admins)."""
        project = self.get_object()
        data = MembershipInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            membership = set_member(project, **data.validated_data, by=request.user)
        except (UnknownUser, LastAdmin) as exc:
            return Response({"username": [str(exc)]}, status=status.HTTP_400_BAD_REQUEST)
        return Response(MembershipSerializer(membership).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request={"multipart/form-data": ImportInputSerializer}, responses={202: ImportJobSerializer}
    )
    @action(
        detail=True,
        methods=["post"],
        parser_classes=[MultiPartParser],
        permission_classes=[IsAuthenticated & IsProjectAdmin],
    )
    def imports(self, request: Request, slug: str) -> Response:
        """Upload a file; it is validated and imported in the background."""
        project = self.get_object()
        data = ImportInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            job = start_import(project, request.user, **data.validated_data)
        except UploadTooLarge as exc:
            return Response({"file": [str(exc)]}, status=status.HTTP_400_BAD_REQUEST)
        except ProjectArchived as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(ImportJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        parameters=[ExportQuerySerializer],
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY},
    )
    @action(detail=True, methods=["get"], permission_classes=[IsAuthenticated & IsProjectAdmin])
    def export(self, request: Request, slug: str) -> StreamingHttpResponse:
        """Stream the project's preferences as trl, hh or judgements (JSONL or Parquet)."""
        project = self.get_object()
        query = ExportQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        return export_response(project, **query.validated_data)


class ImportJobView(generics.RetrieveAPIView):
    """Progress and result of a background import (project admins)."""

    serializer_class = ImportJobSerializer
    permission_classes = [IsAuthenticated & IsProjectAdmin]

    def get_queryset(self) -> Any:
        return with_role(ImportJob.objects.select_related("project"), self.request.user)
