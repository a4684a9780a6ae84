"""The quality report of criteria and rankings: alpha per criterion and on implied pairs,
Kendall's tau between annotators, reliability per criterion, display-position bias, and how
closely a criterion follows the overall vote."""

from __future__ import annotations

import random
from datetime import timedelta
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from scipy.stats import kendalltau

from annotate.importing.pipeline import import_file
from annotate.judging.shapes import implied_choice
from annotate.models import Assignment, Judgement, Pair, Project
from annotate.quality.measures import krippendorff_alpha
from annotate.quality.report import quality_report
from annotate.quality.shapes import kendall_tau
from tests.annotate.statistics_support import fetched
from tests.annotate.test_leaderboard_pages import page_client
from tests.conftest import client_for
from tests.factories import item_response_ids, make_pairs, make_project, write_jsonl

pytestmark = pytest.mark.django_db

HELPFUL = [{"name": "helpful", "guidance": "Does it help?", "required": False}]


def _raters(django_user_model: Any, n: int) -> list[Any]:
    return [django_user_model.objects.create_user(f"rater{i}") for i in range(n)]


def _ranking_project(tmp_path: Path, admin: Any, items: int = 3) -> tuple[Project, list[Pair]]:
    project = make_project(
        "ranked", comparison="ranking", max_ranked=4, criteria=HELPFUL, admin=admin
    )
    rows = [
        {"prompt": f"question {p}?", "responses": [f"answer {r} to {p}" for r in range(4)]}
        for p in range(items)
    ]
    import_file(project, write_jsonl(tmp_path / "r.jsonl", rows))
    return project, list(Pair.objects.filter(project=project).order_by("pk"))


def _rank(
    pair: Pair,
    user: Any,
    order: list[list[int]],
    *,
    helpful: list[list[int]] | None = None,
    shown: list[int] | None = None,
) -> Judgement:
    """A ranking judgement; `order`, `helpful` and `shown` are positions in the item."""
    ids = item_response_ids(pair)
    ranking = [sorted(ids[p] for p in group) for group in order]
    shown_ids = [ids[p] for p in (shown or range(len(ids)))]
    a, b = pair.response_a_id, pair.response_b_id
    left_is_a = shown_ids.index(a) < shown_ids.index(b)
    assignment = Assignment.objects.create(
        pair=pair,
        annotator=user,
        left_is_a=left_is_a,
        expires_at=timezone.now() + timedelta(minutes=5),
        shown_order=shown_ids,
    )
    criteria = None
    if helpful is not None:
        criteria = {"helpful": [sorted(ids[p] for p in group) for group in helpful]}
    return Judgement.objects.create(
        pair=pair,
        annotator=user,
        assignment=assignment,
        choice=implied_choice(ranking, a, b),
        shown_left="a" if left_is_a else "b",
        ranking=ranking,
        criteria=criteria,
        client_id=f"{user.pk}-{pair.pk}",
    )


def _places(order: list[list[int]], k: int = 4) -> list[int]:
    """Each position's group index: the rank vector scipy reads."""
    found = {p: i for i, group in enumerate(order) for p in group}
    return [found[p] for p in range(k)]


# Three annotators' overall and helpful rankings of three items (positions in the item).
OVERALL = [
    [[[0], [1], [2], [3]], [[0], [1], [3], [2]], [[1], [0], [2], [3]]],
    [[[2], [0, 1], [3]], [[2], [0], [1], [3]], [[2], [0], [1], [3]]],
    [[[3], [2], [1], [0]], [[0], [1], [2], [3]], [[3], [1, 2], [0]]],
]
HELPFUL_VOTES = [
    [[[0], [1], [2], [3]], [[0], [1], [2], [3]], [[3], [2], [1], [0]]],
    [[[2], [0, 1], [3]], [[2], [0, 1], [3]], [[0, 1, 2, 3]]],
    [[[3], [2], [1], [0]], [[0], [1], [2], [3]], [[3], [2], [1], [0]]],
]
SHOWN = [[3, 2, 1, 0], [0, 1, 2, 3], [2, 3, 0, 1]]


