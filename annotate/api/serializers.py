from __future__ import annotations

from rest_framework import serializers

from annotate.exporting.datasets import EXPORT_FORMATS, FILE_TYPES
from annotate.formats import FORMATS
from annotate.importing.pipeline import LABEL_MODES
from annotate.models import ImportJob, Membership, Project, Role
from annotate.permissions import role_in
from annotate.projects.lifecycle import project_counts


class ProjectSerializer(serializers.ModelSerializer):
    role = serializers.SerializerMethodField()

    class Meta:
        model = Project
        fields = [
            "id",
            "name",
            "slug",
            "guidelines",
            "judgements_per_pair",
            "allow_tie",
            "allow_both_bad",
            "ask_strength",
            "ask_rationale",
            "lease_seconds",
            "acquisition",
            "retrain_every",
            "leaderboard_for_annotators",
            "max_judgements_per_pair",
            "gold_rate",
            "gold_min_answers",
            "gold_min_accuracy",
            "gold_from_unanimous",
            "exclude_flagged_from_training",
            "promotion_requires_beating_length",
            "random_slice_share",
            "created_at",
            "role",
        ]
        read_only_fields = ["id", "created_at", "role"]
        extra_kwargs = {
            "gold_rate": {"min_value": 0.0, "max_value": 1.0},
            "gold_min_accuracy": {"min_value": 0.0, "max_value": 1.0},
            "max_judgements_per_pair": {"min_value": 1, "max_value": 100},
        }

    def get_role(self, project: Project) -> str | None:

        return role_in(self.context["request"].user, project)


class ProjectDetailSerializer(ProjectSerializer):
    counts = serializers.SerializerMethodField()

    class Meta(ProjectSerializer.Meta):
        fields = [*ProjectSerializer.Meta.fields, "counts"]

    def get_counts(self, project: Project) -> dict[str, int]:

        return project_counts(project)


class MembershipInputSerializer(serializers.Serializer):
    username = serializers.CharField()
    role = serializers.ChoiceField(choices=Role.choices)


class MembershipSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username")

    class Meta:
        model = Membership
        fields = ["username", "role", "created_at"]


class ImportInputSerializer(serializers.Serializer):
    """An upload (page and API): the one check of its format and label mode."""

    file = serializers.FileField(error_messages={"required": "Choose a file to import."})
    format = serializers.ChoiceField(choices=["auto", *FORMATS], default="auto")
    labels = serializers.ChoiceField(choices=LABEL_MODES, default="judgements")


class ImportJobSerializer(serializers.ModelSerializer):
    project: serializers.SlugRelatedField[Project] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True
    )

    class Meta:
        model = ImportJob
        fields = [
            "id",
            "project",
            "original_name",
            "format",
            "labels",
            "status",
            "progress",
            "result",
            "errors",
            "created_at",
            "finished_at",
        ]


class ExportQuerySerializer(serializers.Serializer):
    """An export's query string (page and API)."""

    format = serializers.ChoiceField(choices=EXPORT_FORMATS)
    file = serializers.ChoiceField(choices=FILE_TYPES, default="jsonl")
    min_agreement = serializers.FloatField(default=0.0, min_value=0.0, max_value=1.0)
    exclude_flagged = serializers.BooleanField(
        default=False, help_text="leave out annotators the quality checks flag"
    )


class LeaderboardQuerySerializer(serializers.Serializer):
    """The leaderboard's query string (page, CSV and API)."""

    length_control = serializers.BooleanField(
        default=False, help_text="Fit with the log length ratio as a covariate (0 or 1)."
    )


class PauseInputSerializer(serializers.Serializer):
    """Why an annotator is paused (quality page and API); reinstating ignores it."""

    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=300)
