"""The data browser and the pair page, with review: invalidate and restore a judgement or one
part of it (a criterion's vote, an edit), gold label."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from annotate.exporting.datasets import pseudonym
from annotate.models import (
    Choice,
    Comparison,
    Edits,
    Judgement,
    Pair,
    Project,
    RankedResponse,
    Response,
    ReviewEvent,
)
from annotate.permissions import access_project, signed_in_user
from annotate.rendering import render_markdown
from annotate.review.actions import (
    ReviewError,
    invalidate_judgement,
    restore_judgement,
    set_gold_label,
)
from annotate.review.browsing import browse_pairs, extra_sorts, model_names, pair_judgements
from annotate.review.parts import CRITERION, EDIT, WHOLE, criterion_part
from annotate.review.text_index import UNINDEXED_SHOWN, unindexed_count
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
    wanted = form.pair_filter()
    page = browse_pairs(project, wanted, after=form.cursor(), extra=extra)
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
        "ranked": project.comparison == Comparison.RANKING,
        "edits": project.edits != Edits.OFF,
        # Texts search must still parse itself (the notice says matches there come slower).
        "unindexed": unindexed_count(project, cap=UNINDEXED_SHOWN) if wanted.text else 0,
        "unindexed_shown": UNINDEXED_SHOWN,
    }
    return render(request, "annotate/pairs.html", context)


@login_required
@require_GET
def pair_detail(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    project = access_project(request.user, slug, admin=True)
    return _pair_page(request, project, pk)


# A failed review form to show with its errors: (judgement id, part, the form).
Failed = tuple[int, str, InvalidateForm]


def _pair_page(
    request: HttpRequest,
    project: Project,
    pk: int,
    *,
    failed: Failed | None = None,
    status: int = 200,
) -> HttpResponse:
    """The pair page; `failed` is a review form to show with its errors."""
    pair = get_object_or_404(
        Pair.objects.select_related("prompt", "response_a", "response_b", "rank"),
        project=project,
        pk=pk,
    )
    ranked = list(
        RankedResponse.objects.filter(pair=pair).select_related("response").order_by("position")
    )
    responses = {r.response_id: r.response for r in ranked} or {
        pair.response_a_id: pair.response_a,
        pair.response_b_id: pair.response_b,
    }

    def form_for(judgement: Judgement, part: str) -> InvalidateForm:
        if failed is not None and failed[:2] == (judgement.pk, part):
            return failed[2]
        return InvalidateForm(auto_id=False)

    judgements = [
        {
            "judgement": j,
            "annotator": pseudonym(project, j.annotator_id),
            "form": form_for(j, WHOLE),
            **_shape(j, responses, form_for),
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
            for r in ranked
        ],
        "details": details,
        "gold_form": GoldForm(initial={"label": pair.gold_label}),
    }
    return render(request, "annotate/pair_detail.html", context, status=status)


def _shape(
    judgement: Judgement,
    responses: dict[int, Response],
    form_for: Callable[[Judgement, str], InvalidateForm],
) -> dict[str, Any]:
    """What the judgement holds beyond its choice, for the page: the ranking (its responses in
    order, and as text like `#12 > #7 = #9`), the ratings, and its reviewable parts: each
    criterion's vote and the edit with a line diff against the response it improves."""
    ranking = judgement.ranking or []
    places = [[_listed(rid, responses.get(rid)) for rid in group] for group in ranking]
    invalid = set(judgement.invalid_criteria or ())
    # Each part's latest invalidation, for the reason shown beside it (reviews are prefetched).
    reasons = {
        e.part: e.reason
        for e in judgement.reviews.all()
        if e.action == ReviewEvent.Action.INVALIDATED
    }
    parts: list[dict[str, Any]] = []
    for name, vote in (judgement.criteria or {}).items():
        part = criterion_part(name)
        parts.append(
            {
                "kind": "criterion",
                "label": name,
                "part": part,
                "vote": _ranking_text(vote) if isinstance(vote, list) else _choice_text(vote),
                "valid": name not in invalid,
                "reason": reasons.get(part, ""),
                "form": form_for(judgement, part),
            }
        )
    edit = judgement.edit
    if edit is not None:
        before = edit.parent.text if edit.parent is not None else ""
        parts.append(
            {
                "kind": "edit",
                "label": f"edit of #{edit.parent_id} (as #{edit.pk})",
                "part": EDIT,
                "diff": _diff(before, edit.text),
                "valid": edit.invalidated_at is None,
                "reason": reasons.get(EDIT, ""),
                "form": form_for(judgement, EDIT),
            }
        )
    ratings = [(f"#{rid}", value) for rid, value in (judgement.ratings or {}).items()]
    return {
        "ranking_text": _ranking_text(ranking) if ranking else "",
        "places": places,
        "ratings": ratings,
        "parts": parts,
    }


