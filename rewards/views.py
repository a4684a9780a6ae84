"""The models dashboard: retrain, follow or cancel the run, versions, learning curve, activate."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from annotate.permissions import access_project
from annotate.views.parsing import describe
from config.celery import WAITING_FOR_WORKERS, unsent_tasks
from rewards.api.serializers import RetrainInputSerializer
from rewards.costs import NeedsConfirmation, check_cost, workers_have_gpu
from rewards.models import RewardModel, TrainingRun
from rewards.overview import learning_curve, models_overview
from rewards.runs import RunNotCancellable, activate_model, cancel_run, request_retrain


@login_required
@require_GET
def models_page(request: HttpRequest, slug: str) -> HttpResponse:
    project = access_project(request.user, slug, admin=True)
    overview = models_overview(project)
    context = {
        "project": project,
        "active": overview.active,
        "models": overview.models,
        "runs": overview.runs,
        "embedding": overview.embedding,
        "live_run": next((r for r in overview.runs if r.is_live), None),
        "last_failed": next(
            (r for r in overview.runs[:1] if r.status == TrainingRun.Status.FAILED), None
        ),
        "curve": learning_curve(overview.models),
        "freshness": overview.slice_freshness,
        "workers_have_gpu": workers_have_gpu(),
    }
    return render(request, "rewards/models.html", context)


@login_required
@require_POST
def retrain(request: HttpRequest, slug: str) -> HttpResponse:
    project = access_project(request.user, slug, admin=True)
    checked = RetrainInputSerializer(data=request.POST, context={"project": project})
    if not checked.is_valid():
        messages.error(request, describe(checked.errors))
        return redirect("models", slug=slug)
    options = dict(checked.validated_data)
    mode = options.pop("mode")
    try:
        check_cost(project, mode, confirm=options.pop("confirm"), options=options)
    except NeedsConfirmation as exc:
        messages.error(request, f"Not started: {exc}.")
        return redirect("models", slug=slug)
    with unsent_tasks() as unsent:
        run, created = request_retrain(project, mode=mode, user=request.user, options=options)
    if not created:
        messages.info(request, f"Run {run.pk} is already {run.status}; following it.")
    elif unsent:
        messages.warning(request, f"Run {run.pk} {WAITING_FOR_WORKERS}.")
    return redirect("models", slug=slug)


@login_required
@require_POST
def activate_version(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    project = access_project(request.user, slug, admin=True)
    model = get_object_or_404(RewardModel, project=project, pk=pk)
    activate_model(model, user=request.user)
    messages.info(request, f"Version {model.version} is now served; the queue is being re-ranked.")
    return redirect("models", slug=slug)


@login_required
@require_POST
def cancel_training_run(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    project = access_project(request.user, slug, admin=True)
    run = get_object_or_404(TrainingRun, project=project, pk=pk)
    try:
        cancel_run(run, by=request.user)
    except RunNotCancellable as exc:
        messages.error(request, str(exc))
    else:
        messages.info(request, f"Run {run.pk} is cancelled; the served model is unchanged.")
    return redirect("models", slug=slug)
