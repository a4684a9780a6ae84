"""The leaderboard page and its CSV download (the API twin: annotate/api/leaderboard.py)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import BadRequest, PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from annotate.leaderboard.board import (
    interval_plot,
    leaderboard_csv,
    project_leaderboard,
    win_rate_table,
)
from annotate.models import Project
from annotate.permissions import access_project, can_view_leaderboard


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
