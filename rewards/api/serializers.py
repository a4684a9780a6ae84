from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from annotate.exporting.shaped import UnknownCriterion, check_criterion
from annotate.formats import FieldError, parse_prompt
from annotate.models import Project
from annotate.statistics import StatisticStatus
from rewards.models import EmbeddingRun, Mode, RewardModel, TrainingRun


class BaselineSerializer(serializers.Serializer):
    """The version against response length alone on the same validation pairs."""

    length_accuracy = serializers.FloatField(allow_null=True)
    accuracy_difference = serializers.FloatField(allow_null=True, help_text="points")
    interval = serializers.ListField(
        child=serializers.FloatField(), allow_null=True, help_text="95% paired bootstrap, points"
    )
    verdict = serializers.CharField()
    length_log_loss = serializers.FloatField(allow_null=True)
    length_correlation = serializers.FloatField(
        allow_null=True, help_text="of the version's rewards with log response length"
    )
    n = serializers.IntegerField(allow_null=True, help_text="decided validation pairs")


NOT_MEASURED = {
    "length_accuracy": None,
    "accuracy_difference": None,
    "interval": None,
    "verdict": "not measured (trained before the baseline was recorded)",
    "length_log_loss": None,
    "length_correlation": None,
    "n": None,
}


class SliceSummarySerializer(serializers.Serializer):
    n = serializers.IntegerField(
        help_text="decided judgements made after this version (a ranking project: its decisive "
        "implied pairs)"
    )
    accuracy = serializers.FloatField(allow_null=True)
    interval = serializers.ListField(
        child=serializers.FloatField(),
        allow_null=True,
        help_text="95% Wilson, percent (a ranking project: counted per item)",
    )


class SliceEstimateSerializer(serializers.Serializer):
    random_slice = SliceSummarySerializer(help_text="on randomly served pairs: unbiased")
    model_chosen = SliceSummarySerializer(help_text="on pairs the served model chose")


class RewardModelSerializer(serializers.ModelSerializer):
    baseline = serializers.SerializerMethodField()
    slice_estimate = SliceEstimateSerializer(
        read_only=True,
        allow_null=True,
        default=None,
        help_text="the latest versions only; null for the others and outside the overview",
    )

    class Meta:
        model = RewardModel
        fields = [
            "id",
            "version",
            "mode",
            "name",
            "backbone",
            "metrics",
            "baseline",
            "slice_estimate",
            "label_value",
            "reward_stats",
            "judgements",
            "training_seconds",
            "trained_at",
            "is_active",
            "promotion_note",
            "reranked_at",
            "rerank_error",
            "rerank_attempts",
        ]

    @extend_schema_field(BaselineSerializer)
    def get_baseline(self, model: RewardModel) -> dict:
        return BaselineSerializer({**NOT_MEASURED, **model.baseline}).data


class TrainingRunSerializer(serializers.ModelSerializer):
    project: serializers.SlugRelatedField[Project] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True
    )
    model = RewardModelSerializer(read_only=True)

    class Meta:
        model = TrainingRun
        fields = [
            "id",
            "project",
            "status",
            "trigger",
            "mode",
            "progress",
            "message",
            "error",
            "attempts",
            "created_at",
            "started_at",
            "finished_at",
            "model",
        ]


class EmbeddingRunSerializer(serializers.ModelSerializer):
    class Meta:
        model = EmbeddingRun
        fields = [
            "id",
            "status",
            "progress",
            "total",
            "embedded",
            "error",
            "created_at",
            "finished_at",
        ]


class RunOptionFields(serializers.Serializer):
    """The options a retrain may set (rewards.worker.services.RUN_OPTIONS reads them)."""

    backbone = serializers.CharField(required=False, help_text="local path or hub name")
    members = serializers.IntegerField(required=False, min_value=1, max_value=32)
    epochs = serializers.IntegerField(required=False, min_value=1, max_value=1000)
    # 16 tokens leave room for little more than the response's start; 32768 is the longest
    # context of the decoders the README names (Qwen2.5), well past any encoder's.
    max_length = serializers.IntegerField(
        required=False,
        min_value=16,
        max_value=32768,
        help_text="tokens per prompt+response input (the prompt is cut from its start)",
    )
    lora_rank = serializers.IntegerField(
        required=False, min_value=0, max_value=1024, help_text="LoRA rank; 0 fine-tunes in full"
    )
    lora_alpha = serializers.IntegerField(required=False, min_value=1, max_value=4096)
    lora_dropout = serializers.FloatField(required=False, min_value=0.0, max_value=0.9)
    lora_targets = serializers.RegexField(
        r"^[A-Za-z0-9_.]+(,[A-Za-z0-9_.]+)*$",
        required=False,
        max_length=500,
        help_text="comma-separated module names, e.g. q_proj,v_proj",
    )
    gpus = serializers.IntegerField(
        required=False, min_value=1, max_value=64, help_text="training processes (one per GPU)"
    )
    sharding = serializers.ChoiceField(
        choices=["ddp", "fsdp"],
        required=False,
        help_text="with several GPUs: ddp (a whole model each) or fsdp (weights sharded)",
    )
    max_tokens_per_batch = serializers.IntegerField(
        required=False, min_value=64, max_value=10_000_000, help_text="padded tokens per device"
    )
    # A train option (rewards.ml's TrainConfig); the pairs carry the judgements' strengths.
    margin_per_strength = serializers.FloatField(
        required=False,
        min_value=0.0,
        max_value=10.0,
        help_text="reward margin per strength point (1-3) in the loss; 0 (default) disables it",
    )
    # A snapshot option: which votes the pairs are made of (rewards.worker.snapshot).
    criterion = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=40,
        help_text="train on this criterion's votes instead of the overall preference",
    )

    def validate_criterion(self, value: str) -> str:
        """One of the project's criteria (the serializer's `project` context); blank: overall."""
        project = self.context.get("project")
        if value and project is not None:
            try:
                check_criterion(project, value)
            except UnknownCriterion as exc:
                raise serializers.ValidationError(str(exc)) from None
        return value


