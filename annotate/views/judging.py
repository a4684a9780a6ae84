"""The annotation page; it leases and judges through the judging API (static/js/annotate.js)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from annotate.judging.gold import paused_reason
from annotate.judging.shapes import is_plain
from annotate.models import Comparison, Pair, PairStatus
from annotate.permissions import access_project, signed_in_user
from annotate.rendering import render_markdown


@login_required
@require_GET
def annotate_page(request: HttpRequest, slug: str) -> HttpResponse:
    """The comparison page; pairs are fetched from the judging API by static/js/annotate.js."""
    project = access_project(request.user, slug)
    options = {
        "slug": project.slug,
        "allow_tie": project.allow_tie,
        "allow_both_bad": project.allow_both_bad,
        "ask_strength": project.ask_strength,
        "ask_rationale": project.ask_rationale,
        "comparison": project.comparison,
        # What a pairwise judgement asks beside the choice (annotate/judging/shapes.py).
        "criteria": project.criteria,
        "rating_scale": project.rating_scale,
        "edits": project.edits,
        # With edits "required", only a better response rated below this needs one.
        "edit_below": project.edit_below,
        "rich": project.comparison == Comparison.PAIRWISE and not is_plain(project),
    }
    context = {
        "project": project,
        "options": options,
        "guidelines_html": render_markdown(project.guidelines),
        "finished": not Pair.objects.filter(project=project, status=PairStatus.PENDING).exists(),
        "paused_reason": paused_reason(signed_in_user(request), project),
    }
    return render(request, "annotate/annotate.html", context)
