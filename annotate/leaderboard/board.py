"""A project's model leaderboard as the page, the API and the CSV download show it."""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
from django.core.cache import cache
from django.db.models import Avg, Count, Max, QuerySet
from django.db.models.functions import Length

from annotate.leaderboard.bradley_terry import (
    DEFAULT_ROUNDS,
    Fit,
    ImpliedRow,
    Tally,
    VoteRow,
    Votes,
    build_votes,
    counted_judgements,
    fit_leaderboard,
    tally,
)
from annotate.leaderboard.implied import shaped_vote_rows
from annotate.models import Comparison, Judgement, Pair, Project, Response, ReviewEvent
from annotate.signals import RewardModelRow, RewardModelView, judge_votes, leaderboard_built

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


@dataclass(frozen=True)
class Ranking:
    """An Elo-scale rating, its 95% bootstrap interval and its interval-based rank."""

    rating: float
    interval: tuple[float, float]
    rank: int


@dataclass(frozen=True)
class ModelRow:
    """One source model's line of the board."""

    model: str
    rating: float
    interval: tuple[float, float]
    rank: int
    votes: int
    wins: int
    losses: int
    ties: int
    both_bad: int
    mean_length: float | None  # characters
    # The plain fit's ranking, beside the length-controlled one (with length control only).
    without_length_control: Ranking | None = None


@dataclass(frozen=True)
class LengthCoefficient:
    """Elo points a response gains against one half its length, with its 95% interval."""

    elo_per_doubling: float
    interval: tuple[float, float]


@dataclass(frozen=True)
class WinRates:
    """Pairwise counts, [i][j] indexed in `models` order; losses of i to j are wins[j][i]."""

    models: list[str] = field(default_factory=list)
    # Share of i-vs-j votes that i won, ties and both-bad as half; None without votes.
    rates: list[list[float | None]] = field(default_factory=list)
    votes: list[list[int]] = field(default_factory=list)
    wins: list[list[int]] = field(default_factory=list)
    ties: list[list[int]] = field(default_factory=list)
    both_bad: list[list[int]] = field(default_factory=list)


@dataclass(frozen=True)
class Board:
    """What the leaderboard page, its CSV and the API show; models in rank order."""

    length_control: bool
    votes: int  # pairwise comparisons counted: votes, and the implied pairs of rankings
    bootstrap_rounds: int
    models: list[ModelRow] = field(default_factory=list)
    length_coefficient: LengthCoefficient | None = None
    win_rates: WinRates = field(default_factory=WinRates)
    # Added on every build by a receiver of `leaderboard_built` (rewards), never in the process
    # cache; the stored board (annotate/statistics.py) is rebuilt when the served model changes.
    reward_model: RewardModelView | None = None
    # The criterion whose votes it counts ("": the overall preference).
    criterion: str = ""
    # Rankings counted, and the implied pairs among `votes` (each weighs 2/k; implied.py).
    rankings: int = 0
    implied_pairs: int = 0

    def to_json(self) -> dict[str, Any]:
        """The API's body: a row has `without_length_control` only when length is controlled."""
        body = asdict(self)
        for row in body["models"]:
            if row["without_length_control"] is None:
                del row["without_length_control"]
        return body


@dataclass(frozen=True)
class HumanBoard:
    """The cached part: the board from the votes, and the plain ratings in its models' order."""

    board: Board
    ratings: list[float]


def vote_rows(judgements: QuerySet[Judgement]) -> Iterator[tuple[str, str, str, int, int]]:
    """(choice, model a, model b, length a, length b) per counted judgement, in characters."""
    return judgements.values_list(
        "choice",
        "vote_model_a",
        "vote_model_b",
        Length("pair__response_a__text"),
        Length("pair__response_b__text"),
    ).iterator(chunk_size=5000)


def models_with_votes(project: Project) -> int:
    """How many source models the counted judgements compare (the page links from 2 up)."""
    judgements = counted_judgements(project)
    names = set(judgements.values_list("vote_model_a", flat=True).distinct())
    names |= set(judgements.values_list("vote_model_b", flat=True).distinct())
    return len(names - {""})


