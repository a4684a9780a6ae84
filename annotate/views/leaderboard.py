"""The leaderboard page and its CSV download (the API twin: annotate/api/leaderboard.py)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from annotate.api.serializers import LeaderboardQuerySerializer
from annotate.leaderboard.board import (
    Board,
    interval_plot,
    leaderboard_csv,
    project_leaderboard,
    win_rate_table,
)
from annotate.models import Project
from annotate.permissions import access_project, can_view_leaderboard
from annotate.views.parsing import bad_input_is_400, parse


def _leaderboard(request: HttpRequest, slug: str) -> tuple[Project, Board, bool]:
    """The project, its board and the `length_control` flag asked for (the API's query)."""
    project = access_project(request.user, slug)
    if not can_view_leaderboard(request.user, project):
        raise PermissionDenied("This project keeps annotators blind to the models.")
    length_control = parse(LeaderboardQuerySerializer, request.GET)["length_control"]
    return project, project_leaderboard(project, length_control=length_control), length_control


@login_required
@require_GET
@bad_input_is_400
def leaderboard_page(request: HttpRequest, slug: str) -> HttpResponse:
    project, board, _ = _leaderboard(request, slug)
    context = {
        "project": project,
        "board": board,
        "plot": interval_plot(board.models),
        "win_rates": win_rate_table(board.win_rates),
    }
    return render(request, "annotate/leaderboard.html", context)


@login_required
@require_GET
@bad_input_is_400
def leaderboard_download(request: HttpRequest, slug: str) -> HttpResponse:
    _, board, length_control = _leaderboard(request, slug)
    response = HttpResponse(leaderboard_csv(board), content_type="text/csv")
    suffix = "-length-controlled" if length_control else ""
    response["Content-Disposition"] = f'attachment; filename="{slug}-leaderboard{suffix}.csv"'
    return response
