"""Normalized rewards: (r - mean) / std and the percentile over the project's responses.

The reward normalization step of RLHF pipelines: raw rewards of two versions live on different
scales, so best-of-n clients compare z-scores or percentiles. Each version keeps the mean and
standard deviation of its rewards over the project's responses (`RewardModel.reward_stats`).
Reads only stored scores: no torch, so the export streams from a web process.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence
from typing import Any

import pyarrow as pa
from django.db.models import Avg, Count, StdDev
from django.http import StreamingHttpResponse

from annotate.formats import jsonl_chunks, parquet_chunks
from annotate.models import Project
from annotate.paging import keyset_pages
from rewards.models import ResponseScore, RewardModel

EXPORT_SCHEMA = pa.schema(
    [
        ("response_id", pa.int64()),
        ("prompt_id", pa.int64()),
        ("prompt", pa.string()),
        ("text", pa.string()),
        ("reward", pa.float64()),
        ("z", pa.float64()),
        ("percentile", pa.float64()),
        ("model_version", pa.int64()),
    ]
)


def record_reward_stats(model: RewardModel) -> dict[str, Any]:
    """Store and return the mean, population std and count of the version's stored rewards."""
    row = ResponseScore.objects.filter(model=model).aggregate(
        reward_mean=Avg("mean"), reward_std=StdDev("mean"), n=Count("id")
    )
    stats = {"mean": row["reward_mean"], "std": row["reward_std"], "n": row["n"]}
    RewardModel.objects.filter(pk=model.pk).update(reward_stats=stats)
    model.reward_stats = stats
    return stats


def z_score(reward: float, stats: dict[str, Any]) -> float | None:
    """(r - mean) / std; 0 when every response scored the same, None before any was scored."""
    if not stats.get("n"):
        return None
    std = stats.get("std") or 0.0
    return 0.0 if std == 0 else (reward - stats["mean"]) / std


def project_rewards(model: RewardModel) -> list[float]:
    """The version's rewards of the project's responses, sorted (for percentiles)."""
    return sorted(ResponseScore.objects.filter(model=model).values_list("mean", flat=True))


def percentile(reward: float, ranked: Sequence[float]) -> float | None:
    """Share of the project's responses scored below (ties count half), in percent."""
    if not ranked:
        return None
    below = bisect.bisect_left(ranked, reward)
    equal = bisect.bisect_right(ranked, reward) - below
    return round(100.0 * (below + equal / 2) / len(ranked), 2)


def normalize(model: RewardModel, rewards: Sequence[float]) -> list[dict[str, float | None]]:
    """`reward`, `z` and `percentile` for each raw reward under the version's statistics."""
    stats = model.reward_stats or record_reward_stats(model)
    ranked = project_rewards(model)
    return [
        {"reward": float(r), "z": z_score(r, stats), "percentile": percentile(r, ranked)}
        for r in rewards
    ]


def iter_normalized_rows(model: RewardModel) -> Iterator[dict[str, Any]]:
    """One export row per scored response of the project, with its z and percentile."""
    stats = model.reward_stats or record_reward_stats(model)
    ranked = project_rewards(model)
    scores = ResponseScore.objects.filter(model=model).values_list(
        "pk",
        "response_id",
        "response__prompt_id",
        "response__prompt__messages",
        "response__text",
        "mean",
    )
    for page in keyset_pages(scores):
        for _, response_id, prompt_id, messages, text, reward in page:
            yield {
                "response_id": response_id,
                "prompt_id": prompt_id,
                # The last turn, as in the TRL export's string form; prompt_id joins the rest.
                "prompt": messages[-1]["content"] if messages else "",
                "text": text,
                "reward": reward,
                "z": z_score(reward, stats),
                "percentile": percentile(reward, ranked),
                "model_version": model.version,
            }


class NoSuchVersion(Exception):
    """The project has no such version, or serves none."""


def export_project_rewards(
    project: Project, *, file: str, version: int | None = None
) -> StreamingHttpResponse:
    """The export of `version`, or of the served version; raises NoSuchVersion."""
    if version:
        model = RewardModel.objects.filter(project=project, version=version).first()
    else:
        model = RewardModel.objects.served(project)
    if model is None:
        raise NoSuchVersion("no such version" if version else "this project serves no model yet")
    return rewards_export(model, file=file)


def rewards_export(model: RewardModel, *, file: str) -> StreamingHttpResponse:
    """A streamed download of the version's normalized rewards per response."""
    rows = iter_normalized_rows(model)
    if file == "parquet":
        chunks, content_type = parquet_chunks(rows, EXPORT_SCHEMA), "application/vnd.apache.parquet"
    else:
        chunks, content_type = jsonl_chunks(rows), "application/x-ndjson"
    response = StreamingHttpResponse(chunks, content_type=content_type)
    name = f"{model.project.slug}-rewards-v{model.version}.{file}"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