def leaderboard_criteria(project: Project) -> list[str]:
    """The criteria a board can be asked for, in the project's order."""
    return [c["name"] for c in project.criteria]


def criterion_problem(project: Project, criterion: str) -> str | None:
    """Why a board cannot be of `criterion` (naming the project's criteria), or None."""
    names = leaderboard_criteria(project)
    if not criterion or criterion in names:
        return None
    return f"{criterion!r} is not a criterion of this project ({', '.join(names) or 'none'})"


def project_leaderboard(
    project: Project,
    *,
    length_control: bool = False,
    rounds: int = DEFAULT_ROUNDS,
    criterion: str = "",
) -> Board:
    """Ratings, intervals, ranks, counts and win rates; with length control, both rankings.

    From the overall preference, or from the votes on `criterion` (a name the project has).
    Rankings count through their implied pairs, weighted (annotate/leaderboard/implied.py).
    Seconds of CPU on a large project: a worker builds it (annotate/statistics.py), requests
    serve what it stored. The human part (a query over every vote and a bootstrap) is cached
    in the process until the counted judgements change; the reward model's view (from
    `leaderboard_built`, of the overall board) is added every call.
    """
    judgements = counted_judgements(project)
    state = judgements.aggregate(n=Count("id"), last=Max("id"))
    # The value is a HumanBoard; "board" keeps it apart from the dicts older releases cached.
    key = f"leaderboard:board:{project.pk}:{state['n']}:{state['last']}:{length_control:d}:{rounds}"
    shaped = bool(criterion) or project.comparison == Comparison.RANKING
    if criterion:
        # Review may invalidate one criterion's vote, which leaves the count as it was.
        review = ReviewEvent.objects.filter(judgement__pair__project=project).aggregate(
            last=Max("id")
        )
        key += f":criterion:{criterion}:{review['last'] or 0}"
    # AI judges' votes count only where the project says so (their votes are not judgements),
    # and only on the overall board: they say nothing of a criterion.
    judges = judge_votes(project) if project.judge_votes_count and not criterion else []
    if judges:
        key += ":judges:" + ",".join(f"{j.rater}-{len(j.votes)}" for j in judges)
    human: HumanBoard | None = cache.get(key)
    if human is None:
        rows: Iterable[VoteRow | ImpliedRow] = (
            shaped_vote_rows(judgements, criterion=criterion) if shaped else vote_rows(judgements)
        )
        if judges:
            rows = itertools.chain(rows, *(judge_vote_rows(j.votes) for j in judges))
        human = board_from_rows(project, rows, length_control=length_control, rounds=rounds)
        if criterion:
            human = replace(human, board=replace(human.board, criterion=criterion))
        cache.set(key, human, timeout=CACHE_SECONDS)
    if not human.ratings or criterion:
        return human.board
    # django-stubs types a receiver's reply as `str | None`; ours return a RewardModelView.
    replies: Sequence[tuple[Any, object]] = leaderboard_built.send(
        sender=Project,
        project=project,
        judgements=judgements,
        models=tuple(human.board.win_rates.models),
        ratings=np.array(human.ratings),
    )
    views = [view for _, view in replies if isinstance(view, RewardModelView)]
    return replace(human.board, reward_model=views[-1] if views else None)


def judge_vote_rows(votes: dict[int, str]) -> Iterator[tuple[str, str, str, int, int]]:
    """An AI judge's votes (pair id -> choice) as vote rows, between the pairs' models."""
    ids = sorted(votes)
    for start in range(0, len(ids), 5000):
        pairs = Pair.objects.filter(pk__in=ids[start : start + 5000]).values_list(
            "pk",
            "response_a__model_name",
            "response_b__model_name",
            Length("response_a__text"),
            Length("response_b__text"),
        )
        for pk, model_a, model_b, length_a, length_b in pairs:
            yield votes[pk], model_a, model_b, length_a, length_b


