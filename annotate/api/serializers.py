from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field, inline_serializer
from rest_framework import serializers

from annotate.exporting.datasets import EXPORT_FORMATS, FILE_TYPES, pseudonym
from annotate.formats import FORMATS
from annotate.importing.pipeline import LABEL_MODES
from annotate.judging.shapes import (
    ShapeError,
    check_edit_rules,
    check_settings_change,
    clean_criteria,
    clean_rating_scale,
)
from annotate.models import (
    Choice,
    ImportJob,
    Invitation,
    Judgement,
    Membership,
    Pair,
    Project,
    Role,
)
from annotate.paging import CURSOR_PATTERN, BadCursor, parse_cursor
from annotate.permissions import role_in
from annotate.projects.counts import COUNT_NAMES, counts_fields, current_counts
from annotate.review.browsing import SORTS, STATUSES, PairFilter

# At most this many addresses per invitation request.
MAX_INVITES = 100


class ProjectSerializer(serializers.ModelSerializer):
    role = serializers.SerializerMethodField()

    class Meta:
        model = Project
        fields = [
            "id",
            "name",
            "slug",
            "guidelines",
            "judgements_per_pair",
            "allow_tie",
            "allow_both_bad",
            "ask_strength",
            "ask_rationale",
            "lease_seconds",
            "acquisition",
            "retrain_every",
            "reward_max_tokens",
            "leaderboard_for_annotators",
            "max_judgements_per_pair",
            "gold_rate",
            "gold_min_answers",
            "gold_min_accuracy",
            "gold_from_unanimous",
            "exclude_flagged_from_training",
            "promotion_requires_beating_length",
            "random_slice_share",
            "comparison",
            "max_ranked",
            "criteria",
            "rating_scale",
            "edits",
            "edit_below",
            "judge_edits",
            "created_at",
            "archived_at",
            "role",
        ]
        read_only_fields = ["id", "created_at", "archived_at", "role"]
        extra_kwargs = {
            "gold_rate": {"min_value": 0.0, "max_value": 1.0},
            "gold_min_accuracy": {"min_value": 0.0, "max_value": 1.0},
            "max_judgements_per_pair": {"min_value": 1, "max_value": 100},
        }

    def validate_criteria(self, value: Any) -> list[dict[str, Any]]:
        return _shaped(clean_criteria, value)

    def validate_rating_scale(self, value: Any) -> list[int | str]:
        return _shaped(clean_rating_scale, value)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        try:
            check_settings_change(self.instance, attrs)
            check_edit_rules(self.instance, attrs)
        except ShapeError as exc:
            raise serializers.ValidationError({exc.field: [exc.message]}) from exc
        return attrs

    def get_role(self, project: Project) -> str | None:

        return role_in(self.context["request"].user, project)


def _shaped(clean: Any, value: Any) -> Any:
    try:
        return clean(value)
    except ShapeError as exc:
        raise serializers.ValidationError(exc.message) from exc


class ProjectDetailSerializer(ProjectSerializer):
    """A project with its counts as a worker last took them (never counted in the request)."""

    counts = serializers.SerializerMethodField(
        help_text="prompts, pairs, pending, complete, judgements, human_judgements, annotators, "
        "models_with_votes; each null until the first count is in"
    )
    counts_status = serializers.SerializerMethodField(
        help_text='"ready", or "computing" while a worker takes the first count'
    )
    counts_as_of = serializers.SerializerMethodField(help_text="when the counts were taken")

    class Meta(ProjectSerializer.Meta):
        fields = [*ProjectSerializer.Meta.fields, "counts", "counts_status", "counts_as_of"]

    def _counts(self, project: Project) -> dict[str, Any]:
        """The stored counts, read once per project and response."""
        read = self.context.setdefault("stored_counts", {})
        if project.pk not in read:
            read[project.pk] = counts_fields(current_counts(project))
        return dict(read[project.pk])

    @extend_schema_field(
        inline_serializer(
            "ProjectCounts",
            {name: serializers.IntegerField(allow_null=True) for name in COUNT_NAMES},
        )
    )
    def get_counts(self, project: Project) -> dict[str, int | None]:
        return dict(self._counts(project)["counts"])

    @extend_schema_field(serializers.ChoiceField(choices=["ready", "computing"]))
    def get_counts_status(self, project: Project) -> str:
        return str(self._counts(project)["counts_status"])

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_counts_as_of(self, project: Project) -> str | None:
        as_of = self._counts(project)["counts_as_of"]
        return None if as_of is None else str(as_of)


class MembershipInputSerializer(serializers.Serializer):
    username = serializers.CharField()
    role = serializers.ChoiceField(choices=Role.choices)


