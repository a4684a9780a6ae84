"""Downloading a project's preferences (the API twin: annotate/api/exporting.py)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.views.decorators.http import require_GET

from annotate.api.serializers import ExportQuerySerializer
from annotate.exporting.datasets import export_response
from annotate.exporting.shaped import BadExportOption
from annotate.permissions import access_project
from annotate.views.parsing import InvalidInput, bad_input_is_400, parse


@login_required
@require_GET
@bad_input_is_400
def project_export(request: HttpRequest, slug: str) -> StreamingHttpResponse | HttpResponse:
    project = access_project(request.user, slug, admin=True)
    try:
        return export_response(project, **parse(ExportQuerySerializer, request.GET))
    except BadExportOption as exc:
        raise InvalidInput({exc.field: [str(exc)]}) from exc
