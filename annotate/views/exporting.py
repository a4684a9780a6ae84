"""Downloading a project's preferences (the API twin: annotate/api/exporting.py)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.views.decorators.http import require_GET

from annotate.exporting.datasets import EXPORT_FORMATS, FILE_TYPES, export_response
from annotate.permissions import access_project


@login_required
@require_GET
def project_export(request: HttpRequest, slug: str) -> StreamingHttpResponse | HttpResponse:
    project = access_project(request.user, slug, admin=True)
    fmt = request.GET.get("format", "trl")
    file_type = request.GET.get("file", "jsonl")
    min_agreement = _fraction(request.GET.get("min_agreement", "0"))
    if fmt not in EXPORT_FORMATS or file_type not in FILE_TYPES:
        return HttpResponse("Unknown export format.", status=400)
    if min_agreement is None:
        return HttpResponse("min_agreement must be a number from 0 to 1.", status=400)
    return export_response(
        project,
        format=fmt,
        file=file_type,
        min_agreement=min_agreement,
        exclude_flagged=request.GET.get("exclude_flagged") in ("1", "true", "on"),
    )


def _fraction(text: str) -> float | None:
    """A number in [0, 1] from a query string, or None."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if 0.0 <= value <= 1.0 else None
