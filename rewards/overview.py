"""What the models dashboard shows: versions, runs, embedding status, the learning curve."""

from __future__ import annotations

from dataclasses import dataclass, field

from annotate.models import Project
from annotate.statistics import Freshness, serve
from rewards.models import EmbeddingRun, RewardModel, TrainingRun
from rewards.random_slice import RANDOM_SLICE, estimates_from_json


@dataclass(frozen=True)
class ModelsOverview:
    """The served version, every version (newest first), the latest runs and embedding run."""

    active: RewardModel | None
    # The latest SLICE_VERSIONS carry a `slice_estimate` (SliceEstimate), the others None.
    models: list[RewardModel]
    runs: list[TrainingRun]
    embedding: EmbeddingRun | None
    # How fresh the stored random-slice tables are (a worker computes them).
    slice_freshness: Freshness | None = None


def models_overview(project: Project) -> ModelsOverview:
    """The page's and the API's overview; the random-slice tables as a worker last stored them."""
    models = list(RewardModel.objects.filter(project=project).order_by("-version"))
    served = serve(project, RANDOM_SLICE) if models else None
    estimates = estimates_from_json(served.payload or {}) if served else {}
    for model in models:
        # Read by RewardModelSerializer and the page beside the model's own fields.
        model.slice_estimate = estimates.get(model.pk)
    return ModelsOverview(
        active=next((m for m in models if m.is_active), None),
        models=models,
        runs=list(TrainingRun.objects.filter(project=project).select_related("model")[:10]),
        embedding=EmbeddingRun.objects.filter(project=project).first(),
        slice_freshness=served.freshness if served else None,
    )


@dataclass(frozen=True)
class CurvePoint:
    x: float
    y: float
    judgements: int
    accuracy: float
    version: int


@dataclass(frozen=True)
class CurveTick:
    y: float
    label: str


@dataclass(frozen=True)
class LearningCurve:
    """SVG geometry of the learning curve, in pixels; no points before a version has metrics."""

    points: list[CurvePoint]
    width: int
    height: int
    polyline: str = ""
    ticks: list[CurveTick] = field(default_factory=list)
    max_x: int = 0
    pad: int = 0


def learning_curve(
    models: list[RewardModel], *, width: int = 560, height: int = 220
) -> LearningCurve:
    """SVG coordinates of validation accuracy against judgements, one point per version."""
    points = sorted((m.judgements, m.accuracy, m.version) for m in models if m.accuracy is not None)
    pad = 36
    if not points:
        return LearningCurve(points=[], width=width, height=height)
    max_x = max(p[0] for p in points) or 1
    low = min(0.4, min(p[1] for p in points))

    def place(x: float, y: float) -> tuple[float, float]:
        px = pad + (width - 2 * pad) * x / max_x
        py = height - pad - (height - 2 * pad) * (y - low) / (1 - low)
        return round(px, 1), round(py, 1)

    placed = [
        CurvePoint(x=place(j, a)[0], y=place(j, a)[1], judgements=j, accuracy=a, version=v)
        for j, a, v in points
    ]
    ticks = [CurveTick(y=place(0, t)[1], label=f"{t:.0%}") for t in (low, (low + 1) / 2, 1.0)]
    return LearningCurve(
        points=placed,
        polyline=" ".join(f"{p.x},{p.y}" for p in placed),
        ticks=ticks,
        width=width,
        height=height,
        max_x=max_x,
        pad=pad,
    )
