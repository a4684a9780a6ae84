"""Uploading a file to import from the project page (the API twin: annotate/api/importing.py)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from annotate.api.serializers import ImportInputSerializer
from annotate.importing.pipeline import UploadTooLarge, start_import
from annotate.permissions import access_project
from annotate.projects.lifecycle import ProjectArchived
from annotate.views.parsing import InvalidInput, parse
from config.celery import WAITING_FOR_WORKERS, unsent_tasks


@login_required
@require_POST
def project_import(request: HttpRequest, slug: str) -> HttpResponse:
    project = access_project(request.user, slug, admin=True)
    # The form post as DRF's request.data would hold it: fields and files in one dict.
    data = request.POST.copy()
    data.update(request.FILES)  # type: ignore[arg-type]  # the stub's QueryDict holds str only
    try:
        with unsent_tasks() as unsent:
            job = start_import(project, request.user, **parse(ImportInputSerializer, data))
    except (InvalidInput, UploadTooLarge, ProjectArchived) as exc:
        messages.error(request, str(exc))
    else:
        if unsent:
            messages.warning(request, f"Import of {job.original_name} {WAITING_FOR_WORKERS}.")
        else:
            messages.info(
                request, f"Import of {job.original_name} queued; progress is shown below."
            )
    return redirect("project-detail", slug=slug)
