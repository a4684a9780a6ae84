"""The leaderboard from the humans, from an AI judge, and both side by side."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Max

from annotate.leaderboard.board import Board, board_from_rows, judge_vote_rows, project_leaderboard
from annotate.models import Project
from annotate.statistics import QUALITY, Served, StatisticUnavailable, serve
from generation.judges_models import Judge, JudgeDecision
from generation.judges_votes import project_judge_votes

# The stored statistic's kind (annotate/statistics.py): a worker fits both boards.
JUDGE_BOARD = "judge_board"


@dataclass(frozen=True)
class SideBySide:
    """Both boards, each model's two ranks, and how alike the two rankings are."""

    humans: Board
    judge: Board
    rows: list[dict[str, Any]]  # in the humans' rank order; models on both boards
    spearman: float | None
    kendall: float | None


def judge_board(judge: Judge) -> Board:
    """The leaderboard fitted on the judge's votes alone."""
    votes = next(v for v in project_judge_votes(judge.project) if v.rater == judge.rater_id)
    return board_from_rows(judge.project, judge_vote_rows(votes.votes)).board


def side_by_side(judge: Judge) -> SideBySide:
    """The humans' board (as the project counts it) beside the judge's, with rank correlation."""
    humans = project_leaderboard(judge.project)
    mine = judge_board(judge)
    theirs = {row.model: row for row in mine.models}
    rows: list[dict[str, Any]] = [
        {
            "model": h.model,
            "human_rating": h.rating,
            "human_rank": h.rank,
            "judge_rating": theirs[h.model].rating,
            "judge_rank": theirs[h.model].rank,
        }
        for h in humans.models
        if h.model in theirs
    ]
    spearman = kendall = None
    if len(rows) >= 3:
        from scipy.stats import kendalltau, spearmanr  # loaded when needed

        a = [r["human_rating"] for r in rows]
        b = [r["judge_rating"] for r in rows]
        spearman = _finite(spearmanr(a, b).statistic)
        kendall = _finite(kendalltau(a, b).statistic)
    return SideBySide(humans=humans, judge=mine, rows=rows, spearman=spearman, kendall=kendall)


def side_by_side_json(both: SideBySide) -> dict[str, Any]:
    """The API's body (and the stored payload): both boards, the shared rows, the correlations."""
    return {
        "humans": both.humans.to_json(),
        "judge": both.judge.to_json(),
        "models": both.rows,
        "spearman": both.spearman,
        "kendall": both.kendall,
    }


def served_side_by_side(judge: Judge) -> Served:
    """The stored side-by-side boards of `judge`: no request fits a board (a worker does)."""
    return serve(judge.project, JUDGE_BOARD, {"judge": judge.pk})


def compute_side_by_side(project: Project, options: dict[str, str]) -> dict[str, Any]:
    """The worker's computation of the stored statistic."""
    judge_id = options.get("judge", "")
    judge = (
        Judge.objects.filter(project=project, pk=int(judge_id)).first()
        if judge_id.isdigit()
        else None
    )
    if judge is None:
        raise StatisticUnavailable("No such judge in this project.")
    return side_by_side_json(side_by_side(judge))


def judges_state(project: Project, kind: str, **_: Any) -> str | None:
    """The judges' latest decision: what the judge board and the quality report read of them."""
    if kind not in (JUDGE_BOARD, QUALITY):
        return None
    latest = JudgeDecision.objects.filter(judge__project=project).aggregate(
        n=Count("id"), last=Max("id")
    )
    return f"judges-{latest['n']}-{latest['last'] or 0}"


def _finite(value: Any) -> float | None:
    value = float(value)
    return None if value != value else value