def _listed(rid: int, response: Response | None) -> dict[str, Any]:
    if response is None:  # not one of the item's responses: the ranking names it only
        return {"id": rid, "model": "", "text": ""}
    return {"id": rid, "model": response.model_name, "text": response.text}


def _choice_text(vote: Any) -> str:
    return str(Choice(vote).label) if vote in Choice.values else str(vote)


def _diff(before: str, after: str) -> list[tuple[str, str]]:
    """A line diff as (kind, line): kind "del", "ins", "same" or "hunk" (the @@ lines)."""
    lines = difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=2)
    kinds = {"-": "del", "+": "ins", " ": "same", "@": "hunk"}
    # The first two lines name the files (--- / +++): the page says what is compared instead.
    return [(kinds.get(line[:1], "same"), line) for line in list(lines)[2:]]


def _ranking_text(ranking: list[list[int]]) -> str:
    return " > ".join(" = ".join(f"#{rid}" for rid in group) for group in ranking)


def _judgement(project: Project, pk: int, judgement_id: int) -> Judgement:
    return get_object_or_404(Judgement, pk=judgement_id, pair_id=pk, pair__project=project)


def _what(judgement: Judgement, part: str) -> str:
    """How a success message names what was reviewed."""
    if part == EDIT:
        return f"The edit of judgement {judgement.pk}"
    if part.startswith(CRITERION):
        return f"The {part.removeprefix(CRITERION)!r} vote of judgement {judgement.pk}"
    return f"Judgement {judgement.pk}"


@login_required
@require_POST
def judgement_invalidate(
    request: HttpRequest, slug: str, pk: int, judgement_id: int
) -> HttpResponse:
    project = access_project(request.user, slug, admin=True)
    judgement = _judgement(project, pk, judgement_id)
    part = request.POST.get("part", WHOLE)
    form = InvalidateForm(request.POST, auto_id=False)
    if form.is_valid():
        try:
            invalidate_judgement(
                judgement, by=signed_in_user(request), reason=form.cleaned_data["reason"], part=part
            )
        except ReviewError as exc:
            # Said at the top: the part named may not be on the page at all.
            messages.error(request, f"{exc.field}: {exc}")
            return _pair_page(request, project, pk, status=400)
        else:
            messages.success(request, f"{_what(judgement, part)} is invalid; it no longer counts.")
            return redirect("pair-detail", slug=slug, pk=pk)
    return _pair_page(request, project, pk, failed=(judgement.pk, part, form), status=400)


@login_required
@require_POST
def judgement_restore(request: HttpRequest, slug: str, pk: int, judgement_id: int) -> HttpResponse:
    project = access_project(request.user, slug, admin=True)
    judgement = _judgement(project, pk, judgement_id)
    part = request.POST.get("part", WHOLE)
    try:
        restore_judgement(judgement, by=signed_in_user(request), part=part)
    except ReviewError as exc:
        messages.error(request, f"{exc.field}: {exc}")
        return _pair_page(request, project, pk, status=400)
    messages.success(request, f"{_what(judgement, part)} counts again.")
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