def board_from_rows(
    project: Project,
    rows: Iterable[VoteRow | ImpliedRow],
    *,
    length_control: bool = False,
    rounds: int = DEFAULT_ROUNDS,
) -> HumanBoard:
    """A board from (choice, model a, model b, length a, length b[, weight, ranking]) rows: the
    humans' votes, or another rater's (an AI judge's board beside the humans',
    generation/judges_board.py)."""
    votes = build_votes(rows)
    if len(votes.models) < 2:
        empty = Board(
            length_control=length_control,
            votes=len(votes),
            bootstrap_rounds=rounds,
            rankings=votes.rankings,
            implied_pairs=votes.implied_pairs,
        )
        return HumanBoard(board=empty, ratings=[])
    plain = fit_leaderboard(votes, rounds=rounds)
    fit = fit_leaderboard(votes, length_control=True, rounds=rounds) if length_control else plain
    counts = tally(votes)
    lengths = mean_lengths(project)
    board = Board(
        length_control=length_control,
        votes=len(votes),
        bootstrap_rounds=rounds,
        models=_model_rows(votes, counts, fit, plain if length_control else None, lengths),
        length_coefficient=_length_coefficient(fit) if length_control else None,
        win_rates=WinRates(
            models=list(votes.models),
            rates=[[_float(x) for x in row] for row in counts.win_rate],
            votes=counts.pair_votes.tolist(),
            wins=counts.pair_wins.tolist(),
            ties=counts.pair_ties.tolist(),
            both_bad=counts.pair_both_bad.tolist(),
        ),
        rankings=votes.rankings,
        implied_pairs=votes.implied_pairs,
    )
    return HumanBoard(board=board, ratings=plain.ratings.tolist())


def _model_rows(
    votes: Votes, counts: Tally, fit: Fit, uncontrolled: Fit | None, lengths: dict[str, float]
) -> list[ModelRow]:
    rows = [
        ModelRow(
            model=name,
            rating=float(fit.ratings[k]),
            interval=(float(fit.low[k]), float(fit.high[k])),
            rank=int(fit.ranks[k]),
            votes=int(counts.votes[k]),
            wins=int(counts.wins[k]),
            losses=int(counts.losses[k]),
            ties=int(counts.ties[k]),
            both_bad=int(counts.both_bad[k]),
            mean_length=lengths.get(name),
            without_length_control=None if uncontrolled is None else _ranking(uncontrolled, k),
        )
        for k, name in enumerate(votes.models)
    ]
    return sorted(rows, key=lambda r: (r.rank, -r.rating))


def _ranking(fit: Fit, k: int) -> Ranking:
    return Ranking(
        rating=float(fit.ratings[k]),
        interval=(float(fit.low[k]), float(fit.high[k])),
        rank=int(fit.ranks[k]),
    )


def _length_coefficient(fit: Fit) -> LengthCoefficient | None:
    """The coefficient of a fit with length as a covariate (None for a plain fit)."""
    if fit.length_coefficient is None or fit.length_interval is None:
        return None
    return LengthCoefficient(elo_per_doubling=fit.length_coefficient, interval=fit.length_interval)


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


def leaderboard_csv(board: Board) -> str:
    """The leaderboard's table as CSV, one row per model in rank order.

    With length control, the plain fit's rating and rank follow in two more columns.
    """
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS + (PLAIN_COLUMNS if board.length_control else []))
    for row in board.models:
        other = row.without_length_control
        writer.writerow(
            [
                row.rank,
                row.model,
                f"{row.rating:.2f}",
                f"{row.interval[0]:.2f}",
                f"{row.interval[1]:.2f}",
                row.votes,
                row.wins,
                row.losses,
                row.ties,
                row.both_bad,
                "" if row.mean_length is None else f"{row.mean_length:.0f}",
                *([f"{other.rating:.2f}", other.rank] if other else []),
            ]
        )
    return out.getvalue()


