"""The leaderboard of ranking projects and of criteria: rankings count through their implied
pairs, each weighted 2/k, and a criterion's board counts the votes on it."""

from __future__ import annotations

import csv
import io
import math
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.test import Client
from scipy.optimize import minimize

from annotate.importing.pipeline import import_file
from annotate.leaderboard.board import project_leaderboard
from annotate.leaderboard.bradley_terry import PRIOR_PRECISION, build_votes, vote_types
from annotate.leaderboard.implied import ranking_rows
from annotate.models import Judgement, Pair, Project
from tests.annotate.statistics_support import fetched
from tests.conftest import client_for
from tests.factories import make_project, write_jsonl

pytestmark = pytest.mark.django_db

ROUNDS = 200
MODELS = ["alpha", "beta", "gamma", "delta"]
# Rankings as groups of model names, best first: alpha is usually first, delta usually last,
# with ties, upsets and rankings of three (whose implied pairs weigh 2/3, not 1/2).
RANKINGS: list[list[list[str]]] = [
    [["alpha"], ["beta"], ["gamma"], ["delta"]],
    [["alpha"], ["gamma"], ["beta"], ["delta"]],
    [["beta"], ["alpha"], ["delta"], ["gamma"]],
    [["alpha", "beta"], ["gamma"], ["delta"]],
    [["alpha"], ["beta", "gamma", "delta"]],
    [["gamma"], ["alpha"], ["beta"], ["delta"]],
    [["alpha"], ["delta"], ["beta"]],
    [["beta"], ["gamma"], ["alpha"]],
    [["delta"], ["alpha"], ["gamma"], ["beta"]],
    [["alpha"], ["beta"], ["delta", "gamma"]],
]


def page_client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def import_rankings(
    project: Project, tmp_path: Path, rankings: list[list[list[str]]], *, rater: str = "r1"
) -> None:
    """One item per ranking, each response written by its model, ranked by `rater`."""
    rows = []
    for k, ranking in enumerate(rankings):
        names = [name for group in ranking for name in group]
        order = sorted(names)  # the file's order differs from the ranking's
        rows.append(
            {
                "prompt": f"question {k}?",
                "responses": [{"text": f"{m} answers {k}", "model": m} for m in order],
                "ranking": [[order.index(m) for m in group] for group in ranking],
                "annotator": rater,
            }
        )
    import_file(project, write_jsonl(tmp_path / f"rankings-{rater}.jsonl", rows))


def weighted_pairs(rankings: list[list[list[str]]]) -> list[tuple[str, str, float, float]]:
    """(model, model, score of the first, weight): every two responses of each ranking."""
    pairs = []
    for ranking in rankings:
        k = sum(len(group) for group in ranking)
        place = {m: i for i, group in enumerate(ranking) for m in group}
        for u, v in combinations(sorted(place), 2):
            score = 0.5 if place[u] == place[v] else float(place[u] < place[v])
            pairs.append((u, v, score, 2 / k))
    return pairs


def independent_fit(pairs: list[tuple[str, str, float, float]]) -> dict[str, float]:
    """Weighted Bradley-Terry with the board's Gaussian prior, by a general minimiser."""
    at = {m: k for k, m in enumerate(MODELS)}

    def loss(s: np.ndarray) -> float:
        total = 0.5 * PRIOR_PRECISION * float(s @ s)
        for u, v, score, weight in pairs:
            p = 1 / (1 + math.exp(s[at[v]] - s[at[u]]))
            total -= weight * (score * math.log(p) + (1 - score) * math.log(1 - p))
        return total

    s = minimize(loss, np.zeros(len(MODELS)), method="BFGS", options={"gtol": 1e-10}).x
    centred = s - s.mean()
    return {m: 1000 + 400 / math.log(10) * centred[at[m]] for m in MODELS}


def ratings(board: Any) -> dict[str, float]:
    return {row.model: row.rating for row in board.models}


