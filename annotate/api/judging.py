"""Annotator endpoints: lease the next pair, judge it, skip it, see progress."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import (
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.judging.gold import AnnotatorPaused, paused_reason
from annotate.judging.queue import lease_next_pair, progress
from annotate.judging.recording import (
    JudgingError,
    judge_and_lease_next,
    record_judgement,
    skip_assignment,
)
from annotate.judging.shapes import is_plain
from annotate.models import MAX_DURATION_MS, Assignment, Project
from annotate.models import Response as ResponseRow
from annotate.permissions import IsProjectMember, ProjectAPIView, is_project_admin, signed_in_user
from annotate.projects.counts import counts_fields, current_counts
from annotate.projects.members import judgement_counts
from annotate.rendering import render_markdown


class NextInputSerializer(serializers.Serializer):
    after = serializers.IntegerField(
        required=False, min_value=0, max_value=2**63 - 1, help_text="assignment being shown"
    )


class TextSerializer(serializers.Serializer):
    text = serializers.CharField()
    html = serializers.CharField(help_text="sanitized HTML rendered from markdown")


class MessageSerializer(TextSerializer):
    role = serializers.CharField()
    content = serializers.CharField()


class ProgressSerializer(serializers.Serializer):
    mine = serializers.IntegerField()
    remaining = serializers.IntegerField()


class JudgementAsksSerializer(serializers.Serializer):
    """What a project asks beside the choice; in `next` only where it asks more than it."""

    comparison = serializers.CharField(required=False, help_text='"pairwise" or "ranking"')
    criteria = serializers.JSONField(required=False, help_text="the project's criteria")
    rating_scale = serializers.JSONField(required=False, help_text="its values, worst first")
    edits = serializers.CharField(required=False, help_text='"off", "optional" or "required"')
    edit_below = serializers.JSONField(
        required=False,
        allow_null=True,
        help_text='with edits "required": an edit is needed only where the better response is '
        "rated below this value (null: always; unrated: needed)",
    )


class NextPairSerializer(JudgementAsksSerializer):
    assignment = serializers.IntegerField()
    pair = serializers.IntegerField()
    prompt = MessageSerializer(many=True)
    left = TextSerializer()
    right = TextSerializer()
    expires_at = serializers.DateTimeField()
    progress = ProgressSerializer()


class RankedTextSerializer(TextSerializer):
    id = serializers.IntegerField(help_text="the response's id, as a ranking names it")


class NextRankingSerializer(JudgementAsksSerializer):
    """What a ranking project's `next` answers: the item's responses in display order."""

    assignment = serializers.IntegerField()
    pair = serializers.IntegerField()
    prompt = MessageSerializer(many=True)
    responses = RankedTextSerializer(many=True)
    expires_at = serializers.DateTimeField()
    progress = ProgressSerializer()


class JudgementInputSerializer(serializers.Serializer):
    choice = serializers.ChoiceField(
        choices=["left", "right", "tie", "both_bad"],
        required=False,
        help_text="a pairwise project's vote (a ranking project sends `ranking`)",
    )
    ranking = serializers.JSONField(
        required=False,
        allow_null=True,
        help_text="a ranking project's vote: groups of response ids, best first, ties in one "
        "group, e.g. [[12], [7, 9], [3]]",
    )
    criteria = serializers.JSONField(
        required=False,
        allow_null=True,
        help_text="{criterion name: choice (pairwise) or ranking} for the project's criteria",
    )
    ratings = serializers.JSONField(
        required=False,
        allow_null=True,
        help_text='{response id (pairwise: "left"/"right"): a value of the rating scale}',
    )
    edit = serializers.CharField(
        required=False,
        allow_null=True,
        allow_blank=True,
        trim_whitespace=False,
        help_text="the better response, improved (projects with edits)",
    )
    strength = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=3)
    rationale = serializers.CharField(required=False, allow_blank=True, default="")
    duration_ms = serializers.IntegerField(
        required=False, allow_null=True, min_value=0, max_value=MAX_DURATION_MS
    )
    client_id = serializers.CharField(max_length=100)
    next = serializers.BooleanField(
        required=False, default=False, help_text="also lease the next pair (same as ?next=1)"
    )
    after = serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=2**63 - 1,
        help_text="with next: the assignment being shown, not to be returned",
    )


class JudgementQuerySerializer(serializers.Serializer):
    next = serializers.BooleanField(required=False, default=False)


# What the annotation page sends for a plain vote; its keys and the defaults the serializer adds.
_PLAIN_KEYS = frozenset({"choice", "client_id", "duration_ms", "next", "after"})
_CHOICES = frozenset({"left", "right", "tie", "both_bad"})
_BIGINT = 2**63


def _plain_vote(data: Any, next_param: str | None) -> tuple[dict[str, Any], bool] | None:
    """The fields of a plain vote and whether it asks for the next pair, as the serializers
    would validate them; None for anything else, which they then check (and explain).

    The serializers cost more CPU than the rest of the view outside the database (they copy
    their eleven fields per request), so the page's usual body is read here.
    """
    if type(data) is not dict or not data.keys() <= _PLAIN_KEYS:
        return None
    choice, client_id = data.get("choice"), data.get("client_id")
    duration, wants, after = data.get("duration_ms"), data.get("next", False), data.get("after")
    if (
        type(choice) is not str
        or choice not in _CHOICES
        or type(client_id) is not str
        or not 0 < len(client_id) <= 100
        # CharField strips, and refuses NUL and surrogates: only plain ASCII passes here.
        or not (client_id.isascii() and client_id.isprintable())
        or client_id != client_id.strip()
        or not (duration is None or (type(duration) is int and 0 <= duration <= MAX_DURATION_MS))
        or type(wants) is not bool
        or not ("after" not in data or (type(after) is int and 0 <= after < _BIGINT))
    ):
        return None
    if next_param is not None:
        if next_param in serializers.BooleanField.TRUE_VALUES:
            wants = True
        elif next_param not in serializers.BooleanField.FALSE_VALUES:
            return None
    fields: dict[str, Any] = {"choice": choice, "client_id": client_id, "rationale": ""}
    if "duration_ms" in data:
        fields["duration_ms"] = duration
    if "after" in data:
        fields["after"] = after
    return fields, wants


class JudgementOutputSerializer(serializers.Serializer):
    judgement = serializers.IntegerField()
    choice = serializers.CharField(
        help_text="canonical a/b/tie/both_bad; a ranking's: what it says of the item's a and b"
    )
    ranking = serializers.JSONField(required=False, help_text="a ranking project's, as stored")
    progress = ProgressSerializer()


class JudgementAndNextSerializer(JudgementOutputSerializer):
    next = NextPairSerializer(allow_null=True, help_text="the next pair; null when none is left")
    paused = serializers.CharField(
        required=False, help_text="with next null: why this annotator is paused in the project"
    )


def blind_view(assignment: Assignment, project: Project) -> dict[str, Any]:
    """What the annotator sees: no model names, no metadata, sides as leased (a ranking
    item: its responses in the lease's display order), and what the project asks beside."""
    pair = assignment.pair
    body: dict[str, Any] = {
        "assignment": assignment.pk,
        "pair": pair.pk,
        "prompt": [
            {**m, "text": m["content"], "html": render_markdown(m["content"])}
            for m in pair.prompt.messages
        ],
    }
    if assignment.shown_order is not None:
        texts = dict(
            ResponseRow.objects.filter(pk__in=assignment.shown_order).values_list("pk", "text")
        )
        body["responses"] = [
            {"id": rid, "text": texts[rid], "html": render_markdown(texts[rid])}
            for rid in assignment.shown_order
        ]
    else:
        a, b = pair.response_a.text, pair.response_b.text
        left, right = (a, b) if assignment.left_is_a else (b, a)
        body["left"] = {"text": left, "html": render_markdown(left)}
        body["right"] = {"text": right, "html": render_markdown(right)}
    body["expires_at"] = _timestamp(assignment.expires_at)
    if not is_plain(project):
        body["comparison"] = project.comparison
        body["criteria"] = project.criteria
        body["rating_scale"] = project.rating_scale
        body["edits"] = project.edits
        # With edits "required": needed only where the better response is rated below this.
        body["edit_below"] = project.edit_below
    return body


def _timestamp(value: datetime) -> str:
    """As DRF's DateTimeField writes it (the answers below skip the serializers' cost, about a
    millisecond a judgement; NextPairSerializer and JudgementAndNextSerializer document them)."""
    text = timezone.localtime(value).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


class NextPairView(ProjectAPIView):
    """Lease the next pair for the calling annotator (204 when nothing is left)."""

    permission_classes = [IsAuthenticated & IsProjectMember]

    @extend_schema(
        request=NextInputSerializer,
        responses={
            200: PolymorphicProxySerializer(
                component_name="NextItem",
                serializers=[NextPairSerializer, NextRankingSerializer],
                resource_type_field_name=None,
            ),
            204: OpenApiResponse(description="nothing left"),
            403: OpenApiResponse(description="paused in this project; `detail` says why"),
        },
    )
    def post(self, request: Request, slug: str) -> Response:
        project = self.get_object()
        data = NextInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        annotator = signed_in_user(request)
        try:
            assignment = lease_next_pair(annotator, project, after=data.validated_data.get("after"))
        except AnnotatorPaused as exc:
            return Response({"detail": str(exc), "paused": True}, status=status.HTTP_403_FORBIDDEN)
        if assignment is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        body = blind_view(assignment, project)
        body["progress"] = progress(annotator, project)
        return Response(body)


class JudgementView(APIView):
    """Judge the leased pair; repeating a client_id returns the stored judgement (200).

    With `?next=1` (or `"next": true`) the answer also carries the next pair, so a judging
    loop is one request per judgement.
    """

    @extend_schema(
        request=JudgementInputSerializer,
        parameters=[JudgementQuerySerializer],
        responses={201: JudgementAndNextSerializer, 200: JudgementAndNextSerializer},
        description="`next` is in the answer only when the request asked for it.",
    )
    def post(self, request: Request, pk: int) -> Response:
        plain = _plain_vote(request.data, request.query_params.get("next"))
        if plain is None:
            data = JudgementInputSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            query = JudgementQuerySerializer(data=request.query_params)
            query.is_valid(raise_exception=True)
            fields = dict(data.validated_data)
            wants_next = fields.pop("next") or query.validated_data["next"]
        else:
            fields, wants_next = plain
        after = fields.pop("after", None)
        annotator = signed_in_user(request)
        try:
            if wants_next:
                recorded, following = judge_and_lease_next(pk, annotator, after=after, **fields)
            else:
                recorded = record_judgement(pk, annotator, **fields)
        except JudgingError as exc:
            return _error(exc)
        judgement = recorded.judgement
        project = judgement.pair.project  # loaded with the locked pair when just recorded
        body: dict[str, Any] = {
            "judgement": judgement.pk,
            "choice": judgement.choice,
            "progress": progress(annotator, project, mine=recorded.mine),
        }
        if judgement.ranking is not None:
            body["ranking"] = judgement.ranking
        if wants_next:
            body["next"] = following and {
                **blind_view(following, project),
                "progress": body["progress"],
            }
            if following is None and (reason := paused_reason(annotator, project)):
                body["paused"] = reason
        code = status.HTTP_201_CREATED if recorded.created else status.HTTP_200_OK
        return Response(body, status=code)


class SkipView(APIView):
    """Skip the leased pair; it is not offered to this annotator again."""

    @extend_schema(
        request=None,
        responses={
            200: inline_serializer(
                "Skipped",
                {"assignment": serializers.IntegerField(), "outcome": serializers.CharField()},
            )
        },
    )
    def post(self, request: Request, pk: int) -> Response:
        try:
            assignment = skip_assignment(pk, signed_in_user(request))
        except JudgingError as exc:
            return _error(exc)
        return Response({"assignment": assignment.pk, "outcome": assignment.outcome})


def _error(exc: JudgingError) -> Response:
    body: dict[str, str | list[str]] = (
        {exc.field: [str(exc)]} if exc.status == 400 and exc.field else {"detail": str(exc)}
    )
    return Response(body, status=exc.status)


class StatsView(ProjectAPIView):
    """Pending/complete pairs, judgements, per-annotator counts (annotators see their own)."""

    permission_classes = [IsAuthenticated & IsProjectMember]

    @extend_schema(
        responses=inline_serializer(
            "ProjectStats",
            {
                "pending": serializers.IntegerField(allow_null=True),
                "complete": serializers.IntegerField(allow_null=True),
                "judgements": serializers.IntegerField(allow_null=True),
                "annotators": inline_serializer(
                    "AnnotatorCount",
                    {
                        "annotator": serializers.CharField(),
                        "judgements": serializers.IntegerField(),
                    },
                    many=True,
                ),
                "counts_status": serializers.ChoiceField(choices=["ready", "computing"]),
                "counts_as_of": serializers.DateTimeField(allow_null=True),
            },
        )
    )
    def get(self, request: Request, slug: str) -> Response:
        project = self.get_object()
        return Response(project_stats(project, request.user))


def project_stats(project: Project, user: Any) -> dict[str, Any]:
    """Pairs by status and valid judgements (a large project's as a worker last counted them,
    with `counts_status` and `counts_as_of`), and each member's valid judgements (their own to
    an annotator) from the maintained counts: no request counts a large project."""
    counted = counts_fields(current_counts(project))
    counts = counted["counts"]
    only = None if is_project_admin(user, project) else user
    return {
        "pending": counts["pending"],
        "complete": counts["complete"],
        "judgements": counts["judgements"],
        "annotators": [
            {"annotator": name, "judgements": n} for name, n in judgement_counts(project, only)
        ],
        "counts_status": counted["counts_status"],
        "counts_as_of": counted["counts_as_of"],
    }
