"""Endpoint and generation input and output (page and API parse through the same serializers).

No output serializer has a key field: a stored key is shown only as `key_source`.
"""

from __future__ import annotations

import math
from typing import Any

from rest_framework import serializers

from config.outbound import OutboundRefused, check_outbound_url
from generation.calls import PARAM_TYPES
from generation.models import (
    MAX_CONCURRENCY,
    MAX_REQUESTS_PER_MINUTE,
    MAX_SAMPLES_PER_PROMPT,
    MAX_TIMEOUT_S,
    MIN_TIMEOUT_S,
    GenerationJob,
    ModelEndpoint,
    Pairing,
)

# Bounds of the sampling parameters, as the OpenAI API documents them.
PARAM_BOUNDS: dict[str, tuple[float, float]] = {
    "temperature": (0.0, 2.0),
    "top_p": (0.0, 1.0),
    "max_tokens": (1, 1_000_000),
    "n": (1, MAX_SAMPLES_PER_PROMPT),
    "seed": (-(2**63), 2**63 - 1),
}
MAX_STOPS = 4


def check_params(value: Any) -> dict[str, Any]:
    """Sampling parameters: known names, right types, within bounds (ValidationError says which)."""
    if not isinstance(value, dict):
        raise serializers.ValidationError("must be an object")
    unknown = sorted(set(value) - set(PARAM_TYPES))
    if unknown:
        raise serializers.ValidationError(
            f"unknown parameter {', '.join(unknown)}; use {', '.join(PARAM_TYPES)}"
        )
    for name, item in value.items():
        if item is None:
            continue
        if isinstance(item, bool) or not isinstance(item, PARAM_TYPES[name]):
            raise serializers.ValidationError(f"{name} has the wrong type")
        if name in PARAM_BOUNDS:
            low, high = PARAM_BOUNDS[name]
            if not (math.isfinite(item) and low <= item <= high):
                raise serializers.ValidationError(f"{name} must be between {low:g} and {high:g}")
        if name == "stop":
            stops = [item] if isinstance(item, str) else item
            if len(stops) > MAX_STOPS or not all(isinstance(s, str) and s for s in stops):
                raise serializers.ValidationError(f"stop must be up to {MAX_STOPS} strings")
    return {k: v for k, v in value.items() if v is not None}


class EndpointInputSerializer(serializers.Serializer):
    """A new endpoint, or (partial) the fields to change. `api_key` is write-only."""

    name = serializers.RegexField(
        r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$",
        max_length=100,
        help_text="how its responses are named (letters, digits, . _ : / -)",
    )
    base_url = serializers.CharField(
        max_length=500, help_text="the OpenAI-compatible base URL, e.g. http://vllm:8000/v1"
    )
    model = serializers.CharField(max_length=200, help_text="the model id the server knows")
    api_key = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=500,
        write_only=True,
        help_text="stored encrypted, never shown again; blank removes it",
    )
    api_key_env = serializers.RegexField(
        r"^[A-Za-z_][A-Za-z0-9_]*$",
        required=False,
        allow_blank=True,
        max_length=100,
        help_text="or: the environment variable of the workers that holds the key",
    )
    params = serializers.JSONField(required=False, help_text="temperature, top_p, max_tokens...")
    concurrency = serializers.IntegerField(required=False, min_value=1, max_value=MAX_CONCURRENCY)
    requests_per_minute = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_REQUESTS_PER_MINUTE
    )
    timeout_s = serializers.FloatField(
        required=False, min_value=MIN_TIMEOUT_S, max_value=MAX_TIMEOUT_S
    )

    def validate_base_url(self, value: str) -> str:
        try:
            check_outbound_url(value, resolve=False)
        except OutboundRefused as refused:
            raise serializers.ValidationError(str(refused)) from None
        return value.strip().rstrip("/")

    def validate_params(self, value: Any) -> dict[str, Any]:
        return check_params(value)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("api_key") and attrs.get("api_key_env"):
            raise serializers.ValidationError(
                {"api_key_env": "give either api_key or api_key_env, not both"}
            )
        return attrs


class EndpointSerializer(serializers.ModelSerializer):
    """An endpoint as listed: where its key comes from, never the key."""

    key_source = serializers.SerializerMethodField()

    class Meta:
        model = ModelEndpoint
        fields = [
            "id",
            "name",
            "base_url",
            "model",
            "key_source",
            "api_key_env",
            "params",
            "concurrency",
            "requests_per_minute",
            "timeout_s",
            "created_at",
        ]
        read_only_fields = fields

    def get_key_source(self, obj: ModelEndpoint) -> str:
        """`stored` (encrypted here), `env` (a worker's environment variable) or `none`."""
        if obj.api_key_encrypted:
            return "stored"
        return "env" if obj.api_key_env else "none"


class GenerationInputSerializer(serializers.Serializer):
    endpoints = serializers.ListField(
        child=serializers.CharField(max_length=100), allow_empty=False, help_text="endpoint names"
    )
    samples = serializers.IntegerField(
        min_value=1, max_value=MAX_SAMPLES_PER_PROMPT, help_text="samples per prompt and endpoint"
    )
    params = serializers.JSONField(required=False, help_text="over the endpoints' defaults")
    pairing = serializers.ChoiceField(choices=Pairing.choices, default=Pairing.ALL)
    reference = serializers.CharField(
        required=False, allow_blank=True, max_length=100, help_text="the reference endpoint"
    )
    pairs_per_prompt = serializers.IntegerField(
        required=False, default=1, min_value=1, max_value=1000, help_text="k of random pairing"
    )

    def validate_params(self, value: Any) -> dict[str, Any]:
        return check_params(value)


class GenerationJobSerializer(serializers.ModelSerializer):
    endpoints = serializers.SerializerMethodField()
    failures = serializers.SerializerMethodField()

    class Meta:
        model = GenerationJob
        fields = [
            "id",
            "status",
            "endpoints",
            "samples_per_prompt",
            "params",
            "pairing",
            "pairs_per_prompt",
            "total",
            "done",
            "failed",
            "pairs_created",
            "failures",
            "error",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields

    def get_endpoints(self, obj: GenerationJob) -> list[str]:
        # A list prefetches them (LIST_PREFETCH); one job reads them with one query.
        prefetched = "job_endpoints" in getattr(obj, "_prefetched_objects_cache", {})
        links = (
            obj.job_endpoints.all() if prefetched else obj.job_endpoints.select_related("endpoint")
        )
        return [je.endpoint.name for je in links]

    def get_failures(self, obj: GenerationJob) -> list[dict[str, Any]]:
        """The failed samples (first 100): prompt id, endpoint, index, attempts, error."""
        from generation.jobs import failures

        return failures(obj) if obj.failed else []


# What a list of jobs prefetches, so a page costs the same statements however many it holds.
LIST_PREFETCH = ("job_endpoints__endpoint",)


class GenerationJobRowSerializer(GenerationJobSerializer):
    """A job in the list: its failed samples are on the job's own URL (one query per job)."""

    class Meta(GenerationJobSerializer.Meta):
        fields = [f for f in GenerationJobSerializer.Meta.fields if f != "failures"]
        read_only_fields = fields
