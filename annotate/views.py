"""HTML pages: the project list and a project's page with import and export for admins."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import BadRequest, PermissionDenied
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from annotate.exporting import EXPORT_FORMATS, FILE_TYPES, export_response
from annotate.formats import FORMATS
from annotate.gold import paused_reason
from annotate.importing import LABEL_MODES, start_import
from annotate.models import Pair, PairStatus, Project
from annotate.permissions import (
    access_project,
    can_create_projects,
    can_view_leaderboard,
    is_project_admin,
    visible_projects,
)
from annotate.projects import ProjectArchived, project_counts, with_list_counts
from annotate.ranking import (
    interval_plot,
    leaderboard_csv,
    models_with_votes,
    project_leaderboard,
    win_rate_table,
)
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
        "show_leaderboard": can_view_leaderboard(request.user, project)
        and models_with_votes(project) >= 2,
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
        "paused_reason": paused_reason(request.user, project),
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
    return export_response(
        project,
        format=fmt,
        file=file_type,
        min_agreement=min_agreement,
        exclude_flagged=request.GET.get("exclude_flagged") in ("1", "true", "on"),
    )


def _leaderboard(request: HttpRequest, slug: str) -> tuple[Project, dict[str, Any], bool]:
    """The project, its board and the `length_control` flag (0/1, absent means 0) asked for."""
    project = access_project(request.user, slug)
    if not can_view_leaderboard(request.user, project):
        raise PermissionDenied("This project keeps annotators blind to the models.")
    length_control = {"0": False, "1": True}.get(request.GET.get("length_control", "0"))
    if length_control is None:
        raise BadRequest("length_control must be 0 or 1.")
    return project, project_leaderboard(project, length_control=length_control), length_control


@login_required
@require_GET
def leaderboard_page(request: HttpRequest, slug: str) -> HttpResponse:
    project, board, _ = _leaderboard(request, slug)
    context = {
        "project": project,
        "board": board,
        "plot": interval_plot(board["models"]),
        "win_rates": win_rate_table(board["win_rates"]),
    }
    return render(request, "annotate/leaderboard.html", context)


@login_required
@require_GET
def leaderboard_download(request: HttpRequest, slug: str) -> HttpResponse:
    _, board, length_control = _leaderboard(request, slug)
    response = HttpResponse(leaderboard_csv(board), content_type="text/csv")
    suffix = "-length-controlled" if length_control else ""
    response["Content-Disposition"] = f'attachment; filename="{slug}-leaderboard{suffix}.csv"'
    return response


def _fraction(text: str) -> float | None:
    """A number in [0, 1] from a query string, or None."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if 0.0 <= value <= 1.0 else None