def test_a_ranking_board_is_the_weighted_fit_of_its_implied_pairs(
    admin: Any, tmp_path: Path
) -> None:
    # given a ranking project whose rankings of 3 and 4 responses include ties
    project = make_project("ranked", comparison="ranking", max_ranked=4, admin=admin)
    import_rankings(project, tmp_path, RANKINGS)
    # when
    board = project_leaderboard(project, rounds=ROUNDS)
    # then the ratings are those of every implied pair weighted 2/k
    expected = independent_fit(weighted_pairs(RANKINGS))
    assert ratings(board) == pytest.approx(expected, abs=1e-3)
    assert board.models[0].model == "alpha" and board.models[-1].model == "delta"
    # and the board says what it counted: every implied pair, ties as ties
    pairs = weighted_pairs(RANKINGS)
    assert (board.rankings, board.implied_pairs, board.votes) == (10, len(pairs), len(pairs))
    row = {r.model: r for r in board.models}
    ties = sum(1 for u, v, score, _ in pairs if score == 0.5 and "alpha" in (u, v))
    assert row["alpha"].ties == ties == 1
    assert row["alpha"].votes == sum(1 for u, v, *_ in pairs if "alpha" in (u, v))


def test_a_ranking_of_four_weighs_as_three_votes(admin: Any, tmp_path: Path) -> None:
    # given two annotators giving the same rankings of 4 (each pair implied twice, weight 1/2)
    fours = [r for r in RANKINGS if sum(len(g) for g in r) == 4]
    ranked = make_project("ranked", comparison="ranking", max_ranked=4, admin=admin)
    import_rankings(ranked, tmp_path, fours, rater="r1")
    import_rankings(ranked, tmp_path, fours, rater="r2")
    # and a pairwise project with one vote on each of those implied pairs
    votes = []
    for k, (u, v, score, _) in enumerate(weighted_pairs(fours)):
        label = "tie" if score == 0.5 else ("a" if score == 1 else "b")
        votes.append(
            {
                "prompt": f"pair {k}?",
                "response_a": f"{u} says {k}",
                "response_b": f"{v} says {k}",
                "model_a": u,
                "model_b": v,
                "label": label,
            }
        )
    pairwise = make_project("pairwise", admin=admin)
    import_file(pairwise, write_jsonl(tmp_path / "pairs.jsonl", votes))
    # when
    from_rankings = project_leaderboard(ranked, rounds=ROUNDS)
    from_pairs = project_leaderboard(pairwise, rounds=ROUNDS)
    # then two rankings of 4 weigh exactly as the 6 pairwise votes they imply once
    assert from_rankings.rankings == 2 * len(fours)
    assert ratings(from_rankings) == pytest.approx(ratings(from_pairs), abs=1e-4)
    # and not as 12 votes: counting every implied pair fully gives other ratings (the prior
    # weighs less against twice the votes), far beyond the agreement above
    unweighted = independent_fit([(u, v, s, 1.0) for u, v, s, _ in weighted_pairs(fours * 2)])
    gap = max(abs(unweighted[m] - ratings(from_rankings)[m]) for m in MODELS)
    assert gap > 0.1


def test_the_bootstrap_draws_a_rankings_pairs_together() -> None:
    # given one ranking of four models (six implied pairs of six different types)
    ranking = [[1], [2], [3], [4]]
    models = {1: "w", 2: "x", 3: "y", 4: "z"}
    votes = build_votes(ranking_rows(ranking, models, dict.fromkeys(models, 10), cluster=7))
    types = vote_types(votes, length_control=False)
    # when drawn many times
    drawn = types.resample(np.random.default_rng(0), 400)
    # then each draw counts the whole ranking the same number of times
    assert drawn.shape == (400, 6)
    assert (drawn == drawn[:, :1]).all() and drawn.std() > 0
    assert types.type_weight.tolist() == [0.5] * 6


def criteria_project(admin: Any, tmp_path: Path) -> Project:
    """The rankings above; every judgement's `safety` vote reverses its overall ranking."""
    project = make_project(
        "crit",
        comparison="ranking",
        max_ranked=4,
        admin=admin,
        criteria=[{"name": "safety", "guidance": "harmless first", "required": False}],
    )
    import_rankings(project, tmp_path, RANKINGS)
    for judgement in Judgement.objects.filter(pair__project=project):
        judgement.criteria = {"safety": list(reversed(judgement.ranking))}
        judgement.save(update_fields=["criteria"])
    return project