class ProjectSettingsSerializer(ProjectDetailSerializer):
    """A project's settings as `PATCH` changes them: every setting but the slug."""

    class Meta(ProjectDetailSerializer.Meta):
        read_only_fields = [*ProjectSerializer.Meta.read_only_fields, "slug"]


class MembershipSerializer(serializers.ModelSerializer):
    user_id = serializers.IntegerField(read_only=True)
    username = serializers.CharField(source="user.username")

    class Meta:
        model = Membership
        fields = ["user_id", "username", "role", "created_at"]


class RoleInputSerializer(serializers.Serializer):
    """A member's new role (members page and API)."""

    role = serializers.ChoiceField(choices=Role.choices)


class ImportInputSerializer(serializers.Serializer):
    """An upload (page and API): the one check of its format and label mode."""

    file = serializers.FileField(error_messages={"required": "Choose a file to import."})
    format = serializers.ChoiceField(choices=["auto", *FORMATS], default="auto")
    labels = serializers.ChoiceField(choices=LABEL_MODES, default="judgements")


class ImportJobSerializer(serializers.ModelSerializer):
    project: serializers.SlugRelatedField[Project] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True
    )

    class Meta:
        model = ImportJob
        fields = [
            "id",
            "project",
            "original_name",
            "format",
            "labels",
            "status",
            "progress",
            "result",
            "errors",
            "created_at",
            "finished_at",
        ]


class ExportQuerySerializer(serializers.Serializer):
    """An export's query string (page and API)."""

    format = serializers.ChoiceField(choices=EXPORT_FORMATS)
    file = serializers.ChoiceField(choices=FILE_TYPES, default="jsonl")
    min_agreement = serializers.FloatField(default=0.0, min_value=0.0, max_value=1.0)
    exclude_flagged = serializers.BooleanField(
        default=False, help_text="leave out annotators the quality checks flag"
    )
    package = serializers.ChoiceField(
        choices=["zip", "tar"],
        required=False,
        allow_blank=True,
        default="",
        help_text="a dataset folder (data and README.md card) as zip or tar.gz; empty: the file",
    )
    license = serializers.RegexField(
        r"^[a-z0-9][a-z0-9.+-]{0,63}$",
        default="unknown",
        help_text="the card's license id (e.g. cc-by-4.0)",
    )
    criterion = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=40,
        help_text="trl/hh: the preferences of this criterion instead of the overall one",
    )
    min_chosen_rating = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=40,
        help_text="trl/hh: leave out pairs whose chosen response is rated below this value of"
        " the rating scale (mean place over its ratings in the pair; unrated: kept)",
    )
    with_edits = serializers.BooleanField(
        default=False,
        help_text="trl/hh: also each edit as chosen over every response of its pair or item",
    )


class LeaderboardQuerySerializer(serializers.Serializer):
    """The leaderboard's query string (page, CSV and API)."""

    length_control = serializers.BooleanField(
        default=False, help_text="Fit with the log length ratio as a covariate (0 or 1)."
    )


class PauseInputSerializer(serializers.Serializer):
    """Why an annotator is paused (quality page and API); reinstating ignores it."""

    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=300)


class MemberSerializer(serializers.Serializer):
    """A row of the members list: who, their role, how much they judged, whether paused."""

    user_id = serializers.IntegerField(source="membership.user_id")
    username = serializers.CharField(source="membership.user.username")
    role = serializers.CharField(source="membership.role")
    judgements = serializers.IntegerField(help_text="valid judgements in this project")
    last_active = serializers.DateTimeField(
        allow_null=True, help_text="when they last took a pair here"
    )
    paused_reason = serializers.CharField(
        source="membership.paused_reason", help_text='why they are paused; "" when not'
    )
    created_at = serializers.DateTimeField(source="membership.created_at")


def split_emails(value: str | list[str]) -> list[str]:
    """Addresses from a list or from text separated by spaces, commas or new lines, once each."""
    parts = value if isinstance(value, list) else re.split(r"[\s,;]+", value)
    return list(dict.fromkeys(e.strip() for e in parts if e.strip()))


@extend_schema_field(
    {
        "oneOf": [
            {"type": "array", "items": {"type": "string", "format": "email"}},
            {"type": "string"},
        ]
    }
)
class EmailsField(serializers.Field):
    """Email addresses, as a JSON list or as one text (the members page's box)."""

    default_error_messages = {  # noqa: RUF012  (DRF merges these dicts per class)
        "invalid": "Give the addresses as a list or as text separated by spaces or commas.",
        "empty": "Enter at least one email address.",
        "bad": "Not valid email addresses: {bad}",
        "many": f"Invite at most {MAX_INVITES} people at once.",
    }

    def to_internal_value(self, data: Any) -> list[str]:
        if not isinstance(data, str | list) or not all(isinstance(e, str) for e in data):
            self.fail("invalid")
        emails = split_emails(data)
        bad = [email for email in emails if not _is_email(email)]
        if bad:
            self.fail("bad", bad=", ".join(bad[:10]))
        if not emails:
            self.fail("empty")
        if len(emails) > MAX_INVITES:
            self.fail("many")
        return emails

    def to_representation(self, value: list[str]) -> list[str]:
        return value


