"""A project's model leaderboard as the page, the API and the CSV download show it."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import numpy as np
from django.core.cache import cache
from django.db.models import Avg, Count, Max, QuerySet
from django.db.models.functions import Length

from annotate.leaderboard.bradley_terry import (
    DEFAULT_ROUNDS,
    Fit,
    Tally,
    Votes,
    build_votes,
    counted_judgements,
    fit_leaderboard,
    tally,
)
from annotate.models import Judgement, Project, Response
from annotate.signals import leaderboard_built

# A cached board is keyed by the counted judgements' count and latest id, so it goes stale only
# through edits that change neither; the timeout bounds that.
CACHE_SECONDS = 3600
CSV_COLUMNS = [
    "rank",
    "model",
    "rating",
    "low",
    "high",
    "votes",
    "wins",
    "losses",
    "ties",
    "both_bad",
    "mean_length",
]
PLAIN_COLUMNS = ["rating_without_length_control", "rank_without_length_control"]


def vote_rows(judgements: QuerySet[Judgement]) -> Iterator[tuple[str, str, str, int, int]]:
    """(choice, model a, model b, length a, length b) per judgement, lengths in characters."""
    return judgements.values_list(
        "choice",
        "pair__response_a__model_name",
        "pair__response_b__model_name",
        Length("pair__response_a__text"),
        Length("pair__response_b__text"),
    ).iterator(chunk_size=5000)


def models_with_votes(project: Project) -> int:
    """How many source models the counted judgements compare (the page links from 2 up)."""
    judgements = counted_judgements(project)
    names = set(judgements.values_list("pair__response_a__model_name", flat=True).distinct())
    names |= set(judgements.values_list("pair__response_b__model_name", flat=True).distinct())
    return len(names - {""})


def project_leaderboard(
    project: Project, *, length_control: bool = False, rounds: int = DEFAULT_ROUNDS
) -> dict[str, Any]:
    """Ratings, intervals, ranks, counts and win rates; with length control, both rankings.

    The human part (a query over every vote and a bootstrap) is cached until the counted
    judgements change; receivers of `leaderboard_built` add their sections on every call.
    """
    judgements = counted_judgements(project)
    state = judgements.aggregate(n=Count("id"), last=Max("id"))
    key = f"leaderboard:{project.pk}:{state['n']}:{state['last']}:{length_control:d}:{rounds}"
    human = cache.get(key)
    if human is None:
        human = _human_board(project, judgements, length_control=length_control, rounds=rounds)
        cache.set(key, human, timeout=CACHE_SECONDS)
    board = {**human["board"], "reward_model": None}
    if human["ratings"]:
        for _, extra in leaderboard_built.send(
            sender=Project,
            project=project,
            judgements=judgements,
            models=tuple(board["win_rates"]["models"]),
            ratings=np.array(human["ratings"]),
        ):
            board.update(extra or {})
    return board


def _human_board(
    project: Project, judgements: QuerySet[Judgement], *, length_control: bool, rounds: int
) -> dict[str, Any]:
    """The board from the votes alone, and the plain ratings in the votes' model order."""
    votes = build_votes(vote_rows(judgements))
    board: dict[str, Any] = {
        "length_control": length_control,
        "votes": len(votes),
        "bootstrap_rounds": rounds,
        "models": [],
        "length_coefficient": None,
        "win_rates": {
            "models": [],
            "rates": [],
            "votes": [],
            "wins": [],
            "ties": [],
            "both_bad": [],
        },
    }
    if len(votes.models) < 2:
        return {"board": board, "ratings": []}
    plain = fit_leaderboard(votes, rounds=rounds)
    fit = fit_leaderboard(votes, length_control=True, rounds=rounds) if length_control else plain
    counts = tally(votes)
    lengths = mean_lengths(project)
    board["models"] = _model_rows(votes, counts, fit, plain if length_control else None, lengths)
    if length_control:
        board["length_coefficient"] = {
            "elo_per_doubling": fit.length_coefficient,
            "interval": list(fit.length_interval or ()),
        }
    board["win_rates"] = {
        "models": list(votes.models),
        "rates": [[_float(x) for x in row] for row in counts.win_rate],
        "votes": counts.pair_votes.tolist(),
        "wins": counts.pair_wins.tolist(),
        "ties": counts.pair_ties.tolist(),
        "both_bad": counts.pair_both_bad.tolist(),
    }
    return {"board": board, "ratings": plain.ratings.tolist()}