def test_a_criterions_board_ranks_by_the_votes_on_it(admin: Any, tmp_path: Path) -> None:
    # given rankings whose safety votes reverse the overall ones
    project = criteria_project(admin, tmp_path)
    api = client_for(admin)
    url = f"/api/projects/{project.slug}/leaderboard"
    # when
    overall = fetched(api, url).json()
    safety = fetched(api, f"{url}?criterion=safety").json()
    # then the safety board is the overall one upside down, and says which it is
    order = [m["model"] for m in overall["models"]]
    assert order[0] == "alpha" and overall["criterion"] == ""
    assert [m["model"] for m in safety["models"]] == list(reversed(order))
    assert safety["criterion"] == "safety" and safety["votes"] == overall["votes"]
    assert safety["reward_model"] is None
    # and the page offers the criteria and shows the one asked for, the CSV too
    client = page_client(admin)
    page = fetched(client, f"/projects/{project.slug}/leaderboard?criterion=safety")
    text = page.content.decode()
    assert '<option value="safety" selected>' in text and "Leaderboard: safety" in text
    assert "each of those k(k-1)/2 pairs weighs 2/k" in text
    download = fetched(client, f"/projects/{project.slug}/leaderboard.csv?criterion=safety")
    table = list(csv.DictReader(io.StringIO(download.content.decode())))
    assert [r["model"] for r in table] == list(reversed(order))
    assert "crit-leaderboard-safety" in download["Content-Disposition"]


def test_a_criterions_invalidated_votes_count_nowhere(admin: Any, tmp_path: Path) -> None:
    # given review invalidated the safety vote of the rankings of three responses
    project = criteria_project(admin, tmp_path)
    judgements = Judgement.objects.filter(pair__project=project)
    threes = [j.pk for j in judgements if sum(len(g) for g in j.ranking) == 3]
    Judgement.objects.filter(pk__in=threes).update(invalid_criteria=["safety"])
    # when
    safety = project_leaderboard(project, rounds=ROUNDS, criterion="safety")
    overall = project_leaderboard(project, rounds=ROUNDS)
    # then the safety board leaves their pairs out; the overall board keeps them
    kept = [r for r in RANKINGS if sum(len(g) for g in r) == 4]
    assert safety.rankings == len(kept) and overall.rankings == len(RANKINGS)
    reversed_kept = [list(reversed(r)) for r in kept]
    expected = independent_fit(weighted_pairs(reversed_kept))
    assert ratings(safety) == pytest.approx(expected, abs=1e-3)


def test_a_pairwise_projects_criterion_board_counts_its_choices(admin: Any, tmp_path: Path) -> None:
    # given pairwise votes where "strong" wins overall and loses on helpfulness
    project = make_project(
        "pairs",
        admin=admin,
        criteria=[{"name": "helpful", "guidance": "", "required": False}],
    )
    rows = [
        {
            "prompt": f"q{k}?",
            "response_a": f"strong {k}",
            "response_b": f"weak {k}",
            "model_a": "strong",
            "model_b": "weak",
            "label": "a" if k < 6 else "b",
        }
        for k in range(8)
    ]
    import_file(project, write_jsonl(tmp_path / "v.jsonl", rows))
    Judgement.objects.filter(pair__project=project).update(criteria={"helpful": "b"})
    # when
    overall = project_leaderboard(project, rounds=ROUNDS)
    helpful = project_leaderboard(project, rounds=ROUNDS, criterion="helpful")
    # then
    assert [m.model for m in overall.models] == ["strong", "weak"]
    assert [m.model for m in helpful.models] == ["weak", "strong"]
    assert helpful.votes == overall.votes == 8 and helpful.models[0].wins == 8


def test_gold_ranking_items_are_not_counted(admin: Any, tmp_path: Path) -> None:
    project = make_project("ranked", comparison="ranking", max_ranked=4, admin=admin)
    import_rankings(project, tmp_path, RANKINGS)
    gold = Pair.objects.filter(project=project).order_by("pk").first()
    assert gold is not None
    Pair.objects.filter(pk=gold.pk).update(gold_ranking=[[gold.response_a_id]])
    assert project_leaderboard(project, rounds=ROUNDS).rankings == len(RANKINGS) - 1


@pytest.mark.parametrize(
    "path",
    [
        "/api/projects/crit/leaderboard",
        "/projects/crit/leaderboard",
        "/projects/crit/leaderboard.csv",
    ],
)
def test_an_unknown_criterion_is_a_400_naming_it(admin: Any, tmp_path: Path, path: str) -> None:
    criteria_project(admin, tmp_path)
    client = client_for(admin) if path.startswith("/api") else page_client(admin)
    response = client.get(f"{path}?criterion=honesty")
    assert response.status_code == 400
    if path.startswith("/api"):
        assert "'honesty' is not a criterion" in response.json()["criterion"][0]
        assert "safety" in response.json()["criterion"][0]
    else:
        assert response.content.decode().startswith("criterion: 'honesty' is not a criterion")