def _ranked_project(tmp_path: Path, django_user_model: Any, admin: Any) -> tuple[Any, ...]:
    project, items = _ranking_project(tmp_path, admin)
    raters = _raters(django_user_model, 3)
    judgements = {}
    for i, pair in enumerate(items):
        for r, user in enumerate(raters):
            judgements[i, r] = _rank(
                pair, user, OVERALL[i][r], helpful=HELPFUL_VOTES[i][r], shown=SHOWN[(i + r) % 3]
            )
    return project, items, raters, judgements


def _mean_tau(votes: list[list[list[list[int]]]]) -> tuple[float, int]:
    """scipy's tau-b between every two annotators' rank vectors of an item, averaged."""
    taus = []
    for item in votes:
        for x, y in combinations(item, 2):
            tau = kendalltau(_places(x), _places(y)).statistic
            if tau == tau:  # not nan: a ranking that ties everything has no tau
                taus.append(tau)
    return sum(taus) / len(taus), len(taus)


def _implied_units(votes: list[list[list[list[int]]]]) -> list[list[str]]:
    units = []
    for item in votes:
        for i, j in combinations(range(4), 2):
            units.append(
                [
                    str((_places(v)[i] > _places(v)[j]) - (_places(v)[i] < _places(v)[j]))
                    for v in item
                ]
            )
    return units