def _is_email(email: str) -> bool:
    # The address is the suggested username, which holds at most 150 characters.
    try:
        validate_email(email)
    except DjangoValidationError:
        return False
    return len(email) <= 150


class InviteInputSerializer(serializers.Serializer):
    """Who to invite and as what (members page and API)."""

    emails = EmailsField(help_text="a list, or text with addresses separated by spaces or commas")
    role = serializers.ChoiceField(choices=Role.choices, default=Role.ANNOTATOR)


class InvitedSerializer(serializers.Serializer):
    """A new invitation with its one-time link (shown only in this answer)."""

    id = serializers.IntegerField()
    email = serializers.EmailField()
    role = serializers.CharField()
    expires_at = serializers.DateTimeField()
    url = serializers.URLField(help_text="the link to pass on; only its hash is stored")


class InvitationSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", allow_null=True, default=None)
    expired = serializers.SerializerMethodField()

    class Meta:
        model = Invitation
        fields = ["id", "email", "role", "created_at", "expires_at", "expired", "created_by"]

    def get_expired(self, invitation: Invitation) -> bool:
        return invitation.expires_at <= timezone.now()


class AcceptedSerializer(serializers.Serializer):
    project = serializers.CharField(source="invitation.project.slug")
    role = serializers.CharField(source="membership.role", help_text="the role held now")
    joined = serializers.BooleanField(help_text="false when already a member (role unchanged)")


