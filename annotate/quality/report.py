"""The numbers of a project's quality page and API: one report, built from the measures."""

from __future__ import annotations

from typing import NotRequired, TypedDict

from django.contrib.auth import get_user_model
from django.db.models import Count

from annotate.importing.raters import display_name
from annotate.models import Membership, Pair, PairStatus, Project
from annotate.quality.judges import (
    AgreementJSON,
    JudgeQuality,
    ShortcutJSON,
    human_majorities,
    humans_with_each_other,
    judge_rows,
    shortcut_report,
)
from annotate.quality.measures import (
    RateJSON,
    Vote,
    agreement_units,
    alpha_interval,
    analysis_judgements,
    krippendorff_alpha,
    overall_left_rate,
    project_annotator_stats,
    project_votes,
    votes_saved,
)
from annotate.quality.shapes import (
    ShapedQuality,
    is_shaped,
    project_shaped_votes,
    shaped_quality,
)
from annotate.signals import judge_votes


class AnnotatorQuality(TypedDict):
    """One annotator's row: reliability measures and the flags they raise."""

    id: int
    kind: str  # "human" (here: people and imported raters); AI judges are JudgeQuality
    name: str
    member: bool
    paused_reason: str  # "" unless paused
    judgements: int
    agreement: RateJSON
    gold: RateJSON
    left: RateJSON
    left_p_value: float | None
    tie_rate: float
    both_bad_rate: float
    median_seconds: float | None
    fast_share: float | None
    flags: list[str]


class QualityReport(TypedDict):
    """The quality page's figures, and the API's body as it is."""

    alpha: float | None
    alpha_interval: list[float] | None
    alpha_decisive: float | None
    alpha_decisive_interval: list[float] | None
    pairs_compared: int
    position_bias: RateJSON
    min_votes: int
    max_votes: int
    completed_pairs: int
    votes_per_completed_pair: float | None
    votes_saved: float
    gold_min_accuracy: float
    annotators: list[AnnotatorQuality | JudgeQuality]
    # The humans' agreement with each other's majority, the scale for the judges' agreement.
    human_agreement: AgreementJSON
    judge_shortcut: ShortcutJSON
    # Only for projects with criteria or rankings (annotate/quality/shapes.py): alpha per
    # criterion and on implied pairs, Kendall's tau between annotators, reliability per
    # criterion, display-position bias, and each criterion against the overall vote.
    shapes: NotRequired[ShapedQuality]


def quality_report(project: Project) -> QualityReport:
    """Agreement, position bias, votes per pair, and each annotator with their flags."""
    votes = project_votes(project)
    units = agreement_units(votes)
    decisive = agreement_units(votes, decisive_only=True)
    interval = alpha_interval(units)
    decisive_interval = alpha_interval(decisive)
    per_pair = _votes_per_completed_pair(project)
    judges = judge_votes(project)
    majorities = human_majorities(votes)
    gold = dict(
        Pair.objects.filter(project=project).exclude(gold_label="").values_list("pk", "gold_label")
    )
    names = _names({v.rater for v in votes})
    report: QualityReport = {
        "alpha": krippendorff_alpha(units),
        "alpha_interval": None if interval is None else [*interval],
        "alpha_decisive": krippendorff_alpha(decisive),
        "alpha_decisive_interval": None if decisive_interval is None else [*decisive_interval],
        "pairs_compared": sum(len(u) >= 2 for u in units),
        "position_bias": overall_left_rate(votes).as_dict(),
        "min_votes": project.judgements_per_pair,
        "max_votes": project.max_overlap,
        "completed_pairs": per_pair[1],
        "votes_per_completed_pair": per_pair[0],
        "votes_saved": votes_saved(per_pair[0], project.max_overlap),
        "gold_min_accuracy": project.gold_min_accuracy,
        "annotators": [
            *_annotators(project, votes, names),
            *judge_rows(project, judges, majorities, gold),
        ],
        "human_agreement": humans_with_each_other(votes),
        "judge_shortcut": shortcut_report(project, judges, majorities),
    }
    if is_shaped(project):
        shaped = project_shaped_votes(project)
        report["shapes"] = shaped_quality(project, shaped, lambda pk: names.get(pk, str(pk)))
    return report


def _votes_per_completed_pair(project: Project) -> tuple[float | None, int]:
    """Mean votes on completed pairs that are not gold checks, and how many such pairs."""
    counts = (
        analysis_judgements(project)
        .filter(pair__status=PairStatus.COMPLETE, pair__gold_label="")
        .aggregate(votes=Count("id"), pairs=Count("pair", distinct=True))
    )
    if not counts["pairs"]:
        return None, 0
    return counts["votes"] / counts["pairs"], counts["pairs"]


def _names(raters: set[int]) -> dict[int, str]:
    """The annotators' names as the report shows them."""
    return {
        pk: display_name(username, first_name, is_active=active)
        for pk, username, first_name, active in get_user_model()
        .objects.filter(pk__in=raters)
        .values_list("pk", "username", "first_name", "is_active")
    }


def _annotators(
    project: Project, votes: list[Vote], users: dict[int, str]
) -> list[AnnotatorQuality]:
    stats = project_annotator_stats(project, votes)
    paused = dict(
        Membership.objects.filter(project=project).values_list("user_id", "paused_reason")
    )
    rows: list[AnnotatorQuality] = [
        {
            "id": s.rater,
            "kind": "human",
            "name": users.get(s.rater, str(s.rater)),
            "member": s.rater in paused,
            "paused_reason": paused.get(s.rater, ""),
            "judgements": s.judgements,
            "agreement": s.agreement.as_dict(),
            "gold": s.gold.as_dict(),
            "left": s.left.as_dict(),
            "left_p_value": s.left_p_value,
            "tie_rate": s.tie_rate,
            "both_bad_rate": s.both_bad_rate,
            "median_seconds": s.median_seconds,
            "fast_share": s.fast_share,
            "flags": s.flags,
        }
        for s in stats
    ]
    return sorted(rows, key=lambda row: row["name"])
