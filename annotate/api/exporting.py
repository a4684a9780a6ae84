"""The export endpoint (project admins): a streamed dataset (page twin: views/exporting.py)."""

from __future__ import annotations

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import generics
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request

from annotate.api.serializers import ExportQuerySerializer
from annotate.exporting.datasets import export_response
from annotate.exporting.shaped import BadExportOption
from annotate.permissions import IsProjectAdmin


class ExportActions(generics.GenericAPIView):
    """The project's `export` action, mixed into the project viewset."""

    @extend_schema(
        parameters=[ExportQuerySerializer],
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY},
    )
    @action(detail=True, methods=["get"], permission_classes=[IsAuthenticated & IsProjectAdmin])
    def export(self, request: Request, slug: str) -> StreamingHttpResponse:
        """Stream the project's preferences as trl, hh, judgements, rankings, kto or sft
        (JSONL or Parquet)."""
        project = self.get_object()
        query = ExportQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        try:
            return export_response(project, **query.validated_data)
        except BadExportOption as exc:
            raise ValidationError({exc.field: [str(exc)]}) from exc
