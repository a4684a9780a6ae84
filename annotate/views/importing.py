"""Uploading a file to import from the project page (the API twin: annotate/api/importing.py)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from annotate.importing.pipeline import start_import
from annotate.permissions import access_project
from annotate.projects.lifecycle import ProjectArchived


@login_required
@require_POST
def project_import(request: HttpRequest, slug: str) -> HttpResponse:
    project = access_project(request.user, slug, admin=True)
    upload = request.FILES.get("file")
    fmt = request.POST.get("format", "auto")
    labels = request.POST.get("labels", "judgements")
    if upload is None:
        messages.error(request, "Choose a file to import.")
        return redirect("project-detail", slug=slug)
    try:
        job = start_import(project, request.user, file=upload, format=fmt, labels=labels)
    except (ValueError, ProjectArchived) as exc:  # too large, unknown format, archived project
        messages.error(request, str(exc))
    else:
        messages.info(request, f"Import of {job.original_name} queued; progress is shown below.")
    return redirect("project-detail", slug=slug)
