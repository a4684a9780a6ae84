"""The model leaderboard endpoint: Bradley-Terry ratings with intervals, as JSON."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from annotate.api.serializers import LeaderboardQuerySerializer
from annotate.leaderboard.board import criterion_problem
from annotate.models import Project
from annotate.permissions import CanViewLeaderboard, ProjectAPIView
from annotate.statistics import (
    LEADERBOARD,
    RETRY_AFTER_SECONDS,
    Served,
    StatisticStatus,
    serve,
    served_body,
)


class RankingSerializer(serializers.Serializer):
    rating = serializers.FloatField()
    interval = serializers.ListField(child=serializers.FloatField(), min_length=2, max_length=2)
    rank = serializers.IntegerField()


class ModelRowSerializer(RankingSerializer):
    model = serializers.CharField()
    votes = serializers.IntegerField()
    wins = serializers.IntegerField()
    losses = serializers.IntegerField()
    ties = serializers.IntegerField()
    both_bad = serializers.IntegerField()
    mean_length = serializers.FloatField(allow_null=True, help_text="characters")
    without_length_control = RankingSerializer(required=False)


class LengthCoefficientSerializer(serializers.Serializer):
    elo_per_doubling = serializers.FloatField(
        help_text="Elo points a response gains against one half its length, all else equal."
    )
    interval = serializers.ListField(child=serializers.FloatField())


class WinRatesSerializer(serializers.Serializer):
    models = serializers.ListField(child=serializers.CharField())
    rates = serializers.ListField(
        child=serializers.ListField(child=serializers.FloatField(allow_null=True)),
        help_text="rates[i][j]: share of i-vs-j votes that i won, ties and both-bad as half.",
    )
    votes = serializers.ListField(child=serializers.ListField(child=serializers.IntegerField()))
    wins = serializers.ListField(
        child=serializers.ListField(child=serializers.IntegerField()),
        help_text="wins[i][j]: votes between i and j that i won outright (losses: wins[j][i]).",
    )
    ties = serializers.ListField(child=serializers.ListField(child=serializers.IntegerField()))
    both_bad = serializers.ListField(child=serializers.ListField(child=serializers.IntegerField()))


class RewardModelRowSerializer(serializers.Serializer):
    model = serializers.CharField()
    mean_reward = serializers.FloatField(allow_null=True)
    rating = serializers.FloatField(allow_null=True, help_text="implied by P(a>b) on the pairs")
    rank = serializers.IntegerField(allow_null=True)
    human_rating = serializers.FloatField()


class RewardModelViewSerializer(serializers.Serializer):
    version = serializers.IntegerField()
    pairs = serializers.IntegerField(help_text="votes on pairs whose responses have rewards")
    models = RewardModelRowSerializer(many=True)
    spearman = serializers.FloatField(allow_null=True)
    kendall = serializers.FloatField(allow_null=True)
    mean_reward_spearman = serializers.FloatField(allow_null=True)


class FreshnessSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=StatisticStatus.choices)
    computed_at = serializers.DateTimeField(allow_null=True, help_text="when a worker computed it")
    votes_reflected = serializers.IntegerField(
        allow_null=True, help_text="valid votes of the project it was computed from"
    )
    votes_now = serializers.IntegerField(
        allow_null=True,
        help_text="valid votes of the project at the last look (every few seconds); null "
        "until first counted",
    )
    updating = serializers.BooleanField(help_text="a newer computation is queued or running")


def status_fields() -> dict[str, serializers.Field]:
    """The fields every stored statistic's body carries beside its own (fresh instances)."""
    return {
        "status": serializers.ChoiceField(
            choices=StatisticStatus.choices,
            help_text="ready: the figures are served (200); computing: a worker is computing the "
            "first ones, and only status, detail and freshness are sent (202, Retry-After)",
        ),
        "detail": serializers.CharField(required=False),
        "freshness": FreshnessSerializer(),
    }


StatisticStatusSerializer = inline_serializer("StatisticStatus", status_fields())


def statistic_response(served: Served) -> Response:
    """A stored statistic's answer: 200 with its figures, or 202 while first computed."""
    body, code = served_body(served)
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if code == 202 else None
    return Response(body, status=code, headers=headers)


class LeaderboardOptionsSerializer(LeaderboardQuerySerializer):
    """The leaderboard's query string (page, CSV and API); checks `criterion` against the
    project in its context."""

    criterion = serializers.CharField(
        required=False,
        default="",
        allow_blank=True,
        max_length=40,
        help_text="Rank by the votes on this criterion of the project instead of the overall "
        "preference.",
    )

    def validate_criterion(self, value: str) -> str:
        problem = criterion_problem(self.context["project"], value)
        if problem:
            raise serializers.ValidationError(problem)
        return value


def leaderboard_options(project: Project, query: Any) -> dict[str, Any]:
    """The stored board's variant for a query string; raises ValidationError on bad input."""
    parsed = LeaderboardOptionsSerializer(data=query, context={"project": project})
    parsed.is_valid(raise_exception=True)
    options = {"length_control": parsed.validated_data["length_control"]}
    if parsed.validated_data["criterion"]:
        # Only when asked for: the overall board keeps the variant it always had.
        options["criterion"] = parsed.validated_data["criterion"]
    return options


class LeaderboardSerializer(serializers.Serializer):
    status = status_fields()["status"]
    freshness = FreshnessSerializer()
    length_control = serializers.BooleanField()
    criterion = serializers.CharField(help_text='the criterion ranked by; "": overall')
    votes = serializers.IntegerField(
        help_text="pairwise comparisons counted: votes and the implied pairs of rankings"
    )
    rankings = serializers.IntegerField(help_text="rankings counted through their implied pairs")
    implied_pairs = serializers.IntegerField(
        help_text="implied pairs among the votes; each of a ranking of k weighs 2/k, so a "
        "ranking counts as k-1 votes"
    )
    bootstrap_rounds = serializers.IntegerField()
    models = ModelRowSerializer(many=True)
    length_coefficient = LengthCoefficientSerializer(allow_null=True)
    win_rates = WinRatesSerializer()
    reward_model = RewardModelViewSerializer(
        allow_null=True, help_text="of the overall board only (null on a criterion's)"
    )


class LeaderboardView(ProjectAPIView):
    """Source models ranked from the project's votes (members; annotators unless hidden).

    Served as a worker last computed it, with its freshness; never computed in the request.
    """

    permission_classes = [IsAuthenticated & CanViewLeaderboard]
    # Each new variant or change of votes costs a worker seconds (annotate/api/throttles.py).
    throttle_scope = "expensive"

    @extend_schema(
        parameters=[LeaderboardOptionsSerializer],
        responses={200: LeaderboardSerializer, 202: StatisticStatusSerializer},
    )
    def get(self, request: Request, slug: str) -> Response:
        project = self.get_object()
        options = leaderboard_options(project, request.query_params)
        return statistic_response(serve(project, LEADERBOARD, options))
