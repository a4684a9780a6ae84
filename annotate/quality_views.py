"""The quality page (project admins): agreement, overlap savings, annotators with flags."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from annotate.gold import pause_annotator, reinstate_annotator
from annotate.permissions import access_project
from annotate.quality_report import quality_report

# The left-rate chart: one row per annotator, x from 0 to 100 (percent).
ROW_HEIGHT = 22


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
    """Geometry of the SVG chart: each annotator's left rate and 95% interval, in percent."""
    rows = []
    for index, annotator in enumerate(a for a in report["annotators"] if a["left"]["n"]):
        low, high = annotator["left"]["interval"]
        rows.append(
            {
                "name": annotator["name"],
                "y": index * ROW_HEIGHT + ROW_HEIGHT / 2,
                "rate": round(annotator["left"]["rate"] * 100, 1),
                "low": round(low * 100, 1),
                "high": round(high * 100, 1),
                "flagged": bool(annotator["flags"]),
            }
        )
    return {"rows": rows, "height": max(len(rows), 1) * ROW_HEIGHT}