class CursorField(serializers.RegexField):
    """A keyset cursor, `value~id`, as a list answered it; blank for the first page."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("help_text", "the previous page's cursor")
        super().__init__(CURSOR_PATTERN, required=False, allow_blank=True, **kwargs)

    def to_internal_value(self, data: Any) -> str:
        text = super().to_internal_value(data)
        try:
            parse_cursor(text)
        except BadCursor as exc:
            raise serializers.ValidationError(str(exc)) from None
        return text


class PairFilterSerializer(serializers.Serializer):
    """The data browser's filters (query string); `after` is the cursor of the next page.

    Context: `annotators` (the member ids one may filter by) and `sorts` (every sort's name).
    """

    status = serializers.ChoiceField(choices=STATUSES, required=False, allow_blank=True)
    disagreement = serializers.BooleanField(default=False, help_text="annotators disagree")
    gold = serializers.ChoiceField(choices=["yes", "no"], required=False, allow_blank=True)
    model = serializers.CharField(
        required=False, allow_blank=True, max_length=200, help_text="a source model's name"
    )
    annotator = serializers.IntegerField(
        required=False, allow_null=True, help_text="judged by this member (user id)"
    )
    q = serializers.CharField(required=False, allow_blank=True, max_length=200, help_text="text")
    sort = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text=f"{', '.join(SORTS)}, or a sort the served model offers (reward_margin)",
    )
    after = CursorField()

    def validate_annotator(self, value: int | None) -> int | None:
        if value is not None and value not in self.context["annotators"]:
            raise serializers.ValidationError(f"{value} is not a member of this project.")
        return value

    def validate_sort(self, value: str) -> str:
        if value and value not in self.context["sorts"]:
            sorts = ", ".join(self.context["sorts"])
            raise serializers.ValidationError(f'"{value}" is not a sort here; choose {sorts}.')
        return value

    def pair_filter(self) -> PairFilter:
        data = self.validated_data
        return PairFilter(
            status=data.get("status", ""),
            disagreement=data["disagreement"],
            gold=data.get("gold", ""),
            model=data.get("model", "").strip(),
            annotator_id=data.get("annotator"),
            text=data.get("q", "").strip(),
            sort=data.get("sort") or "newest",
        )

    def cursor(self) -> tuple[float, int] | None:
        return parse_cursor(self.validated_data.get("after", ""))


def format_cursor(after: tuple[Any, int]) -> str:
    value, pk = after
    return f"{value!r}~{pk}"


class CursorQuerySerializer(serializers.Serializer):
    after = CursorField()


class PairRowSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    external_id = serializers.CharField()
    prompt = serializers.CharField(source="prompt.__str__", help_text="its last message, shortened")
    model_a = serializers.CharField(source="response_a.model_name")
    model_b = serializers.CharField(source="response_b.model_name")
    status = serializers.CharField(help_text="pending or complete")
    judgement_count = serializers.IntegerField()
    target = serializers.SerializerMethodField(help_text="votes the pair needs")
    gold_label = serializers.CharField()
    priority = serializers.FloatField(source="rank.priority")

    def get_target(self, pair: Pair) -> int:
        return int(self.context["project"].judgements_per_pair)


class ReviewEventSerializer(serializers.Serializer):
    action = serializers.CharField()
    reason = serializers.CharField()
    by = serializers.CharField(source="by.username", allow_null=True, default=None)
    at = serializers.DateTimeField()


class JudgementSerializer(serializers.ModelSerializer):
    """A judgement as review shows it: the annotator as the project's pseudonym."""

    annotator = serializers.SerializerMethodField(help_text='pseudonym; "" for an imported vote')
    # Plain strings: the schema's enum names are the job status's and the judging input's.
    choice = serializers.CharField(help_text="a, b, tie or both_bad, in the pair's a/b terms")
    valid = serializers.BooleanField(source="is_valid")
    invalidated_by = serializers.CharField(
        source="invalidated_by.username", allow_null=True, default=None
    )
    reviews = ReviewEventSerializer(many=True)

    class Meta:
        model = Judgement
        fields = [
            "id",
            "annotator",
            "source",
            "choice",
            "shown_left",
            "strength",
            "rationale",
            "duration_ms",
            "model_a",
            "model_b",
            "created_at",
            "valid",
            "invalidated_at",
            "invalidated_by",
            "invalid_reason",
            "reviews",
        ]

    def get_annotator(self, judgement: Judgement) -> str:
        return pseudonym(self.context["project"], judgement.annotator_id)


class ResponseTextSerializer(serializers.Serializer):
    text = serializers.CharField()
    model_name = serializers.CharField()


class PromptMessageSerializer(serializers.Serializer):
    role = serializers.CharField()
    content = serializers.CharField()


class PairDetailSerializer(serializers.ModelSerializer):
    """A pair with its texts and every judgement (invalid ones included), oldest first.

    Context: `project`, `judgements` (review.browsing.pair_judgements) and `details`.
    """

    prompt = PromptMessageSerializer(source="prompt.messages", many=True)
    response_a = ResponseTextSerializer()
    response_b = ResponseTextSerializer()
    target = serializers.SerializerMethodField(help_text="votes the pair needs")
    status = serializers.CharField(help_text="pending or complete")
    gold_label = serializers.CharField(help_text='a, b, tie, both_bad; "" when not a gold pair')
    priority = serializers.FloatField(
        source="rank.priority", help_text="higher is served first (the served model's order)"
    )
    judgements = serializers.SerializerMethodField()
    details = serializers.SerializerMethodField(
        help_text="what other parts of the product know of the pair (the served model's rewards)"
    )

    class Meta:
        model = Pair
        fields = [
            "id",
            "external_id",
            "status",
            "priority",
            "judgement_count",
            "target",
            "gold_label",
            "created_at",
            "meta",
            "prompt",
            "response_a",
            "response_b",
            "judgements",
            "details",
        ]

    @extend_schema_field(
        inline_serializer(
            "PairFact",
            {
                "title": serializers.CharField(),
                "rows": serializers.ListField(
                    child=serializers.ListField(child=serializers.CharField())
                ),
            },
            many=True,
        )
    )
    def get_target(self, pair: Pair) -> int:
        return int(self.context["project"].judgements_per_pair)

    @extend_schema_field(JudgementSerializer(many=True))
    def get_judgements(self, pair: Pair) -> Any:
        return JudgementSerializer(self.context["judgements"], many=True, context=self.context).data

    def get_details(self, pair: Pair) -> list[dict[str, Any]]:
        details = self.context.get("details", [])
        return [{"title": d.title, "rows": [list(row) for row in d.rows]} for d in details]


class InvalidateInputSerializer(serializers.Serializer):
    """Why a judgement is invalid (pair page and API)."""

    reason = serializers.CharField(max_length=1000)


class GoldInputSerializer(serializers.Serializer):
    """A pair's gold label, a ranking item's gold ranking, gold per criterion (pair page and
    API); "" without a ranking clears it."""

    # The metaclass takes declared fields off the class; the stubs see Field.label's type.
    label = serializers.ChoiceField(  # type: ignore[assignment]
        choices=Choice.choices, allow_blank=True, required=False, default=""
    )
    ranking = serializers.ListField(
        child=serializers.ListField(child=serializers.IntegerField()),
        required=False,
        allow_null=True,
        help_text="A ranking item's gold ranking: groups of its response ids, best first "
        "(sets the label to what it says of a against b).",
    )
    criteria = serializers.DictField(
        required=False,
        allow_null=True,
        help_text="Gold votes per criterion: a/b/tie/both_bad, or a ranking on ranking items "
        "(left out: kept as they are; {}: cleared).",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "label" not in self.initial_data and attrs.get("ranking") is None:
            raise serializers.ValidationError(
                {"label": 'give a label ("" clears the gold) or a ranking'}
            )
        return attrs