class RetrainOptionsSerializer(RunOptionFields):
    """The run options as one object (`options` of a retrain request); unknown keys refused."""

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if isinstance(data, Mapping):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                known = ", ".join(self.fields)
                raise serializers.ValidationError(
                    {key: [f"not a run option (known: {known})"] for key in unknown}
                )
        return dict(super().to_internal_value(data))


class RetrainInputSerializer(RunOptionFields):
    """A retrain request (models page and API): the options at the top level or in `options`."""

    # Mode.choices keeps the schema's one mode enum; validate_mode refuses what cannot train.
    mode = serializers.ChoiceField(
        choices=Mode.choices, default=Mode.HEADS, help_text="heads or finetune"
    )
    options = RetrainOptionsSerializer(
        required=False, help_text="the same run options as one object, instead of at the top"
    )
    confirm = serializers.BooleanField(
        default=False, help_text="start even when the estimate is longer than the site's limit"
    )

    def validate_mode(self, value: str) -> str:
        if value == Mode.EXTERNAL:
            raise serializers.ValidationError(
                "external versions are registered and uploaded (external-models), not trained"
            )
        return value

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        """One flat set of options: `options` merged into the top level, a clash refused."""
        nested = data.pop("options", {})
        clashes = sorted(k for k in nested if k in data and data[k] != nested[k])
        if clashes:
            message = "given at the top level and in options with different values"
            raise serializers.ValidationError({k: [message] for k in clashes})
        merged = {**data, **nested}
        if not merged.get("criterion"):  # blank: the overall preference, as with none
            merged.pop("criterion", None)
        return merged


class SliceFreshnessSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=StatisticStatus.choices)
    computed_at = serializers.DateTimeField(allow_null=True)
    votes_reflected = serializers.IntegerField(allow_null=True)
    votes_now = serializers.IntegerField(allow_null=True)
    updating = serializers.BooleanField()


class ModelsOverviewSerializer(serializers.Serializer):
    active = RewardModelSerializer(allow_null=True)
    models = RewardModelSerializer(many=True)
    runs = TrainingRunSerializer(many=True)
    embedding = EmbeddingRunSerializer(allow_null=True)
    slice_freshness = SliceFreshnessSerializer(
        allow_null=True,
        help_text="how fresh the versions' slice_estimate are (a worker computes them); null "
        "without versions",
    )


class ScoreInputSerializer(serializers.Serializer):
    prompt = serializers.JSONField(help_text='a string or a list of {"role", "content"} messages')
    responses = serializers.ListField(
        child=serializers.CharField(allow_blank=True), min_length=1, max_length=64
    )

    def validate_prompt(self, value: object) -> object:

        try:
            return parse_prompt(value, "prompt")
        except FieldError as exc:
            raise serializers.ValidationError(exc.message) from None


class RewardSerializer(serializers.Serializer):
    reward = serializers.FloatField(help_text="raw reward (ensemble mean)")
    z = serializers.FloatField(
        allow_null=True, help_text="(reward - mean) / std over the project's responses"
    )
    percentile = serializers.FloatField(
        allow_null=True, help_text="share of the project's responses scored lower, in %"
    )
    std = serializers.FloatField(help_text="ensemble spread")


class ScoreOutputSerializer(serializers.Serializer):
    model = serializers.IntegerField(help_text="version that scored")
    rewards = RewardSerializer(many=True)


class RewardsExportQuerySerializer(serializers.Serializer):
    file = serializers.ChoiceField(choices=["jsonl", "parquet"], default="jsonl")
    version = serializers.IntegerField(
        required=False, min_value=1, help_text="a version number; default the served one"
    )


class ExternalModelInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)


class ExternalScoresInputSerializer(serializers.Serializer):
    scores = serializers.ListField(
        child=serializers.JSONField(),
        required=False,
        help_text='[{"response_id" | "prompt" + "text", "reward", "members"?}, ...]',
    )
    file = serializers.FileField(required=False, help_text="the same rows as a JSONL upload")

    def validate(self, data: dict) -> dict:
        if ("scores" in data) == ("file" in data):
            raise serializers.ValidationError('give either "scores" (JSON) or "file" (JSONL)')
        return data


class ExternalScoresOutputSerializer(serializers.Serializer):
    scored = serializers.IntegerField(help_text="responses scored by this upload")
    model = RewardModelSerializer()
