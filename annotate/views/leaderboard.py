"""The leaderboard page and its CSV download (the API twin: annotate/api/leaderboard.py)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.http import http_date, urlencode
from django.views.decorators.http import require_GET
from rest_framework.exceptions import ValidationError

from annotate.api.leaderboard import leaderboard_options
from annotate.leaderboard.board import (
    Board,
    board_from_json,
    interval_plot,
    leaderboard_criteria,
    leaderboard_csv,
    win_rate_table,
)
from annotate.models import Project
from annotate.permissions import access_project, can_view_leaderboard
from annotate.statistics import LEADERBOARD, RETRY_AFTER_SECONDS, Served, serve
from annotate.views.parsing import InvalidInput, bad_input_is_400


def _leaderboard(request: HttpRequest, slug: str) -> tuple[Project, Served, dict[str, Any]]:
    """The project, its stored board and the options asked for (the API's query)."""
    project = access_project(request.user, slug)
    if not can_view_leaderboard(request.user, project):
        raise PermissionDenied("This project keeps annotators blind to the models.")
    try:
        options = leaderboard_options(project, request.GET)
    except ValidationError as exc:
        raise InvalidInput(exc.detail) from exc  # type: ignore[arg-type]
    return project, serve(project, LEADERBOARD, options), options


def _query(length_control: bool, criterion: str) -> str:
    """The query string of a board's variant, for the page's links."""
    query: dict[str, str] = {"length_control": "1" if length_control else "0"}
    if criterion:
        query["criterion"] = criterion
    return urlencode(query)


@login_required
@require_GET
@bad_input_is_400
def leaderboard_page(request: HttpRequest, slug: str) -> HttpResponse:
    project, served, options = _leaderboard(request, slug)
    board = None if served.payload is None else board_from_json(served.payload)
    length_control = options["length_control"]
    criterion = options.get("criterion", "")
    context = {
        "project": project,
        "served": served,
        "freshness": served.freshness,
        "refresh_seconds": RETRY_AFTER_SECONDS,
        "length_control": length_control,
        "criterion": criterion,
        "criteria": leaderboard_criteria(project),
        "query": _query(length_control, criterion),
        "toggle_query": _query(not length_control, criterion),
        "board": board,
        "plot": interval_plot(board.models) if board else None,
        "win_rates": win_rate_table(board.win_rates) if board else [],
    }
    return render(request, "annotate/leaderboard.html", context)


@login_required
@require_GET
@bad_input_is_400
def leaderboard_download(request: HttpRequest, slug: str) -> HttpResponse:
    _, served, options = _leaderboard(request, slug)
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
    suffix = f"-{options['criterion']}" if options.get("criterion") else ""
    suffix += "-length-controlled" if options["length_control"] else ""
    response["Content-Disposition"] = f'attachment; filename="{slug}-leaderboard{suffix}.csv"'
    # How fresh the stored board is, as the page and the API say it.
    fresh = served.freshness
    if fresh.computed_at is not None:
        response["Last-Modified"] = http_date(fresh.computed_at.timestamp())
    for header, votes in (
        ("X-Votes-Reflected", fresh.votes_reflected),
        ("X-Votes-Now", fresh.votes_now),
    ):
        if votes is not None:
            response[header] = str(votes)
    return response