@pytest.mark.parametrize("seed", range(20))
def test_its_kendall_tau_is_scipys_tau_b_with_ties(seed: int) -> None:
    rng = random.Random(seed)
    k = rng.randint(3, 8)

    def ranking() -> list[list[int]]:
        groups: dict[int, list[int]] = {}
        for rid in range(k):
            groups.setdefault(rng.randint(0, k // 2), []).append(rid)
        return [groups[g] for g in sorted(groups)]

    x, y = ranking(), ranking()
    expected = kendalltau(_places(x, k), _places(y, k)).statistic
    got = kendall_tau(x, y)
    if expected != expected:  # nan: undefined
        assert got is None
    else:
        assert got == pytest.approx(expected)


def test_a_ranking_project_reports_tau_and_alpha_on_implied_pairs(
    tmp_path: Path, django_user_model: Any, admin: Any
) -> None:
    # given three annotators' rankings of three items of four responses
    project, *_ = _ranked_project(tmp_path, django_user_model, admin)
    # when
    shapes = quality_report(project)["shapes"]
    # then tau is scipy's tau-b, averaged over every two annotators of an item
    tau, comparisons = _mean_tau(OVERALL)
    agreement = shapes["ranking_agreement"]
    assert agreement is not None and agreement["tau"] == pytest.approx(tau)
    assert (agreement["comparisons"], agreement["items"]) == (comparisons, 3) == (9, 3)
    low, high = agreement["interval"]  # type: ignore[misc]
    assert low <= tau <= high
    # and alpha is over the 18 implied pairs, each one unit of three values
    implied = shapes["implied_pairs"]
    assert implied is not None and implied["units"] == 18
    assert implied["alpha"] == pytest.approx(krippendorff_alpha(_implied_units(OVERALL)))
    assert implied["interval"] is not None
    # and the helpful criterion has its own, with the all-tied ranking giving no tau
    (helpful,) = shapes["per_criterion"]
    assert helpful["name"] == "helpful"
    helpful_tau, helpful_comparisons = _mean_tau(HELPFUL_VOTES)
    assert helpful["tau"] is not None and helpful["tau"]["tau"] == pytest.approx(helpful_tau)
    assert helpful["tau"]["comparisons"] == helpful_comparisons == 7
    assert helpful["alpha"]["alpha"] == pytest.approx(
        krippendorff_alpha(_implied_units(HELPFUL_VOTES))
    )
    # and helpful against overall: the implied pairs decisive in both, judgement by judgement
    agree = compared = 0
    for i in range(3):
        for r in range(3):
            overall, helps = _places(OVERALL[i][r]), _places(HELPFUL_VOTES[i][r])
            for u, v in combinations(range(4), 2):
                if overall[u] != overall[v] and helps[u] != helps[v]:
                    compared += 1
                    agree += (overall[u] < overall[v]) == (helps[u] < helps[v])
    link = helpful["with_overall"]["agreement"]
    assert (link["k"], link["n"]) == (agree, compared)
    assert link["interval"] is not None and link["interval"][0] <= agree / compared
    # and the figures are the same when computed again (seeded bootstraps)
    assert quality_report(project)["shapes"] == shapes


def test_a_ranking_project_reports_each_display_positions_best_share(
    tmp_path: Path, django_user_model: Any, admin: Any
) -> None:
    project, *_ = _ranked_project(tmp_path, django_user_model, admin)
    # by hand: per display place, was the response shown there in the best group?
    hits, chance = [0] * 4, [0.0] * 4
    for i in range(3):
        for r in range(3):
            best = OVERALL[i][r][0]
            for place, position in enumerate(SHOWN[(i + r) % 3]):
                hits[place] += position in best
                chance[place] += len(best) / 4
    positions = quality_report(project)["shapes"]["positions"]
    assert [p["position"] for p in positions] == [1, 2, 3, 4]
    assert [p["best"]["k"] for p in positions] == hits
    assert [p["best"]["n"] for p in positions] == [9] * 4
    assert [p["expected"] for p in positions] == pytest.approx([c / 9 for c in chance])
    assert all(p["best"]["interval"] is not None for p in positions)


def test_an_invalidated_criterion_vote_counts_nowhere(
    tmp_path: Path, django_user_model: Any, admin: Any
) -> None:
    # given the third annotator's helpful vote on the first item invalidated by review
    project, _, raters, judgements = _ranked_project(tmp_path, django_user_model, admin)
    before = quality_report(project)["shapes"]
    Judgement.objects.filter(pk=judgements[0, 2].pk).update(invalid_criteria=["helpful"])
    # when
    after = quality_report(project)["shapes"]
    # then helpful is computed as if that vote were never given
    remaining = [list(item) for item in HELPFUL_VOTES]
    remaining[0] = remaining[0][:2]
    tau, comparisons = _mean_tau(remaining)
    (helpful,) = after["per_criterion"]
    assert helpful["tau"] is not None and helpful["tau"]["tau"] == pytest.approx(tau)
    assert helpful["tau"]["comparisons"] == comparisons == 5
    assert helpful["alpha"]["units"] == before["per_criterion"][0]["alpha"]["units"]
    # and in reliability: rater2 loses the item's six implied pairs, and rater0, whose two
    # others disagreed there before (no majority), now meets rater1 alone, who agrees
    was = {row["name"]: row["criteria"]["helpful"] for row in before["annotators"]}
    now = {row["name"]: row["criteria"]["helpful"] for row in after["annotators"]}
    assert now["rater2"]["n"] == was["rater2"]["n"] - 6
    assert (now["rater0"]["k"], now["rater0"]["n"]) == (
        was["rater0"]["k"] + 6,
        was["rater0"]["n"] + 6,
    )
    # and the overall figures did not move
    assert after["ranking_agreement"] == before["ranking_agreement"]
    assert after["implied_pairs"] == before["implied_pairs"]


def _pairwise(
    pair: Pair, user: Any, choice: str, criteria: dict[str, str], *, left_is_a: bool = True
) -> Judgement:
    return Judgement.objects.create(
        pair=pair,
        annotator=user,
        choice=choice,
        shown_left="a" if left_is_a else "b",
        criteria=criteria,
        client_id=f"{user.pk}-{pair.pk}",
    )


# Per pair, three annotators' (overall, helpful, safe) votes.
PAIRWISE = [
    [("a", "a", "a"), ("a", "a", "b"), ("a", "a", "a")],
    [("b", "b", "a"), ("b", "b", "a"), ("a", "a", "a")],
    [("a", "a", "tie"), ("b", "b", "b"), ("b", "b", "a")],
    [("b", "b", "b"), ("b", "b", "b"), ("b", "b", "both_bad")],
]


def test_a_pairwise_project_with_criteria_reports_each_against_the_overall(
    tmp_path: Path, django_user_model: Any, admin: Any
) -> None:
    # given four pairs judged by three annotators, overall and on two criteria
    criteria = [*HELPFUL, {"name": "safe", "guidance": "", "required": False}]
    project = make_project("crit", criteria=criteria, admin=admin)
    make_pairs(project, tmp_path, 4, labelled=False)
    pairs = list(Pair.objects.filter(project=project).order_by("pk"))
    raters = _raters(django_user_model, 3)
    for pair, votes in zip(pairs, PAIRWISE, strict=True):
        for user, (overall, helps, safe_vote) in zip(raters, votes, strict=True):
            _pairwise(pair, user, overall, {"helpful": helps, "safe": safe_vote})
    # when
    report = quality_report(project)
    shapes = report["shapes"]
    # then helpful always agrees with the overall vote: it just tracks it
    helpful, safe = shapes["per_criterion"]
    assert helpful["with_overall"]["agreement"]["rate"] == 1.0
    assert helpful["with_overall"]["kappa"] == pytest.approx(1.0)
    assert helpful["alpha"]["alpha"] == pytest.approx(report["alpha"])
    # and safe: of 10 judgements decisive under both, 6 agree; kappa by hand
    #   overall a/b against safe a/b: (a,a)=3 (a,b)=1 (b,a)=3 (b,b)=3
    assert safe["with_overall"]["agreement"]["k"] == 6
    assert safe["with_overall"]["agreement"]["n"] == 10
    observed, chance = 0.6, (4 * 6 + 6 * 4) / 100
    assert safe["with_overall"]["kappa"] == pytest.approx((observed - chance) / (1 - chance))
    assert safe["tau"] is None and shapes["implied_pairs"] is None and shapes["positions"] == []
    # and per annotator, overall is the annotators table's agreement, and safe its own
    rows = {row["name"]: row["criteria"] for row in shapes["annotators"]}
    for row in report["annotators"]:
        assert rows[row["name"]]["overall"] == row["agreement"]
    # rater1's safe votes b, a, b, b against the others' majority (a, a, none, none): 1 of 2
    assert (rows["rater1"]["safe"]["k"], rows["rater1"]["safe"]["n"]) == (1, 2)
    # rater0's safe votes a, a, tie, b against (none, a, none, none): 1 of 1
    assert (rows["rater0"]["safe"]["k"], rows["rater0"]["safe"]["n"]) == (1, 1)
    assert rows["rater0"]["safe"]["interval"] is not None


def test_a_plain_pairwise_report_has_no_shapes_section(tmp_path: Path, project: Project) -> None:
    make_pairs(project, tmp_path, 6)
    report = quality_report(project)
    assert "shapes" not in report
    assert "alpha" in report and "position_bias" in report


def test_the_api_and_the_page_show_the_ranking_sections(
    tmp_path: Path, django_user_model: Any, admin: Any
) -> None:
    # given a ranked project its admin reads
    project, *_ = _ranked_project(tmp_path, django_user_model, admin)
    # when
    body = fetched(client_for(admin), f"/api/projects/{project.slug}/quality").json()
    page = fetched(page_client(admin), f"/projects/{project.slug}/quality").content.decode()
    # then the API carries the section and the page its tables
    tau, _ = _mean_tau(OVERALL)
    assert body["shapes"]["ranking_agreement"]["tau"] == pytest.approx(tau)
    assert [c["name"] for c in body["shapes"]["per_criterion"]] == ["helpful"]
    assert f"{tau:.3f}" in page
    for marker in ('id="criteria-quality"', 'id="criteria-annotators"', 'id="display-positions"'):
        assert marker in page
    assert "Does a criterion just track the overall preference?" in page
    assert 'data-criterion="helpful"' in page and 'data-annotator="rater2"' in page


def test_a_ranker_who_always_puts_the_first_shown_best_is_seen_on_the_page(
    tmp_path: Path, django_user_model: Any, admin: Any
) -> None:
    # given three annotators who rank whatever is shown first best, on ten items
    project, items = _ranking_project(tmp_path, admin, items=10)
    rng = random.Random(7)
    for user in _raters(django_user_model, 3):
        for pair in items:
            shown = rng.sample(range(4), 4)
            _rank(pair, user, [[p] for p in shown], shown=shown)
    # when
    positions = quality_report(project)["shapes"]["positions"]
    page = fetched(page_client(admin), f"/projects/{project.slug}/quality").content.decode()
    # then the first place is ranked best every time, against 25% expected
    assert positions[0]["best"]["rate"] == 1.0 and positions[0]["expected"] == 0.25
    assert [p["best"]["k"] for p in positions[1:]] == [0, 0, 0]
    assert '<tr data-position="1" class="flagged">' in page
