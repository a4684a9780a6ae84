"""The data browser and review (project admins): pairs with the browser's filters and sorts,
a pair with its judgements, invalidate and restore (a whole judgement, or one `part`: a
criterion's vote or an edit), gold labels (page twin: views/review.py)."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_field
from rest_framework import serializers, status
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
    ReviewEventSerializer,
)
from annotate.models import Judgement, Pair, Project, RankedResponse
from annotate.permissions import IsProjectAdmin, ProjectAPIView, signed_in_user
from annotate.review.actions import (
    ReviewError,
    invalidate_judgement,
    restore_judgement,
    set_gold_label,
)
from annotate.review.browsing import SORTS, browse_pairs, extra_sorts, pair_judgements
from annotate.review.text_index import UNINDEXED_SHOWN, unindexed_count
from annotate.signals import PairDetail, pair_details

ADMIN_ONLY = [IsAuthenticated & IsProjectAdmin]

PART_HELP = '"" (or absent) the whole judgement, "criterion:NAME" one criterion\'s vote, "edit"'


class PartInputSerializer(serializers.Serializer):
    """Which part of a judgement a review action is about."""

    part = serializers.CharField(
        max_length=60, required=False, allow_blank=True, default="", help_text=PART_HELP
    )


class InvalidatePartInputSerializer(InvalidateInputSerializer, PartInputSerializer):
    """Why a judgement, or one part of it, is invalid."""


class BrowserRowSerializer(PairRowSerializer):
    """A data browser row with what its judgements hold beyond a choice."""

    responses = serializers.IntegerField(
        source="ranked_count", allow_null=True, help_text="a ranking item's responses"
    )
    edits = serializers.IntegerField(
        source="edit_count",
        allow_null=True,
        help_text="judgements with an edit; null where the project takes no edits",
    )


class ReviewEventPartSerializer(ReviewEventSerializer):
    part = serializers.CharField(help_text=PART_HELP)


class JudgementEditSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    text = serializers.CharField()
    # The metaclass takes declared fields off the class; the stubs see Field.parent's type.
    parent = serializers.IntegerField(  # type: ignore[assignment]
        source="parent_id", allow_null=True, help_text="the response it improves"
    )
    valid = serializers.SerializerMethodField(help_text="false where review found it wanting")

    def get_valid(self, edit: Any) -> bool:
        return edit.invalidated_at is None


class ReviewedJudgementSerializer(JudgementSerializer):
    """A judgement as review shows it, with its ranking, criteria, ratings and edit."""

    ranking = serializers.JSONField(help_text="groups of response ids, best first; null if none")
    criteria = serializers.JSONField(help_text="{criterion: vote}; null if none")
    invalid_criteria = serializers.SerializerMethodField(
        help_text="criteria whose votes review invalidated"
    )
    ratings = serializers.JSONField(help_text="{response id: rating}; null if none")
    edit = JudgementEditSerializer(allow_null=True)
    reviews = ReviewEventPartSerializer(many=True)

    class Meta(JudgementSerializer.Meta):
        fields = [
            *JudgementSerializer.Meta.fields,
            "ranking",
            "criteria",
            "invalid_criteria",
            "ratings",
            "edit",
        ]

    def get_invalid_criteria(self, judgement: Judgement) -> list[str]:
        return list(judgement.invalid_criteria or [])


class ItemResponseSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="response_id")
    text = serializers.CharField(source="response.text")
    model_name = serializers.CharField(source="response.model_name")


class ReviewedPairSerializer(PairDetailSerializer):
    """A pair with its texts, a ranking item's responses and every judgement in full."""

    ranked = serializers.SerializerMethodField(
        help_text="a ranking item's responses in item order; [] for a pairwise pair"
    )

    gold_ranking = serializers.JSONField(
        read_only=True, help_text="a ranking item's gold ranking (response ids), or null"
    )
    gold_criteria = serializers.JSONField(
        read_only=True, help_text="gold votes per criterion ({name: vote}), or null"
    )

    class Meta(PairDetailSerializer.Meta):
        fields = [*PairDetailSerializer.Meta.fields, "ranked", "gold_ranking", "gold_criteria"]

    @extend_schema_field(ItemResponseSerializer(many=True))
    def get_ranked(self, pair: Pair) -> Any:
        ranked = RankedResponse.objects.filter(pair=pair).select_related("response")
        return ItemResponseSerializer(ranked.order_by("position"), many=True).data

    @extend_schema_field(ReviewedJudgementSerializer(many=True))
    def get_judgements(self, pair: Pair) -> Any:
        judgements = self.context["judgements"]
        return ReviewedJudgementSerializer(judgements, many=True, context=self.context).data