def _model_rows(
    votes: Votes, counts: Tally, fit: Fit, uncontrolled: Fit | None, lengths: dict[str, float]
) -> list[dict[str, Any]]:
    rows = []
    for k, name in enumerate(votes.models):
        row = {
            "model": name,
            "rating": float(fit.ratings[k]),
            "interval": [float(fit.low[k]), float(fit.high[k])],
            "rank": int(fit.ranks[k]),
            "votes": int(counts.votes[k]),
            "wins": int(counts.wins[k]),
            "losses": int(counts.losses[k]),
            "ties": int(counts.ties[k]),
            "both_bad": int(counts.both_bad[k]),
            "mean_length": lengths.get(name),
        }
        if uncontrolled is not None:
            row["without_length_control"] = {
                "rating": float(uncontrolled.ratings[k]),
                "interval": [float(uncontrolled.low[k]), float(uncontrolled.high[k])],
                "rank": int(uncontrolled.ranks[k]),
            }
        rows.append(row)
    return sorted(rows, key=lambda r: (r["rank"], -r["rating"]))


def mean_lengths(project: Project) -> dict[str, float]:
    """Mean length in characters of each source model's responses in the project."""
    rows = (
        Response.objects.filter(prompt__project=project)
        .exclude(model_name="")
        .values("model_name")
        .annotate(length=Avg(Length("text")))
    )
    return {r["model_name"]: float(r["length"]) for r in rows}


def _float(x: float) -> float | None:
    return None if x != x else float(x)


def leaderboard_csv(board: dict[str, Any]) -> str:
    """The leaderboard's table as CSV, one row per model in rank order.

    With length control, the plain fit's rating and rank follow in two more columns.
    """
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS + (PLAIN_COLUMNS if board["length_control"] else []))
    for row in board["models"]:
        other = row.get("without_length_control")
        writer.writerow(
            [
                row["rank"],
                row["model"],
                f"{row['rating']:.2f}",
                f"{row['interval'][0]:.2f}",
                f"{row['interval'][1]:.2f}",
                row["votes"],
                row["wins"],
                row["losses"],
                row["ties"],
                row["both_bad"],
                "" if row["mean_length"] is None else f"{row['mean_length']:.0f}",
                *([f"{other['rating']:.2f}", other["rank"]] if other else []),
            ]
        )
    return out.getvalue()


def interval_plot(models: list[dict[str, Any]], *, width: int = 640) -> dict[str, Any]:
    """SVG coordinates of each model's interval and rating, one row per model in rank order."""
    row_height, pad_left, pad_right, top = 26, 170, 20, 24
    height = top + row_height * len(models) + 24
    if not models:
        return {"rows": [], "width": width, "height": height}
    low = min(m["interval"][0] for m in models)
    high = max(m["interval"][1] for m in models)
    span = (high - low) or 1.0

    def x(value: float) -> float:
        return round(pad_left + (width - pad_left - pad_right) * (value - low) / span, 1)

    rows = [
        {
            "model": m["model"],
            "y": top + row_height * k + row_height / 2,
            "x_low": x(m["interval"][0]),
            "x_high": x(m["interval"][1]),
            "x": x(m["rating"]),
            "rating": m["rating"],
            "interval": m["interval"],
            "rank": m["rank"],
        }
        for k, m in enumerate(models)
    ]
    ticks = [{"x": x(v), "label": f"{v:.0f}"} for v in (low, (low + high) / 2, high)]
    return {
        "rows": rows,
        "ticks": ticks,
        "width": width,
        "height": height,
        "pad_left": pad_left,
        "axis_y": height - 18,
    }


def win_rate_table(win_rates: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows of the win-rate matrix for a template: each model with its cells against the rest."""
    return [
        {
            "model": model,
            "cells": [
                {
                    "rate": win_rates["rates"][i][j],
                    "votes": win_rates["votes"][i][j],
                    "wins": win_rates["wins"][i][j],
                    "losses": win_rates["wins"][j][i],
                    "ties": win_rates["ties"][i][j],
                    "both_bad": win_rates["both_bad"][i][j],
                }
                for j in range(len(win_rates["models"]))
            ],
        }
        for i, model in enumerate(win_rates["models"])
    ]
