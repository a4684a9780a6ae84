"""The AI judges steer the humans: the queue's order, and fewer votes where they all agree.

With the project's acquisition set to "judges", pending pairs where the judges disagree (with
each other, across the swap, or with the served reward model) are served first. With
`judge_settled_votes` set, pairs every judge agrees on need that many human votes only, except
the audit share (annotate/quality/judges.py), which keeps every vote so that the shortcut's
error is measured on the quality page.
"""

from __future__ import annotations

import numpy as np
from django.db import transaction

from annotate.judging.overlap import settle_pairs
from annotate.models import Acquisition, Pair, PairRank, PairStatus, Project
from annotate.projects.counts import request_recount
from annotate.quality.judges import in_audit, judges_agreed
from annotate.signals import JudgeVotes
from generation.judges_votes import project_judge_votes


def steer_queue(project: Project) -> None:
    """Apply the project's judge settings to its pending pairs (after every judge run)."""
    project.refresh_from_db()
    judges = project_judge_votes(project)
    settle_with_judges(project, judges)
    if project.acquisition == Acquisition.JUDGES:
        rank_by_judges(project, judges)


def settle_with_judges(project: Project, judges: list[JudgeVotes]) -> int:
    """Set the pending pairs' `min_votes` from the judges' agreement; returns pairs shortened."""
    pending = Pair.objects.filter(project=project, status=PairStatus.PENDING)
    settled = project.judge_settled_votes
    if settled is None or settled >= project.judgements_per_pair:
        pending.exclude(min_votes=None).update(min_votes=None)
        return 0
    agreed = judges_agreed(judges)
    share = project.judge_audit_share
    shortcut = [pid for pid in agreed if not in_audit(pid, share)]
    with transaction.atomic():
        pending.exclude(pk__in=shortcut).exclude(min_votes=None).update(min_votes=None)
        pending.filter(pk__in=shortcut).update(min_votes=settled)
        done = set(
            pending.filter(pk__in=shortcut, judgement_count__gte=settled).values_list(
                "pk", flat=True
            )
        )
        if done:
            settle_pairs(project, done)
            request_recount(project)  # pairs completed without a vote the counts would see
    return len(shortcut)


def disagreement_scores(
    pair_ids: list[int], judges: list[JudgeVotes], model_p_a: dict[int, float]
) -> np.ndarray:
    """Per pair: judges split between choices + share of judges inconsistent across the swap
    + |the model's P(a wins) - the judges' P(a wins)|; 0 for a pair no judge decided."""
    from rewards.ml.acquisition import judge_disagreement

    n = len(judges)
    counts = np.zeros((len(pair_ids), 3))
    inconsistent = np.zeros(len(pair_ids))
    column = {"a": 0, "b": 1, "tie": 2}
    for k, pid in enumerate(pair_ids):
        for judge in judges:
            if pid in judge.votes:
                counts[k, column[judge.votes[pid]]] += 1
            elif pid in judge.inconsistent:
                inconsistent[k] += 1
    model = np.array([model_p_a.get(pid, np.nan) for pid in pair_ids])
    return judge_disagreement(counts, inconsistent / max(n, 1), model)


def rank_by_judges(project: Project, judges: list[JudgeVotes]) -> int:
    """Rewrite the pending pairs' priorities as rank quantiles of the judges' disagreement."""
    from rewards.ml.acquisition import rank_quantiles

    pairs = list(
        Pair.objects.filter(project=project, status=PairStatus.PENDING)
        .order_by("pk")
        .values_list("pk", "response_a_id", "response_b_id")
    )
    if not pairs:
        return 0
    ids = [pid for pid, _, _ in pairs]
    scores = disagreement_scores(ids, judges, _model_p_a(project, pairs))
    priorities = rank_quantiles(scores)
    rows = [
        PairRank(pair_id=pid, priority=float(p)) for pid, p in zip(ids, priorities, strict=True)
    ]
    PairRank.objects.bulk_update(rows, ["priority"], batch_size=1000)
    return len(rows)


def _model_p_a(project: Project, pairs: list[tuple[int, int, int]]) -> dict[int, float]:
    """P(a wins) under the served reward model's mean scores, for the pairs it scored."""
    from rewards.models import ResponseScore, RewardModel

    served = RewardModel.objects.served(project)
    if served is None:
        return {}
    wanted = {r for _, a, b in pairs for r in (a, b)}
    means = dict(
        ResponseScore.objects.filter(model=served, response_id__in=wanted).values_list(
            "response_id", "mean"
        )
    )
    return {
        pid: float(1 / (1 + np.exp(means[b] - means[a])))
        for pid, a, b in pairs
        if a in means and b in means
    }
