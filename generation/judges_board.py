"""The leaderboard from the humans, from an AI judge, and both side by side."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from annotate.leaderboard.board import Board, board_from_rows, judge_vote_rows, project_leaderboard
from generation.judges_models import Judge
from generation.judges_votes import project_judge_votes


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


def _finite(value: Any) -> float | None:
    value = float(value)
    return None if value != value else value
