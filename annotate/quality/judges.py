"""How far to trust an AI judge: its agreement with the humans, beside theirs with each other.

The judges' votes come from `annotate.signals.judge_votes` (the app that runs judges answers);
this module only measures them. A judge is compared with the majority of the humans' votes on
each pair, exactly as one human is compared with the majority of the others, so the two
agreements are on one scale; both intervals are percentile bootstraps over pairs. On a project
with criteria, the judge's one overall verdict is also compared, the same way, with the humans'
majority on each criterion (judges give no per-criterion verdict).

It also holds the rule of the judges' shortcut (pairs every judge agrees on may need fewer
human votes) and its audit: a fixed random share of those pairs keeps every human vote, and
the judges' error on them is what the shortcut costs.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from typing import TypedDict

import numpy as np

from annotate.models import Choice, Judgement, Project
from annotate.quality.measures import ALPHA_SEED, Rate, RateJSON, Vote, by_pair, majority
from annotate.signals import JudgeVotes

RESAMPLES = 1000
# The shortcut trusts judges only while each keeps its verdict across the swap this often.
MIN_CONSISTENCY = 0.8


class AgreementJSON(TypedDict):
    """k of n agreements with a 95% percentile bootstrap interval over pairs."""

    k: int
    n: int
    rate: float | None
    interval: list[float] | None


def bootstrap_agreement(
    per_pair: Sequence[tuple[int, int]], *, resamples: int = RESAMPLES, seed: int = ALPHA_SEED
) -> AgreementJSON:
    """Pooled agreement over pairs (agreements, comparisons per pair), pairs resampled."""
    kept = [(k, n) for k, n in per_pair if n]
    k = sum(a for a, _ in kept)
    n = sum(b for _, b in kept)
    if not n:
        return {"k": 0, "n": 0, "rate": None, "interval": None}
    interval = None
    if len(kept) >= 2:
        agree = np.array([a for a, _ in kept], dtype=float)
        total = np.array([b for _, b in kept], dtype=float)
        rng = np.random.default_rng(seed)
        weights = rng.multinomial(len(kept), np.full(len(kept), 1 / len(kept)), size=resamples)
        shares = (weights @ agree) / (weights @ total)
        low, high = np.percentile(shares, [2.5, 97.5])
        interval = [float(low), float(high)]
    return {"k": k, "n": n, "rate": k / n, "interval": interval}


def human_majorities(votes: Sequence[Vote]) -> dict[int, str]:
    """Each pair's strict majority of the human votes (pairs tied at the top left out)."""
    majorities = {}
    for pair_id, pair_votes in by_pair(votes).items():
        winner, _ = majority(Counter(v.choice for v in pair_votes))
        if winner is not None:
            majorities[pair_id] = winner
    return majorities


def humans_with_each_other(votes: Sequence[Vote]) -> AgreementJSON:
    """Every human vote against the majority of the other humans' votes on its pair."""
    per_pair = []
    for pair_votes in by_pair(votes).values():
        agree = compared = 0
        for vote in pair_votes:
            others = Counter(v.choice for v in pair_votes if v.rater != vote.rater)
            consensus, _ = majority(others)
            if consensus is not None:
                compared += 1
                agree += consensus == vote.choice
        per_pair.append((agree, compared))
    return bootstrap_agreement(per_pair)


def judge_with_humans(judge: JudgeVotes, majorities: dict[int, str]) -> AgreementJSON:
    """The judge's votes against the humans' majority, on the pairs that have one."""
    return bootstrap_agreement(
        [
            (int(choice == majorities[pair_id]), 1)
            for pair_id, choice in judge.votes.items()
            if pair_id in majorities
        ]
    )


# The per-criterion row compares the judge's one overall verdict with the humans' majority on
# each criterion: the judge gives no per-criterion verdict, so this says how far its overall
# preference stands in for each criterion.
CRITERION_VERDICT = "overall"
CRITERION_VOTES = frozenset({"a", "b", "tie", "both_bad"})


class CriterionAgreementJSON(TypedDict):
    """The judge's overall verdict against the humans' majority on one criterion."""

    criterion: str
    judge_verdict: str  # "overall": the judge's overall verdict stands in for the criterion
    agreement: AgreementJSON


def criterion_majorities(project: Project, pair_ids: Sequence[int]) -> dict[str, dict[int, str]]:
    """Per criterion of the project, each of these pairs' strict majority of the humans' votes.

    Only pairwise criterion votes ("a", "b", "tie", "both_bad" in canonical terms) count, and
    not those review invalidated; the criteria are the project's, in its order, each present
    even when no pair has a majority.
    """
    names = [criterion["name"] for criterion in project.criteria or []]
    if not pair_ids or not names:
        return {}
    wanted = set(pair_ids)
    rows = (
        Judgement.objects.valid()
        .filter(pair__project=project, annotator_id__isnull=False)
        .exclude(criteria=None)
        .values_list("pair_id", "criteria", "invalid_criteria")
    )
    counts: dict[str, dict[int, Counter[str]]] = {name: {} for name in names}
    for pair_id, votes, invalid in rows.iterator(chunk_size=5000):
        if pair_id not in wanted or not isinstance(votes, dict):
            continue
        for name in names:
            if isinstance(invalid, list) and name in invalid:
                continue
            vote = votes.get(name)
            if isinstance(vote, str) and vote in CRITERION_VOTES:
                counts[name].setdefault(pair_id, Counter())[vote] += 1
    found: dict[str, dict[int, str]] = {}
    for name, per_pair in counts.items():
        found[name] = {}
        for pair_id, tally in per_pair.items():
            winner, _ = majority(tally)
            if winner is not None:
                found[name][pair_id] = winner
    return found


