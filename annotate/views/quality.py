"""The quality page (project admins): agreement, overlap savings, annotators with flags."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from annotate.api.serializers import PauseInputSerializer
from annotate.judging.gold import pause_annotator, reinstate_annotator
from annotate.permissions import access_project
from annotate.quality.measures import RateJSON
from annotate.quality.report import QualityReport
from annotate.quality.shapes import OVERALL, ShapedQuality
from annotate.statistics import QUALITY, RETRY_AFTER_SECONDS, refresh_kind, serve
from annotate.views.parsing import InvalidInput, parse

# The left-rate chart, in pixels: names on the left, then 0%..100% over PLOT_WIDTH.
ROW_HEIGHT = 24
NAME_WIDTH = 190
PLOT_WIDTH = 400


@login_required
@require_GET
def quality_page(request: HttpRequest, slug: str) -> HttpResponse:
    project = access_project(request.user, slug, admin=True)
    served = serve(project, QUALITY)
    report = cast("QualityReport | None", served.payload)
    context = {
        "project": project,
        "served": served,
        "freshness": served.freshness,
        "refresh_seconds": RETRY_AFTER_SECONDS,
        "report": report,
        "chart": left_rate_chart(report) if report else None,
        "judges": [row for row in report["annotators"] if row["kind"] == "judge"] if report else [],
        "shapes": shaped_tables(report.get("shapes")) if report else None,
    }
    return render(request, "annotate/quality.html", context)


@login_required
@require_POST
def annotator_pause(request: HttpRequest, slug: str, user_id: int, action: str) -> HttpResponse:
    project = access_project(request.user, slug, admin=True)
    try:
        reason = parse(PauseInputSerializer, request.POST)["reason"]
    except InvalidInput as exc:
        messages.error(request, str(exc))
        return redirect("project-quality", slug=slug)
    if action == "pause":
        changed = pause_annotator(project, user_id, reason=reason)
    else:
        changed = reinstate_annotator(project, user_id)
    if not changed:
        messages.error(request, "That annotator is not a member of this project.")
    else:
        refresh_kind(project, QUALITY)  # the report shows who is paused
    return redirect("project-quality", slug=slug)


@dataclass(frozen=True)
class ChartRow:
    name: str
    y: float
    percent: float
    x: float
    low: float
    high: float
    flagged: bool


@dataclass(frozen=True)
class ChartTick:
    x: float
    label: str


@dataclass(frozen=True)
class LeftRateChart:
    """SVG geometry of the left-rate chart, in pixels."""

    rows: list[ChartRow]
    height: int
    axis_y: int
    total_height: int
    width: int
    ticks: list[ChartTick]
    name_x: int
    value_x: int


def left_rate_chart(report: QualityReport) -> LeftRateChart:
    """Geometry of the SVG chart: each annotator's left rate and 95% interval."""

    def x(share: float) -> float:
        return round(NAME_WIDTH + share * PLOT_WIDTH, 1)

    rows: list[ChartRow] = []
    for annotator in report["annotators"]:
        rate, interval = annotator["left"]["rate"], annotator["left"]["interval"]
        if rate is None or interval is None:  # no decisive judgement made here
            continue
        low, high = interval
        rows.append(
            ChartRow(
                name=annotator["name"],
                y=len(rows) * ROW_HEIGHT + ROW_HEIGHT / 2,
                percent=round(rate * 100, 1),
                x=x(rate),
                low=x(low),
                high=x(high),
                flagged=bool(annotator["flags"]),
            )
        )
    height = max(len(rows), 1) * ROW_HEIGHT
    return LeftRateChart(
        rows=rows,
        height=height,
        axis_y=height + 14,
        total_height=height + 20,
        width=NAME_WIDTH + PLOT_WIDTH + 60,
        ticks=[ChartTick(x=x(share), label=f"{share:.0%}") for share in (0, 0.5, 1)],
        name_x=NAME_WIDTH - 8,
        value_x=NAME_WIDTH + PLOT_WIDTH + 8,
    )


@dataclass(frozen=True)
class ReliabilityRow:
    name: str
    cells: list[RateJSON | None]  # in the order of ShapedTables.columns


@dataclass(frozen=True)
class PositionRow:
    position: int
    best: RateJSON
    expected: float
    off: bool  # the expected share lies outside the 95% interval


@dataclass(frozen=True)
class ShapedTables:
    """The `shapes` section as the page's tables read it (templates cannot index by name)."""

    section: ShapedQuality
    ranking: bool
    columns: list[str]
    reliability: list[ReliabilityRow]
    positions: list[PositionRow]


def shaped_tables(section: ShapedQuality | None) -> ShapedTables | None:
    if section is None:
        return None
    columns = [OVERALL, *section["criteria"]]
    positions = []
    for row in section["positions"]:
        interval: Any = row["best"]["interval"]
        off = interval is not None and not interval[0] <= row["expected"] <= interval[1]
        positions.append(PositionRow(row["position"], row["best"], row["expected"], off))
    return ShapedTables(
        section=section,
        ranking=section["comparison"] == "ranking",
        columns=columns,
        reliability=[
            ReliabilityRow(a["name"], [a["criteria"].get(name) for name in columns])
            for a in section["annotators"]
        ],
        positions=positions,
    )
