"""The AI judges page (project admins): judges, their templates and runs, and the settings."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from annotate.models import Project
from annotate.permissions import access_project, signed_in_user
from annotate.projects.lifecycle import ProjectArchived
from annotate.statistics import RETRY_AFTER_SECONDS
from annotate.views.parsing import InvalidInput, parse
from generation.judges import (
    JudgeInputError,
    make_judge,
    project_judges,
    start_judge_run,
    update_judge,
)
from generation.judges_api import JudgeInputSerializer, JudgeSettingsSerializer, RunInputSerializer
from generation.judges_board import served_side_by_side
from generation.judges_models import Judge, JudgeScope
from generation.judges_prompt import DEFAULT_SYSTEM_TEMPLATE, DEFAULT_USER_TEMPLATE
from generation.judges_steering import settle_with_judges
from generation.judges_votes import project_judge_votes
from generation.models import ModelEndpoint


@login_required
@require_GET
def judges_page(request: HttpRequest, slug: str) -> HttpResponse:
    project = access_project(request.user, slug, admin=True)
    judges = project_judges(project)
    context = {
        "project": project,
        "judges": judges,
        "free_endpoints": ModelEndpoint.objects.filter(project=project, judge__isnull=True),
        "scopes": JudgeScope.choices,
        "default_system": DEFAULT_SYSTEM_TEMPLATE,
        "default_user": DEFAULT_USER_TEMPLATE,
    }
    return render(request, "generation/judges.html", context)


@login_required
@require_GET
def judge_leaderboard_page(request: HttpRequest, slug: str, judge_id: int) -> HttpResponse:
    project = access_project(request.user, slug, admin=True)
    judge = Judge.objects.filter(project=project, pk=judge_id).select_related("endpoint").first()
    if judge is None:
        raise Http404("No such judge")
    served = served_side_by_side(judge)
    context = {
        "project": project,
        "judge": judge,
        "both": served.payload,
        "served": served,
        "freshness": served.freshness,
        "refresh_seconds": RETRY_AFTER_SECONDS,
    }
    return render(request, "generation/judge_leaderboard.html", context)


@login_required
@require_POST
def judges_action(request: HttpRequest, slug: str, action: str) -> HttpResponse:
    """make (an endpoint a judge), edit (a template), run (a judge), settings."""
    project = access_project(request.user, slug, admin=True)
    try:
        _act(request, project, action)
    except (InvalidInput, JudgeInputError, ProjectArchived) as error:
        messages.error(request, str(error))
    return redirect("project-judges", slug=slug)


def _judge(project: Project, request: HttpRequest) -> Judge:
    judge = Judge.objects.filter(project=project, pk=request.POST.get("judge") or 0).first()
    if judge is None:
        raise JudgeInputError("judge", "no such judge in this project")
    return judge


def _act(request: HttpRequest, project: Project, action: str) -> None:
    if action == "make":
        endpoint = ModelEndpoint.objects.filter(
            project=project, name=request.POST.get("endpoint", "")
        ).first()
        if endpoint is None:
            raise JudgeInputError("endpoint", "choose an endpoint of this project")
        make_judge(endpoint)
        messages.success(request, f"{endpoint.name} is now a judge.")
    elif action == "edit":
        judge = _judge(project, request)
        values = parse(JudgeInputSerializer, request.POST)
        values.pop("endpoint", None)
        cleared = update_judge(judge, **values)
        messages.success(request, f"Template saved; {cleared} earlier verdicts cleared.")
    elif action == "run":
        judge = _judge(project, request)
        scope = parse(RunInputSerializer, request.POST)["scope"]
        start_judge_run(judge, signed_in_user(request), scope=scope)
        messages.success(request, "The judge run is queued for the workers.")
    elif action == "settings":
        data = JudgeSettingsSerializer(project, data=request.POST, partial=True)
        if not data.is_valid():
            raise InvalidInput(data.errors)
        data.save()
        settle_with_judges(project, project_judge_votes(project))
        messages.success(request, "Judge settings saved.")
    else:
        raise JudgeInputError("action", f"unknown action {action!r}")