def judge_with_criteria(
    judge: JudgeVotes, majorities: dict[str, dict[int, str]]
) -> list[CriterionAgreementJSON]:
    """Per criterion, the judge's overall verdict against the humans' majority on it."""
    return [
        {
            "criterion": name,
            "judge_verdict": CRITERION_VERDICT,
            "agreement": judge_with_humans(judge, per_pair),
        }
        for name, per_pair in majorities.items()
    ]


def consistency(judge: JudgeVotes) -> Rate:
    """Pairs whose two verdicts agreed, of the pairs with both verdicts parsed."""
    return Rate(len(judge.votes), len(judge.votes) + len(judge.inconsistent))


def judges_agreed(judges: Sequence[JudgeVotes]) -> dict[int, str]:
    """Pairs on which every judge voted, all alike, from judges consistent enough to trust.

    Empty when there is no judge or any judge keeps its verdict across the swap less often
    than MIN_CONSISTENCY: the shortcut then settles nothing.
    """
    if not judges:
        return {}
    for judge in judges:
        share = consistency(judge).share
        if share is None or share < MIN_CONSISTENCY:
            return {}
    common = set.intersection(*(set(j.votes) for j in judges))
    return {
        pair_id: judges[0].votes[pair_id]
        for pair_id in common
        if len({j.votes[pair_id] for j in judges}) == 1
    }


def audit_rank(pair_id: int) -> float:
    """A fixed pseudo-random number in [0, 1) per pair: the audit share is the pairs under it."""
    digest = hashlib.sha256(f"judge-audit:{pair_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def in_audit(pair_id: int, share: float) -> bool:
    return audit_rank(pair_id) < share


class ShortcutJSON(TypedDict):
    """The judges' shortcut: how many pairs it settled early and its error on the audit share."""

    enabled: bool
    settled_votes: int | None
    audit_share: float
    agreed_pairs: int
    shortcut_pairs: int
    audit_pairs: int
    # Audit pairs with a human majority: how often the judges' common vote differed from it.
    audit_error: RateJSON


def shortcut_report(
    project: Project, judges: Sequence[JudgeVotes], majorities: dict[int, str]
) -> ShortcutJSON:
    """The shortcut's reach, and its error measured on the audit pairs the humans judged."""
    agreed = judges_agreed(judges)
    share = project.judge_audit_share
    audit = [pid for pid in agreed if in_audit(pid, share)]
    judged = [pid for pid in audit if pid in majorities]
    wrong = sum(agreed[pid] != majorities[pid] for pid in judged)
    return {
        "enabled": project.judge_settled_votes is not None,
        "settled_votes": project.judge_settled_votes,
        "audit_share": share,
        "agreed_pairs": len(agreed),
        "shortcut_pairs": len(agreed) - len(audit),
        "audit_pairs": len(audit),
        "audit_error": Rate(wrong, len(judged)).as_dict(),
    }


class JudgeQuality(TypedDict):
    """One AI judge as a rater of the quality report (`"kind": "judge"`)."""

    id: int
    kind: str
    name: str
    member: bool
    paused_reason: str
    judgements: int  # votes: pairs whose two verdicts agreed
    agreement: AgreementJSON  # with the humans' majority, bootstrap interval
    # Per project criterion: the judge's overall verdict against the humans' majority on it.
    criteria: list[CriterionAgreementJSON]
    consistency: RateJSON  # the verdict kept across the swap
    inconsistent: int
    unparsed: int
    gold: RateJSON
    left: RateJSON  # decisive verdicts that chose the answer shown first
    left_p_value: float | None
    tie_rate: float
    both_bad_rate: float
    median_seconds: float | None
    fast_share: float | None
    flags: list[str]


def judge_rows(
    project: Project,
    judges: Sequence[JudgeVotes],
    majorities: dict[int, str],
    gold: dict[int, str],
) -> list[JudgeQuality]:
    """Each judge's row, with the fields of a human's row where they mean the same."""
    from scipy.stats import binomtest  # loaded when needed: web processes stay smaller

    rows: list[JudgeQuality] = []
    judged_pairs = sorted({pid for judge in judges for pid in judge.votes})
    by_criterion = criterion_majorities(project, judged_pairs)
    for judge in judges:
        votes = judge.votes
        on_gold = [pid for pid in votes if gold.get(pid)]
        left = Rate(judge.first_shown, judge.decisive_verdicts)
        rows.append(
            {
                "id": judge.rater,
                "kind": "judge",
                "name": judge.name,
                "member": False,
                "paused_reason": "",
                "judgements": len(votes),
                "agreement": judge_with_humans(judge, majorities),
                "criteria": judge_with_criteria(judge, by_criterion),
                "consistency": consistency(judge).as_dict(),
                "inconsistent": len(judge.inconsistent),
                "unparsed": len(judge.unparsed),
                "gold": Rate(sum(votes[p] == gold[p] for p in on_gold), len(on_gold)).as_dict(),
                "left": left.as_dict(),
                "left_p_value": binomtest(left.k, left.n).pvalue if left.n else None,
                "tie_rate": sum(c == Choice.TIE for c in votes.values()) / len(votes)
                if votes
                else 0.0,
                "both_bad_rate": 0.0,
                "median_seconds": None,
                "fast_share": None,
                "flags": [],
            }
        )
    return rows
