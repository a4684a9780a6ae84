"""The quality page (project admins): agreement, overlap savings, annotators with flags."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from annotate.judging.gold import pause_annotator, reinstate_annotator
from annotate.permissions import access_project
from annotate.quality.report import quality_report

# The left-rate chart, in pixels: names on the left, then 0%..100% over PLOT_WIDTH.
ROW_HEIGHT = 24
NAME_WIDTH = 190
PLOT_WIDTH = 400


@login_required
@require_GET
def quality_page(request: HttpRequest, slug: str) -> HttpResponse:
    project = access_project(request.user, slug, admin=True)
    report = quality_report(project)
    context = {"project": project, "report": report, "chart": left_rate_chart(report)}
    return render(request, "annotate/quality.html", context)


@login_required
@require_POST
def annotator_pause(request: HttpRequest, slug: str, user_id: int, action: str) -> HttpResponse:
    project = access_project(request.user, slug, admin=True)
    if action == "pause":
        changed = pause_annotator(project, user_id, reason=request.POST.get("reason", "")[:300])
    else:
        changed = reinstate_annotator(project, user_id)
    if not changed:
        messages.error(request, "That annotator is not a member of this project.")
    return redirect("project-quality", slug=slug)


def left_rate_chart(report: dict[str, Any]) -> dict[str, Any]:
    """Geometry of the SVG chart: each annotator's left rate and 95% interval."""

    def x(share: float) -> float:
        return round(NAME_WIDTH + share * PLOT_WIDTH, 1)

    rows = []
    for index, annotator in enumerate(a for a in report["annotators"] if a["left"]["n"]):
        low, high = annotator["left"]["interval"]
        rows.append(
            {
                "name": annotator["name"],
                "y": index * ROW_HEIGHT + ROW_HEIGHT / 2,
                "percent": round(annotator["left"]["rate"] * 100, 1),
                "x": x(annotator["left"]["rate"]),
                "low": x(low),
                "high": x(high),
                "flagged": bool(annotator["flags"]),
            }
        )
    height = max(len(rows), 1) * ROW_HEIGHT
    return {
        "rows": rows,
        "height": height,
        "axis_y": height + 14,
        "total_height": height + 20,
        "width": NAME_WIDTH + PLOT_WIDTH + 60,
        "ticks": [{"x": x(share), "label": f"{share:.0%}"} for share in (0, 0.5, 1)],
        "name_x": NAME_WIDTH - 8,
        "value_x": NAME_WIDTH + PLOT_WIDTH + 8,
    }