@dataclass(frozen=True)
class PlotRow:
    model: str
    y: float
    x_low: float
    x_high: float
    x: float
    rating: float
    interval: tuple[float, float]
    rank: int


@dataclass(frozen=True)
class PlotTick:
    x: float
    label: str


@dataclass(frozen=True)
class IntervalPlot:
    """SVG geometry of the ratings and their intervals, in pixels."""

    rows: list[PlotRow]
    width: int
    height: int
    ticks: list[PlotTick] = field(default_factory=list)
    pad_left: int = 0
    axis_y: int = 0


def interval_plot(models: list[ModelRow], *, width: int = 640) -> IntervalPlot:
    """SVG coordinates of each model's interval and rating, one row per model in rank order."""
    row_height, pad_left, pad_right, top = 26, 170, 20, 24
    height = top + row_height * len(models) + 24
    if not models:
        return IntervalPlot(rows=[], width=width, height=height)
    low = min(m.interval[0] for m in models)
    high = max(m.interval[1] for m in models)
    span = (high - low) or 1.0

    def x(value: float) -> float:
        return round(pad_left + (width - pad_left - pad_right) * (value - low) / span, 1)

    rows = [
        PlotRow(
            model=m.model,
            y=top + row_height * k + row_height / 2,
            x_low=x(m.interval[0]),
            x_high=x(m.interval[1]),
            x=x(m.rating),
            rating=m.rating,
            interval=m.interval,
            rank=m.rank,
        )
        for k, m in enumerate(models)
    ]
    ticks = [PlotTick(x=x(v), label=f"{v:.0f}") for v in (low, (low + high) / 2, high)]
    return IntervalPlot(
        rows=rows, ticks=ticks, width=width, height=height, pad_left=pad_left, axis_y=height - 18
    )


@dataclass(frozen=True)
class WinRateCell:
    """The row model's record against the column model."""

    rate: float | None
    votes: int
    wins: int
    losses: int
    ties: int
    both_bad: int


@dataclass(frozen=True)
class WinRateRow:
    model: str
    cells: list[WinRateCell]


def win_rate_table(win_rates: WinRates) -> list[WinRateRow]:
    """Rows of the win-rate matrix for a template: each model with its cells against the rest."""
    return [
        WinRateRow(
            model=model,
            cells=[
                WinRateCell(
                    rate=win_rates.rates[i][j],
                    votes=win_rates.votes[i][j],
                    wins=win_rates.wins[i][j],
                    losses=win_rates.wins[j][i],
                    ties=win_rates.ties[i][j],
                    both_bad=win_rates.both_bad[i][j],
                )
                for j in range(len(win_rates.models))
            ],
        )
        for i, model in enumerate(win_rates.models)
    ]


def board_from_json(body: dict[str, Any]) -> Board:
    """A board back from its JSON (`Board.to_json`), as stored by a worker."""

    def ranking(row: dict[str, Any] | None) -> Ranking | None:
        if row is None:
            return None
        return Ranking(rating=row["rating"], interval=tuple(row["interval"]), rank=row["rank"])

    coefficient = body.get("length_coefficient")
    reward = body.get("reward_model")
    return Board(
        length_control=body["length_control"],
        votes=body["votes"],
        bootstrap_rounds=body["bootstrap_rounds"],
        models=[
            ModelRow(
                **{
                    **row,
                    "interval": tuple(row["interval"]),
                    "without_length_control": ranking(row.get("without_length_control")),
                }
            )
            for row in body["models"]
        ],
        length_coefficient=None
        if coefficient is None
        else LengthCoefficient(
            elo_per_doubling=coefficient["elo_per_doubling"],
            interval=tuple(coefficient["interval"]),
        ),
        win_rates=WinRates(**body["win_rates"]),
        reward_model=None
        if reward is None
        else RewardModelView(
            **{**reward, "models": [RewardModelRow(**row) for row in reward["models"]]}
        ),
        criterion=body.get("criterion", ""),
        rankings=body.get("rankings", 0),
        implied_pairs=body.get("implied_pairs", 0),
    )