class PairListView(ProjectAPIView):
    """The project's pairs, filtered and sorted as in the data browser, 50 a page."""

    permission_classes = ADMIN_ONLY

    @extend_schema(
        operation_id="projects_pairs_list",
        parameters=[PairFilterSerializer],
        responses=keyset_schema(
            "PairPage",
            BrowserRowSerializer,
            {
                "unindexed_texts": serializers.IntegerField(
                    help_text="with `q`: the project's texts not yet indexed for search (counted"
                    f" up to {UNINDEXED_SHOWN} + 1); matches among them are found more slowly."
                    " 0 without `q`"
                )
            },
        ),
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
        wanted = query.pair_filter()
        page = browse_pairs(project, wanted, after=query.cursor(), extra=extra)
        rows = BrowserRowSerializer(page.rows, many=True, context={"project": project}).data
        unindexed = unindexed_count(project, cap=UNINDEXED_SHOWN) if wanted.text else 0
        return keyset_answer(request, page, rows, {"unindexed_texts": unindexed})


def pair_answer(project: Project, pair: Pair) -> dict[str, Any]:
    """The pair page's facts as JSON: texts, judgements and what other apps know of it."""
    details = [d for _, d in pair_details.send(sender=Pair, pair=pair) if isinstance(d, PairDetail)]
    context = {"project": project, "judgements": pair_judgements(pair), "details": details}
    return dict(ReviewedPairSerializer(pair, context=context).data)


def _pair(project: Project, pk: int) -> Pair:
    pairs = Pair.objects.select_related("prompt", "response_a", "response_b", "rank")
    return get_object_or_404(pairs, project=project, pk=pk)


class PairView(ProjectAPIView):
    """One pair with its texts and every judgement, invalid ones included."""

    permission_classes = ADMIN_ONLY

    @extend_schema(responses=ReviewedPairSerializer)
    def get(self, request: Request, slug: str, pk: int) -> Response:
        project = self.get_object()
        return Response(pair_answer(project, _pair(project, pk)))


class PairGoldView(ProjectAPIView):
    """Set the pair's gold (it becomes a hidden check question): a label, a ranking item's gold
    ranking, gold votes per criterion; or clear it."""

    permission_classes = ADMIN_ONLY

    @extend_schema(
        request=GoldInputSerializer,
        responses=ReviewedPairSerializer,
        examples=[OpenApiExample("Response a is right", value={"label": "a"}, request_only=True)],
    )
    def put(self, request: Request, slug: str, pk: int) -> Response:
        project = self.get_object()
        pair = _pair(project, pk)
        data = GoldInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            set_gold_label(
                pair,
                label=data.validated_data["label"],
                ranking=data.validated_data.get("ranking"),
                criteria=data.validated_data.get("criteria"),
            )
        except ReviewError as exc:
            return _refused(exc)
        return Response(pair_answer(project, pair))

    @extend_schema(responses=ReviewedPairSerializer)
    def delete(self, request: Request, slug: str, pk: int) -> Response:
        project = self.get_object()
        pair = set_gold_label(_pair(project, pk), label="")
        return Response(pair_answer(project, pair))


def _judgement(project: Project, pk: int, judgement_id: int) -> Judgement:
    return get_object_or_404(Judgement, pk=judgement_id, pair_id=pk, pair__project=project)


def _judgement_answer(project: Project, judgement: Judgement) -> Response:
    judgement = (
        Judgement.objects.select_related("invalidated_by", "edit")
        .prefetch_related("reviews__by")
        .get(pk=judgement.pk)
    )
    return Response(ReviewedJudgementSerializer(judgement, context={"project": project}).data)


def _refused(exc: ReviewError) -> Response:
    return Response({exc.field: [str(exc)]}, status=status.HTTP_400_BAD_REQUEST)


class JudgementInvalidateView(ProjectAPIView):
    """Mark a judgement invalid with a reason: it no longer counts anywhere. With `part`, only
    that part: a criterion's vote leaves that criterion's exports and stats, an edit leaves the
    sft export and later pairs; the rest of the judgement counts."""

    permission_classes = ADMIN_ONLY

    @extend_schema(
        request=InvalidatePartInputSerializer,
        responses=ReviewedJudgementSerializer,
        examples=[
            OpenApiExample(
                "Invalidate",
                value={"reason": "answered in two seconds without reading"},
                request_only=True,
            ),
            OpenApiExample(
                "Invalidate one criterion's vote",
                value={"reason": "safety misread", "part": "criterion:safety"},
                request_only=True,
            ),
        ],
    )
    def post(self, request: Request, slug: str, pk: int, judgement_id: int) -> Response:
        project = self.get_object()
        judgement = _judgement(project, pk, judgement_id)
        data = InvalidatePartInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        by = signed_in_user(request)
        try:
            judgement = invalidate_judgement(judgement, by=by, **data.validated_data)
        except ReviewError as exc:
            return _refused(exc)
        return _judgement_answer(project, judgement)


class JudgementRestoreView(ProjectAPIView):
    """Make an invalidated judgement, or one part of it (`part`), count again."""

    permission_classes = ADMIN_ONLY

    @extend_schema(request=PartInputSerializer, responses=ReviewedJudgementSerializer)
    def post(self, request: Request, slug: str, pk: int, judgement_id: int) -> Response:
        project = self.get_object()
        judgement = _judgement(project, pk, judgement_id)
        data = PartInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            judgement = restore_judgement(
                judgement, by=signed_in_user(request), **data.validated_data
            )
        except ReviewError as exc:
            return _refused(exc)
        return _judgement_answer(project, judgement)
