"""Project pages: the list, a project's page, and creating, configuring, archiving, deleting."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.forms import BaseForm
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from annotate.exporting.datasets import EXPORT_FORMATS
from annotate.formats import FORMATS
from annotate.importing.pipeline import LABEL_MODES
from annotate.permissions import (
    access_project,
    can_create_projects,
    can_view_leaderboard,
    is_project_admin,
    signed_in_user,
    visible_projects,
)
from annotate.projects.counts import counts_of, current_counts, list_counts
from annotate.projects.lifecycle import (
    archive_project,
    create_project,
    delete_project,
    unarchive_project,
    update_project,
)
from annotate.rendering import render_markdown
from annotate.views.forms import DeleteProjectForm, ProjectForm, ProjectSettingsForm

# Guidelines longer than this are not previewed live (the form still accepts them).
MAX_PREVIEW_CHARS = 100_000


@login_required
@require_http_methods(["GET", "POST"])
def project_new(request: HttpRequest) -> HttpResponse:
    if not can_create_projects(request.user):
        raise PermissionDenied("You may not create projects.")
    form = ProjectForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        project = create_project(
            slug=data.pop("slug"), name=data.pop("name"), admin=signed_in_user(request), **data
        )
        messages.success(request, f"Created {project.name}. Next: import pairs and add members.")
        return redirect("project-detail", slug=project.slug)
    context = {"form": form, "project": None}
    return render(request, "annotate/project_form.html", context, status=_status(form))


@login_required
@require_http_methods(["GET", "POST"])
def project_settings(request: HttpRequest, slug: str) -> HttpResponse:
    project = access_project(request.user, slug, admin=True)
    form = ProjectSettingsForm(request.POST or None, instance=project)
    if request.method == "POST" and form.is_valid():
        update_project(project, **form.cleaned_data)
        messages.success(
            request, "Settings saved. Overlap and acquisition changes apply to new leases."
        )
        return redirect("project-settings", slug=slug)
    context = {"form": form, "project": project, "delete_form": DeleteProjectForm(project=project)}
    return render(request, "annotate/project_form.html", context, status=_status(form))


@login_required
@require_POST
def project_archive(request: HttpRequest, slug: str) -> HttpResponse:
    project = access_project(request.user, slug, admin=True)
    if request.POST.get("archived") == "no":
        unarchive_project(project)
        messages.success(request, f"{project.name} is active again.")
    else:
        archive_project(project)
        messages.success(
            request, f"{project.name} is archived: hidden from annotators, read-only, exportable."
        )
    return redirect("project-settings", slug=slug)


@login_required
@require_http_methods(["GET", "POST"])
def project_delete(request: HttpRequest, slug: str) -> HttpResponse:
    project = access_project(request.user, slug, admin=True)
    form = DeleteProjectForm(request.POST or None, project=project)
    if request.method == "POST" and form.is_valid():
        name = project.name
        delete_project(project)
        messages.success(request, f"Deleted {name}; its data is being removed in the background.")
        return redirect("project-list")
    context = {"form": form, "project": project}
    return render(request, "annotate/project_delete.html", context, status=_status(form))


def _status(form: BaseForm) -> int:
    """400 when a submitted form comes back with errors."""
    return 400 if form.is_bound and form.errors else 200


@login_required
@require_POST
def markdown_preview(request: HttpRequest) -> HttpResponse:
    """The guidelines as annotators will see them, rendered by the server's own sanitizer."""
    text = request.POST.get("text", "")
    if len(text) > MAX_PREVIEW_CHARS:
        return JsonResponse({"error": "too long to preview"}, status=400)
    return JsonResponse({"html": render_markdown(text)})


@login_required
@require_GET
def project_list(request: HttpRequest) -> HttpResponse:
    projects = list(visible_projects(request.user).order_by("name"))
    counts = list_counts(projects)
    context = {
        "projects": projects,
        "rows": [(project, counts[project.pk]) for project in projects],
        "can_create": can_create_projects(request.user),
    }
    return render(request, "annotate/project_list.html", context)


@login_required
@require_GET
def project_detail(request: HttpRequest, slug: str) -> HttpResponse:
    project = access_project(request.user, slug)
    is_admin = is_project_admin(request.user, project)
    served = current_counts(project)
    counts = counts_of(served)
    context = {
        "project": project,
        "counts": counts,
        "counts_freshness": served.freshness,
        "counts_just_now": served.freshness.computed_at is not None
        and timezone.now() - served.freshness.computed_at < timedelta(minutes=1),
        "is_admin": is_admin,
        "imports": project.imports.all()[:10] if is_admin else [],
        "members": project.memberships.select_related("user").order_by("role", "user__username")
        if is_admin
        else [],
        "import_formats": ["auto", *FORMATS],
        "label_modes": LABEL_MODES,
        "export_formats": EXPORT_FORMATS,
        "show_leaderboard": can_view_leaderboard(request.user, project)
        and (counts["models_with_votes"] or 0) >= 2,
    }
    return render(request, "annotate/project_detail.html", context)
