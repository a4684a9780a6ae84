"""The data browser and the pair page, with review: invalidate, restore, gold label."""

from __future__ import annotations

import difflib
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from annotate.exporting.datasets import pseudonym
from annotate.models import Judgement, Pair, Project, RankedResponse
from annotate.permissions import access_project, signed_in_user
from annotate.rendering import render_markdown
from annotate.review.actions import invalidate_judgement, restore_judgement, set_gold_label
from annotate.review.browsing import browse_pairs, extra_sorts, model_names, pair_judgements
from annotate.signals import PairDetail, pair_details
from annotate.views.forms import GoldForm, InvalidateForm, PairFilterForm


def _members(project: Project) -> list[tuple[int, str]]:
    """Everyone who may have judged here, for the "judged by" filter."""
    memberships = project.memberships.select_related("user").order_by("user__username")
    return [(m.user_id, m.user.get_username()) for m in memberships]


@login_required
@require_GET
def pair_list(request: HttpRequest, slug: str) -> HttpResponse:
    project = access_project(request.user, slug, admin=True)
    extra = extra_sorts(project)
    form = PairFilterForm(
        request.GET,
        annotators=_members(project),
        extra_sorts=[(sort.name, sort.label) for sort in extra.values()],
    )
    if not form.is_valid():
        context = {"project": project, "form": form, "page": None, "models": []}
        return render(request, "annotate/pairs.html", context, status=400)
    page = browse_pairs(project, form.pair_filter(), after=form.cursor(), extra=extra)
    next_query = None
    if page.next_after is not None:
        value, pk = page.next_after
        query = {k: v for k, v in request.GET.items() if k != "after" and v}
        next_query = urlencode({**query, "after": f"{value!r}~{pk}"})
    context = {
        "project": project,
        "form": form,
        "page": page,
        "next_query": next_query,
        "models": model_names(project),
        "target": project.judgements_per_pair,
    }
    return render(request, "annotate/pairs.html", context)


@login_required
@require_GET
def pair_detail(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    project = access_project(request.user, slug, admin=True)
    return _pair_page(request, project, pk)


def _pair_page(
    request: HttpRequest,
    project: Project,
    pk: int,
    *,
    failed: tuple[int, InvalidateForm] | None = None,
    status: int = 200,
) -> HttpResponse:
    """The pair page; `failed` is (judgement id, its invalid form) to show with its errors."""
    pair = get_object_or_404(
        Pair.objects.select_related("prompt", "response_a", "response_b"), project=project, pk=pk
    )
    judgements = [
        {
            "judgement": j,
            "annotator": pseudonym(project, j.annotator_id),
            "form": failed[1] if failed and failed[0] == j.pk else InvalidateForm(auto_id=False),
            "extras": _extras(j),
        }
        for j in pair_judgements(pair)
    ]
    details = [d for _, d in pair_details.send(sender=Pair, pair=pair) if isinstance(d, PairDetail)]
    context = {
        "project": project,
        "pair": pair,
        "prompt": [{**m, "html": render_markdown(m["content"])} for m in pair.prompt.messages],
        "a_html": render_markdown(pair.response_a.text),
        "b_html": render_markdown(pair.response_b.text),
        "judgements": judgements,
        "ranked": [
            {"id": r.response_id, "text": r.response.text, "model": r.response.model_name}
            for r in RankedResponse.objects.filter(pair=pair).select_related("response")
        ],
        "details": details,
        "gold_form": GoldForm(initial={"label": pair.gold_label}),
    }
    return render(request, "annotate/pair_detail.html", context, status=status)


def _extras(judgement: Judgement) -> list[tuple[str, str]]:
    """What the judgement holds beyond its choice, as (label, text) for the page: the ranking
    (`#12 > #7 = #9`), each criterion's vote, the ratings and the edit as a diff."""
    rows: list[tuple[str, str]] = []
    if judgement.ranking:
        rows.append(("ranking", _ranking_text(judgement.ranking)))
    for name, vote in (judgement.criteria or {}).items():
        rows.append((name, _ranking_text(vote) if isinstance(vote, list) else str(vote)))
    if judgement.ratings:
        rows.append(("ratings", ", ".join(f"#{k}: {v}" for k, v in judgement.ratings.items())))
    edit = judgement.edit
    if edit is not None:
        before = edit.parent.text if edit.parent is not None else ""
        diff = difflib.unified_diff(
            before.splitlines(), edit.text.splitlines(), "response", "edit", lineterm=""
        )
        rows.append((f"edit of #{edit.parent_id} (as #{edit.pk})", "\n".join(diff)))
    return rows


def _ranking_text(ranking: list[list[int]]) -> str:
    return " > ".join(" = ".join(f"#{rid}" for rid in group) for group in ranking)


def _judgement(project: Project, pk: int, judgement_id: int) -> Judgement:
    return get_object_or_404(Judgement, pk=judgement_id, pair_id=pk, pair__project=project)


@login_required
@require_POST
def judgement_invalidate(
    request: HttpRequest, slug: str, pk: int, judgement_id: int
) -> HttpResponse:
    project = access_project(request.user, slug, admin=True)
    judgement = _judgement(project, pk, judgement_id)
    form = InvalidateForm(request.POST, auto_id=False)
    if not form.is_valid():
        return _pair_page(request, project, pk, failed=(judgement.pk, form), status=400)
    invalidate_judgement(judgement, by=signed_in_user(request), reason=form.cleaned_data["reason"])
    messages.success(request, f"Judgement {judgement.pk} is invalid; it no longer counts.")
    return redirect("pair-detail", slug=slug, pk=pk)


@login_required
@require_POST
def judgement_restore(request: HttpRequest, slug: str, pk: int, judgement_id: int) -> HttpResponse:
    project = access_project(request.user, slug, admin=True)
    judgement = _judgement(project, pk, judgement_id)
    restore_judgement(judgement, by=signed_in_user(request))
    messages.success(request, f"Judgement {judgement.pk} counts again.")
    return redirect("pair-detail", slug=slug, pk=pk)


@login_required
@require_POST
def pair_gold(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    project = access_project(request.user, slug, admin=True)
    pair = get_object_or_404(Pair, project=project, pk=pk)
    form = GoldForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a, b, tie, both bad or no gold label.")
        return redirect("pair-detail", slug=slug, pk=pk)
    set_gold_label(pair, label=form.cleaned_data["label"])
    label = pair.get_gold_label_display() if pair.gold_label else "cleared"
    messages.success(request, f"Gold label {label}.")
    return redirect("pair-detail", slug=slug, pk=pk)
