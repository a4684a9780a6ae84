"""HTML pages: the project list and a project's page with import and export for admins."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from annotate.exporting import EXPORT_FORMATS, FILE_TYPES, export_response
from annotate.formats import FORMATS
from annotate.importing import LABEL_MODES, start_import
from annotate.models import Pair, PairStatus
from annotate.permissions import (
    access_project,
    can_create_projects,
    is_project_admin,
    visible_projects,
)
from annotate.projects import ProjectArchived, project_counts, with_list_counts
from annotate.rendering import render_markdown


@login_required
@require_GET
def project_list(request: HttpRequest) -> HttpResponse:
    projects = with_list_counts(visible_projects(request.user)).order_by("name")
    context = {"projects": projects, "can_create": can_create_projects(request.user)}
    return render(request, "annotate/project_list.html", context)


@login_required
@require_GET
def project_detail(request: HttpRequest, slug: str) -> HttpResponse:
    project = access_project(request.user, slug)
    is_admin = is_project_admin(request.user, project)
    context = {
        "project": project,
        "counts": project_counts(project),
        "is_admin": is_admin,
        "imports": project.imports.all()[:10] if is_admin else [],
        "members": project.memberships.select_related("user").order_by("role", "user__username")
        if is_admin
        else [],
        "import_formats": ["auto", *FORMATS],
        "label_modes": LABEL_MODES,
        "export_formats": EXPORT_FORMATS,
    }
    return render(request, "annotate/project_detail.html", context)


@login_required
@require_GET
def annotate_page(request: HttpRequest, slug: str) -> HttpResponse:
    """The comparison page; pairs are fetched from the judging API by static/js/annotate.js."""
    project = access_project(request.user, slug)
    options = {
        "slug": project.slug,
        "allow_tie": project.allow_tie,
        "allow_both_bad": project.allow_both_bad,
        "ask_strength": project.ask_strength,
        "ask_rationale": project.ask_rationale,
    }
    context = {
        "project": project,
        "options": options,
        "guidelines_html": render_markdown(project.guidelines),
        "finished": not Pair.objects.filter(project=project, status=PairStatus.PENDING).exists(),
    }
    return render(request, "annotate/annotate.html", context)


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
    return export_response(project, format=fmt, file=file_type, min_agreement=min_agreement)


def _fraction(text: str) -> float | None:
    """A number in [0, 1] from a query string, or None."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if 0.0 <= value <= 1.0 else None
