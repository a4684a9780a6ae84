"""The model leaderboard endpoint: Bradley-Terry ratings with intervals, as JSON."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from annotate.api.serializers import LeaderboardQuerySerializer
from annotate.leaderboard.board import project_leaderboard
from annotate.permissions import CanViewLeaderboard, ProjectAPIView


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


class LeaderboardSerializer(serializers.Serializer):
    length_control = serializers.BooleanField()
    votes = serializers.IntegerField()
    bootstrap_rounds = serializers.IntegerField()
    models = ModelRowSerializer(many=True)
    length_coefficient = LengthCoefficientSerializer(allow_null=True)
    win_rates = WinRatesSerializer()
    reward_model = RewardModelViewSerializer(allow_null=True)


class LeaderboardView(ProjectAPIView):
    """Source models ranked from the project's votes (members; annotators unless hidden)."""

    permission_classes = [IsAuthenticated & CanViewLeaderboard]
    # Seconds of a web process per call on a large project (annotate/api/throttles.py).
    throttle_scope = "expensive"

    @extend_schema(parameters=[LeaderboardQuerySerializer], responses=LeaderboardSerializer)
    def get(self, request: Request, slug: str) -> Response:
        project = self.get_object()
        query = LeaderboardQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        board = project_leaderboard(project, **query.validated_data)
        return Response(LeaderboardSerializer(board.to_json()).data)
