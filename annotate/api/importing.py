"""Import endpoints (project admins): upload a file, follow its job (page: views/importing.py)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.decorators import action
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from annotate.api.paging import keyset_list, keyset_schema
from annotate.api.serializers import (
    CursorQuerySerializer,
    ImportInputSerializer,
    ImportJobSerializer,
)
from annotate.importing.pipeline import UploadTooLarge, start_import
from annotate.models import ImportJob, Project
from annotate.permissions import IsProjectAdmin, with_role
from annotate.projects.lifecycle import ProjectArchived
from config.celery import WAITING_FOR_WORKERS, unsent_tasks


class ImportAcceptedSerializer(ImportJobSerializer):
    notice = serializers.SerializerMethodField(
        help_text="Set when the job could not be handed to the workers yet (the task queue is "
        "unreachable): it is saved and starts once they can be reached."
    )

    class Meta(ImportJobSerializer.Meta):
        fields = [*ImportJobSerializer.Meta.fields, "notice"]

    def get_notice(self, job: ImportJob) -> str:
        return str(self.context.get("notice", ""))


class ImportActions(generics.GenericAPIView):
    """The project's `imports` action, mixed into the project viewset."""

    @extend_schema(
        methods=["GET"],
        parameters=[CursorQuerySerializer],
        responses=keyset_schema("ImportJobPage", ImportJobSerializer),
    )
    @extend_schema(
        methods=["POST"],
        request={"multipart/form-data": ImportInputSerializer},
        responses={202: ImportAcceptedSerializer},
    )
    @action(
        detail=True,
        methods=["get", "post"],
        parser_classes=[MultiPartParser],
        permission_classes=[IsAuthenticated & IsProjectAdmin],
    )
    def imports(self, request: Request, slug: str) -> Response:
        """The project's import jobs, newest first (GET); upload a file to import (POST): it
        is validated and imported in the background."""
        project = self.get_object()
        if request.method == "GET":
            return _job_list(request, project)
        data = ImportInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            with unsent_tasks() as unsent:
                job = start_import(project, request.user, **data.validated_data)
        except UploadTooLarge as exc:
            return Response({"file": [str(exc)]}, status=status.HTTP_400_BAD_REQUEST)
        except ProjectArchived as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        notice = f"Import {WAITING_FOR_WORKERS}." if unsent else ""
        body = ImportAcceptedSerializer(job, context={"notice": notice}).data
        return Response(body, status=status.HTTP_202_ACCEPTED)


def _job_list(request: Request, project: Project) -> Response:
    jobs = ImportJob.objects.filter(project=project).select_related("project")
    return keyset_list(request, jobs, lambda rows: ImportJobSerializer(rows, many=True).data)


class ImportJobView(generics.RetrieveAPIView):
    """Progress and result of a background import (project admins)."""

    serializer_class = ImportJobSerializer
    permission_classes = [IsAuthenticated & IsProjectAdmin]

    def get_queryset(self) -> Any:
        return with_role(ImportJob.objects.select_related("project"), self.request.user)
