"""The data browser and review (project admins): pairs with the browser's filters and sorts,
a pair with its judgements, invalidate and restore, gold labels (page twin: views/review.py)."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from annotate.api.paging import keyset_answer, keyset_schema
from annotate.api.serializers import (
    GoldInputSerializer,
    InvalidateInputSerializer,
    JudgementSerializer,
    PairDetailSerializer,
    PairFilterSerializer,
    PairRowSerializer,
)
from annotate.models import Judgement, Pair, Project
from annotate.permissions import IsProjectAdmin, ProjectAPIView, signed_in_user
from annotate.review.actions import (
    ReviewError,
    invalidate_judgement,
    restore_judgement,
    set_gold_label,
)
from annotate.review.browsing import SORTS, browse_pairs, extra_sorts, pair_judgements
from annotate.signals import PairDetail, pair_details

ADMIN_ONLY = [IsAuthenticated & IsProjectAdmin]


class PairListView(ProjectAPIView):
    """The project's pairs, filtered and sorted as in the data browser, 50 a page."""

    permission_classes = ADMIN_ONLY

    @extend_schema(
        operation_id="projects_pairs_list",
        parameters=[PairFilterSerializer],
        responses=keyset_schema("PairPage", PairRowSerializer),
    )
    def get(self, request: Request, slug: str) -> Response:
        project = self.get_object()
        extra = extra_sorts(project)
        context = {
            "annotators": set(project.memberships.values_list("user_id", flat=True)),
            "sorts": [*SORTS, *extra],
        }
        query = PairFilterSerializer(data=request.query_params, context=context)
        query.is_valid(raise_exception=True)
        page = browse_pairs(project, query.pair_filter(), after=query.cursor(), extra=extra)
        rows = PairRowSerializer(page.rows, many=True, context={"project": project}).data
        return keyset_answer(request, page, rows)


def pair_answer(project: Project, pair: Pair) -> dict[str, Any]:
    """The pair page's facts as JSON: texts, judgements and what other apps know of it."""
    details = [d for _, d in pair_details.send(sender=Pair, pair=pair) if isinstance(d, PairDetail)]
    context = {"project": project, "judgements": pair_judgements(pair), "details": details}
    return dict(PairDetailSerializer(pair, context=context).data)


def _pair(project: Project, pk: int) -> Pair:
    pairs = Pair.objects.select_related("prompt", "response_a", "response_b")
    return get_object_or_404(pairs, project=project, pk=pk)


class PairView(ProjectAPIView):
    """One pair with its texts and every judgement, invalid ones included."""

    permission_classes = ADMIN_ONLY

    @extend_schema(responses=PairDetailSerializer)
    def get(self, request: Request, slug: str, pk: int) -> Response:
        project = self.get_object()
        return Response(pair_answer(project, _pair(project, pk)))


class PairGoldView(ProjectAPIView):
    """Set the pair's gold label (it becomes a hidden check question), or clear it."""

    permission_classes = ADMIN_ONLY

    @extend_schema(
        request=GoldInputSerializer,
        responses=PairDetailSerializer,
        examples=[OpenApiExample("Response a is right", value={"label": "a"}, request_only=True)],
    )
    def put(self, request: Request, slug: str, pk: int) -> Response:
        project = self.get_object()
        pair = _pair(project, pk)
        data = GoldInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        set_gold_label(pair, label=data.validated_data["label"])
        return Response(pair_answer(project, pair))

    @extend_schema(responses=PairDetailSerializer)
    def delete(self, request: Request, slug: str, pk: int) -> Response:
        project = self.get_object()
        pair = set_gold_label(_pair(project, pk), label="")
        return Response(pair_answer(project, pair))


def _judgement(project: Project, pk: int, judgement_id: int) -> Judgement:
    return get_object_or_404(Judgement, pk=judgement_id, pair_id=pk, pair__project=project)


def _judgement_answer(project: Project, judgement: Judgement) -> Response:
    judgement = (
        Judgement.objects.select_related("invalidated_by")
        .prefetch_related("reviews__by")
        .get(pk=judgement.pk)
    )
    return Response(JudgementSerializer(judgement, context={"project": project}).data)


class JudgementInvalidateView(ProjectAPIView):
    """Mark a judgement invalid with a reason: it no longer counts anywhere."""

    permission_classes = ADMIN_ONLY

    @extend_schema(
        request=InvalidateInputSerializer,
        responses=JudgementSerializer,
        examples=[
            OpenApiExample(
                "Invalidate",
                value={"reason": "answered in two seconds without reading"},
                request_only=True,
            )
        ],
    )
    def post(self, request: Request, slug: str, pk: int, judgement_id: int) -> Response:
        project = self.get_object()
        judgement = _judgement(project, pk, judgement_id)
        data = InvalidateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        by = signed_in_user(request)
        try:
            judgement = invalidate_judgement(judgement, by=by, **data.validated_data)
        except ReviewError as exc:
            return Response({"reason": [str(exc)]}, status=status.HTTP_400_BAD_REQUEST)
        return _judgement_answer(project, judgement)


class JudgementRestoreView(ProjectAPIView):
    """Make an invalidated judgement count again."""

    permission_classes = ADMIN_ONLY

    @extend_schema(request=None, responses=JudgementSerializer)
    def post(self, request: Request, slug: str, pk: int, judgement_id: int) -> Response:
        project = self.get_object()
        judgement = _judgement(project, pk, judgement_id)
        judgement = restore_judgement(judgement, by=signed_in_user(request))
        return _judgement_answer(project, judgement)
