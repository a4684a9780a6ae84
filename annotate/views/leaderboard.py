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
    board_from_json,
    interval_plot,
    leaderboard_csv,
    win_rate_table,
)
from annotate.models import Project
from annotate.permissions import access_project, can_view_leaderboard
from annotate.statistics import LEADERBOARD, RETRY_AFTER_SECONDS, Served, serve
from annotate.views.parsing import bad_input_is_400, parse


def _leaderboard(request: HttpRequest, slug: str) -> tuple[Project, Served, bool]:
    """The project, its stored board and the `length_control` flag asked for (the API's query)."""
    project = access_project(request.user, slug)
    if not can_view_leaderboard(request.user, project):
        raise PermissionDenied("This project keeps annotators blind to the models.")
    length_control = parse(LeaderboardQuerySerializer, request.GET)["length_control"]
    return project, serve(project, LEADERBOARD, {"length_control": length_control}), length_control


@login_required
@require_GET
@bad_input_is_400
def leaderboard_page(request: HttpRequest, slug: str) -> HttpResponse:
    project, served, length_control = _leaderboard(request, slug)
    board = None if served.payload is None else board_from_json(served.payload)
    context = {
        "project": project,
        "served": served,
        "freshness": served.freshness,
        "refresh_seconds": RETRY_AFTER_SECONDS,
        "length_control": length_control,
        "board": board,
        "plot": interval_plot(board.models) if board else None,
        "win_rates": win_rate_table(board.win_rates) if board else [],
    }
    return render(request, "annotate/leaderboard.html", context)


@login_required
@require_GET
@bad_input_is_400
def leaderboard_download(request: HttpRequest, slug: str) -> HttpResponse:
    _, served, length_control = _leaderboard(request, slug)
    if served.payload is None:
        # The first board is being computed: the download is asked again in a few seconds.
        busy = HttpResponse(
            "The leaderboard is being computed by a worker; download it again in a few seconds.\n",
            status=503,
            content_type="text/plain",
        )
        busy["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return busy
    board: Board = board_from_json(served.payload)
    response = HttpResponse(leaderboard_csv(board), content_type="text/csv")
    suffix = "-length-controlled" if length_control else ""
    response["Content-Disposition"] = f'attachment; filename="{slug}-leaderboard{suffix}.csv"'
    return response
