"""Quality endpoints (project admins): the report, and pausing or reinstating an annotator."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from annotate.api.leaderboard import StatisticStatusSerializer, statistic_response, status_fields
from annotate.api.serializers import PauseInputSerializer
from annotate.judging.gold import pause_annotator, reinstate_annotator
from annotate.permissions import IsProjectAdmin, ProjectAPIView
from annotate.statistics import QUALITY, refresh_kind, serve


def _rate(name: str) -> serializers.Serializer:
    return inline_serializer(
        name,
        {
            "k": serializers.IntegerField(),
            "n": serializers.IntegerField(),
            "rate": serializers.FloatField(allow_null=True),
            "interval": serializers.ListField(child=serializers.FloatField(), allow_null=True),
        },
    )


def _interval() -> serializers.ListField:
    return serializers.ListField(
        child=serializers.FloatField(), allow_null=True, help_text="95% interval [low, high]"
    )


def _alpha(name: str) -> serializers.Serializer:
    return inline_serializer(
        name,
        {
            "alpha": serializers.FloatField(allow_null=True, help_text="Krippendorff, nominal"),
            "interval": _interval(),
            "units": serializers.IntegerField(
                help_text="units with 2+ votes: pairs, or implied pairs of ranking items"
            ),
        },
        allow_null=True,
    )


def _tau(name: str) -> serializers.Serializer:
    return inline_serializer(
        name,
        {
            "tau": serializers.FloatField(
                allow_null=True, help_text="mean Kendall tau-b of two annotators' rankings"
            ),
            "interval": _interval(),
            "comparisons": serializers.IntegerField(help_text="two rankings of one item"),
            "items": serializers.IntegerField(),
        },
        allow_null=True,
    )


SHAPES_SCHEMA = inline_serializer(
    "ShapedQuality",
    {
        # Text, not an enum: the project's own `comparison` enum is the one schema component.
        "comparison": serializers.CharField(help_text='the project\'s: "pairwise" or "ranking"'),
        "criteria": serializers.ListField(child=serializers.CharField()),
        "implied_pairs": _alpha("ImpliedPairsAlpha"),
        "ranking_agreement": _tau("RankingAgreement"),
        "per_criterion": inline_serializer(
            "CriterionQuality",
            {
                "name": serializers.CharField(),
                "alpha": _alpha("CriterionAlpha"),
                "tau": _tau("CriterionRankingAgreement"),
                "with_overall": inline_serializer(
                    "CriterionWithOverall",
                    {
                        "agreement": _rate("CriterionOverallAgreement"),
                        "kappa": serializers.FloatField(allow_null=True, help_text="Cohen's"),
                    },
                    help_text="its decisive votes against the overall decisive votes of the "
                    "same judgements (bootstrap interval over judgements)",
                ),
            },
            many=True,
        ),
        "positions": inline_serializer(
            "DisplayPosition",
            {
                "position": serializers.IntegerField(help_text="1: shown first"),
                "best": _rate("DisplayPositionBest"),
                "expected": serializers.FloatField(help_text="share without a position effect"),
            },
            many=True,
        ),
        "annotators": inline_serializer(
            "AnnotatorCriteria",
            {
                "id": serializers.IntegerField(),
                "name": serializers.CharField(),
                "criteria": serializers.DictField(
                    child=_rate("AnnotatorCriterionAgreement"),
                    help_text='"overall" first, then each criterion: agreement with the '
                    "others' majority (Wilson interval)",
                ),
            },
            many=True,
        ),
    },
    required=False,
    help_text="Only for projects with criteria or rankings.",
)


QUALITY_SCHEMA = inline_serializer(
    "QualityReport",
    {
        "alpha": serializers.FloatField(allow_null=True, help_text="Krippendorff, nominal"),
        "alpha_interval": _interval(),
        "alpha_decisive": serializers.FloatField(allow_null=True, help_text="a/b votes only"),
        "alpha_decisive_interval": _interval(),
        "pairs_compared": serializers.IntegerField(),
        "position_bias": _rate("LeftRate"),
        "min_votes": serializers.IntegerField(),
        "max_votes": serializers.IntegerField(),
        "completed_pairs": serializers.IntegerField(),
        "votes_per_completed_pair": serializers.FloatField(allow_null=True),
        "votes_saved": serializers.FloatField(help_text="share saved against always max_votes"),
        "gold_min_accuracy": serializers.FloatField(),
        "annotators": inline_serializer(
            "AnnotatorQuality",
            {
                "id": serializers.IntegerField(),
                "kind": serializers.ChoiceField(
                    choices=["human", "judge"],
                    help_text="judge: an AI judge; its agreement interval is a bootstrap one",
                ),
                "name": serializers.CharField(),
                "member": serializers.BooleanField(),
                "paused_reason": serializers.CharField(),
                "judgements": serializers.IntegerField(),
                "agreement": _rate("AgreementRate"),
                "gold": _rate("GoldAccuracy"),
                "left": _rate("AnnotatorLeftRate"),
                "left_p_value": serializers.FloatField(allow_null=True),
                "tie_rate": serializers.FloatField(),
                "both_bad_rate": serializers.FloatField(),
                "median_seconds": serializers.FloatField(allow_null=True),
                "fast_share": serializers.FloatField(allow_null=True),
                "flags": serializers.ListField(child=serializers.CharField()),
                "consistency": _rate("JudgeConsistency"),
                "inconsistent": serializers.IntegerField(required=False),
                "unparsed": serializers.IntegerField(required=False),
                "criteria": inline_serializer(
                    "JudgeCriterionAgreement",
                    {
                        "criterion": serializers.CharField(help_text="the project criterion"),
                        "judge_verdict": serializers.ChoiceField(
                            choices=["overall"],
                            help_text="overall: the judge's overall verdict, compared with the "
                            "humans' majority on this criterion",
                        ),
                        "agreement": _rate("JudgeCriterionAgreementRate"),
                    },
                    many=True,
                    required=False,
                    help_text="AI judges only: per project criterion, the judge's overall "
                    "verdict against the humans' per-criterion majority (bootstrap interval)",
                ),
            },
            many=True,
        ),
        "human_agreement": _rate("HumanAgreement"),
        **status_fields(),
        "judge_shortcut": inline_serializer(
            "JudgeShortcut",
            {
                "enabled": serializers.BooleanField(),
                "settled_votes": serializers.IntegerField(allow_null=True),
                "audit_share": serializers.FloatField(),
                "agreed_pairs": serializers.IntegerField(),
                "shortcut_pairs": serializers.IntegerField(),
                "audit_pairs": serializers.IntegerField(),
                "audit_error": _rate("ShortcutAuditError"),
            },
        ),
        "shapes": SHAPES_SCHEMA,
    },
)


class QualityView(ProjectAPIView):
    """Agreement, position bias, adaptive overlap's savings and per-annotator reliability;
    on projects with criteria or rankings also `shapes`: alpha per criterion and on implied
    pairs, Kendall's tau, reliability per criterion, display positions, each criterion
    against the overall vote (annotate/quality/shapes.py).

    Served as a worker last computed it, with its freshness; never computed in the request.
    """

    permission_classes = [IsAuthenticated & IsProjectAdmin]
    # Seconds of a web process per call on a large project (annotate/api/throttles.py).
    throttle_scope = "expensive"

    @extend_schema(responses={200: QUALITY_SCHEMA, 202: StatisticStatusSerializer})
    def get(self, request: Request, slug: str) -> Response:
        return statistic_response(serve(self.get_object(), QUALITY))


class AnnotatorPauseView(ProjectAPIView):
    """Pause an annotator (no new leases) or reinstate them."""

    permission_classes = [IsAuthenticated & IsProjectAdmin]

    @extend_schema(request=PauseInputSerializer, responses={204: None, 404: None})
    def post(self, request: Request, slug: str, user_id: int, action: str) -> Response:
        project = self.get_object()
        data = PauseInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if action == "pause":
            changed = pause_annotator(project, user_id, reason=data.validated_data["reason"])
        else:
            changed = reinstate_annotator(project, user_id)
        if not changed:
            return Response({"detail": "No such member."}, status=status.HTTP_404_NOT_FOUND)
        refresh_kind(project, QUALITY)  # the report shows who is paused
        return Response(status=status.HTTP_204_NO_CONTENT)
