"""Forms of the workspace pages: they validate, the domain functions act."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any, ClassVar

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import UserCreationForm
from django.core.validators import MaxValueValidator, MinValueValidator, validate_email
from django.utils.text import slugify

from annotate.api.serializers import MembershipInputSerializer
from annotate.judging.shapes import (
    ShapeError,
    check_edit_rules,
    check_settings_change,
    clean_criteria,
    clean_rating_scale,
)
from annotate.models import (
    MAX_LEASE_SECONDS,
    MAX_OVERLAP,
    MAX_RANKED,
    MAX_RETRAIN_EVERY,
    MAX_REWARD_TOKENS,
    MIN_LEASE_SECONDS,
    MIN_RANKED,
    MIN_REWARD_TOKENS,
    Choice,
    Project,
    Role,
)
from annotate.paging import CURSOR_PATTERN, BadCursor, parse_cursor
from annotate.review.browsing import SORTS, STATUSES, PairFilter
from annotate.views.parsing import error_messages

PROJECT_HELP = {
    "name": "Shown to everyone in the project.",
    "slug": "Used in the project's URLs; suggested from the name. Cannot be changed later.",
    "guidelines": "Markdown shown to annotators above every pair.",
    "judgements_per_pair": "Overlap: how many different annotators judge each pair.",
    "allow_tie": "Annotators may say the two responses are equally good.",
    "allow_both_bad": 'Annotators may say "both bad" when neither response is acceptable.',
    "ask_strength": "Ask how much better (slightly, better, much better).",
    "ask_rationale": "Ask annotators to say why: off, optional or required.",
    "lease_seconds": "How long an annotator holds a pair before it goes back to the queue.",
    "acquisition": "Which pending pairs the served reward model puts first.",
    "retrain_every": "Retrain automatically after this many new judgements (0: only by hand).",
    "reward_max_tokens": "Tokens of prompt and response the reward model reads; a long "
    "prompt loses its start, so the last user turn and the response survive (empty: the "
    "site's default, 256; a run's own max_length overrides it).",
    "comparison": "Pairwise: the better of two responses. Ranking: order up to max_ranked "
    "responses of one prompt, ties allowed. Fixed once the project has pairs.",
    "max_ranked": "Ranking: the most responses ranked together (3 to 8); a prompt with more is "
    "split into overlapping items.",
    "criteria": 'Optional criteria judged beside the overall preference, as JSON: [{"name": '
    '"helpful", "guidance": "...", "required": true}]. Fixed once judging starts.',
    "rating_scale": "Optional rating of each response, its values worst first as JSON: "
    '[1, 2, 3, 4, 5] or ["bad", "good"]. Fixed once judging starts.',
    "edits": "Annotators improve the better response: off, optional or required.",
}
# The edit rules, on the page after the settings above. Kept out of PROJECT_HELP: its keys are
# what every settings post carries as is, and an unset `edit_below` posts as an empty field.
EDIT_RULES_HELP = {
    "edit_below": "With edits required: required only when the better response is rated below "
    "this value of the rating scale (empty: always required; unrated: required).",
    "judge_edits": "Each new edit becomes a pending pair of its prompt, judged like any other: "
    "the edit against the response it improves (a ranking project: a new ranking item of the "
    "edit and the judged item's best responses).",
}
# Upper bounds keep typos (an overlap of 3000) from making a project unusable. They are the
# model's, which the API's ProjectSerializer enforces too: page and API accept the same values.
LIMITS = {
    "judgements_per_pair": (1, MAX_OVERLAP),
    "lease_seconds": (MIN_LEASE_SECONDS, MAX_LEASE_SECONDS),
    "retrain_every": (0, MAX_RETRAIN_EVERY),
    "reward_max_tokens": (MIN_REWARD_TOKENS, MAX_REWARD_TOKENS),
    "max_ranked": (MIN_RANKED, MAX_RANKED),
}
MAX_INVITES = 100
# The judgement's shape: a form that leaves one out keeps the project's value (the default
# for a new project), so a post of the other settings changes nothing of what judgements hold.
SHAPE_FIELDS = ("comparison", "max_ranked", "criteria", "rating_scale", "edits", "edit_below")


class ScaleValueField(forms.CharField):
    """A value of the rating scale as typed: `3` or `good` (JSON also reads: `"3"`);
    ProjectForm.clean matches it to the scale."""

    def prepare_value(self, value: Any) -> Any:
        return "" if value is None else value

    def to_python(self, value: Any) -> Any:
        text = super().to_python(value)
        return text or None


class ProjectForm(forms.ModelForm):
    """Every project setting; the creator becomes the project's admin."""

    edit_below = ScaleValueField(
        required=False, max_length=60, help_text=EDIT_RULES_HELP["edit_below"]
    )

    class Meta:
        model = Project
        fields = [*PROJECT_HELP, *EDIT_RULES_HELP]
        help_texts = PROJECT_HELP | EDIT_RULES_HELP
        widgets = {"guidelines": forms.Textarea(attrs={"rows": 8, "data-markdown-source": ""})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, (low, high) in LIMITS.items():
            field = self.fields[name]
            field.validators += [MinValueValidator(low), MaxValueValidator(high)]
            field.widget.attrs.update(min=low, max=high)
        if "slug" in self.fields:
            self.fields["slug"].required = False
        for name in SHAPE_FIELDS:
            self.fields[name].required = False

    def clean_criteria(self) -> list[dict[str, Any]]:
        return _shaped(clean_criteria, self.cleaned_data.get("criteria"))

    def clean_rating_scale(self) -> list[int | str]:
        return _shaped(clean_rating_scale, self.cleaned_data.get("rating_scale"))

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        for name in SHAPE_FIELDS:
            if name not in self.data and name not in self.errors:
                cleaned[name] = getattr(self.instance, name)
        instance = self.instance if self.instance.pk else None
        if "edit_below" in self.data:
            cleaned["edit_below"] = _scale_value(cleaned.get("edit_below"), cleaned)
        try:
            check_settings_change(instance, cleaned)
            if not self.errors:
                check_edit_rules(instance, cleaned)
        except ShapeError as exc:
            self.add_error(exc.field, exc.message)
        return cleaned

    def clean_slug(self) -> str:
        slug = self.cleaned_data.get("slug") or slugify(self.data.get("name", ""))[:100]
        if not slug:
            raise forms.ValidationError("Give the project a slug (letters, digits, - and _).")
        if Project.objects.filter(slug=slug).exists():
            raise forms.ValidationError(f'A project with the slug "{slug}" already exists.')
        return slug


def _scale_value(typed: Any, cleaned: dict[str, Any]) -> Any:
    """The scale's value the text names (`3` is the integer where the scale has it); text
    naming none stays as typed, for check_edit_rules to refuse."""
    if not isinstance(typed, str):
        return typed
    for value in cleaned.get("rating_scale") or []:
        if typed.strip() in (str(value), json.dumps(value)):
            return value
    return typed.strip()


def _shaped(clean: Any, value: Any) -> Any:
    try:
        return clean(value)
    except ShapeError as exc:
        raise forms.ValidationError(exc.message) from exc


class ProjectSettingsForm(ProjectForm):
    """The same settings for an existing project; the slug stays fixed."""

    class Meta(ProjectForm.Meta):
        fields = [f for f in ProjectForm.Meta.fields if f != "slug"]


class DeleteProjectForm(forms.Form):
    confirm = forms.CharField(label="Type the project's slug to confirm")

    def __init__(self, *args: Any, project: Project, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.project = project

    def clean_confirm(self) -> str:
        typed = self.cleaned_data["confirm"].strip()
        if typed != self.project.slug:
            raise forms.ValidationError(f'Type "{self.project.slug}" to delete this project.')
        return typed


class AddMemberForm(forms.Form):
    """The add-member fields, checked by the API's MembershipInputSerializer.

    The fields only render (nothing is required or refused here), so the page and the API
    refuse the same input with the same messages; `cleaned_data` is the serializer's.
    """

    user = forms.CharField(label="Username or email", required=False)
    role = forms.CharField(
        widget=forms.Select(choices=Role.choices), initial=Role.ANNOTATOR, required=False
    )
    # page field -> serializer field
    API_NAMES: ClassVar[dict[str, str]] = {"user": "username", "role": "role"}

    def clean(self) -> dict[str, Any]:
        data = {api: self.data[page] for page, api in self.API_NAMES.items() if page in self.data}
        serializer = MembershipInputSerializer(data=data)
        if serializer.is_valid():
            return dict(serializer.validated_data)
        page_names = {api: page for page, api in self.API_NAMES.items()}
        for name, detail in serializer.errors.items():
            self.add_error(page_names.get(name), error_messages(detail))
        return {}


class InviteForm(forms.Form):
    emails = forms.CharField(
        label="Email addresses",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One or more, separated by spaces, commas or new lines.",
    )
    role = forms.ChoiceField(choices=Role.choices, initial=Role.ANNOTATOR)

    def clean_emails(self) -> list[str]:
        emails = list(
            dict.fromkeys(e for e in re.split(r"[\s,;]+", self.cleaned_data["emails"]) if e)
        )
        bad = []
        for email in emails:
            try:
                validate_email(email)
            except forms.ValidationError:
                bad.append(email)
            else:
                # The address is the suggested username, which holds at most 150 characters.
                if len(email) > 150:
                    bad.append(email)
        if bad:
            raise forms.ValidationError(f"Not valid email addresses: {', '.join(bad[:10])}")
        if not emails:
            raise forms.ValidationError("Enter at least one email address.")
        if len(emails) > MAX_INVITES:
            raise forms.ValidationError(f"Invite at most {MAX_INVITES} people at once.")
        return emails


class AcceptInvitationForm(UserCreationForm):
    """A new account for an invitation: a free username (the address by default) and a password."""

    class Meta(UserCreationForm.Meta):  # type: ignore[name-defined]  # the stub omits this Meta
        model = get_user_model()
        fields = ("username",)

    def clean_username(self) -> str:
        username = self.cleaned_data["username"]
        if get_user_model().objects.filter(username__iexact=username).exists():
            raise forms.ValidationError(
                "That username is taken. If it is yours, log in first and open the link again;"
                " otherwise choose another."
            )
        return username


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class InvalidateForm(forms.Form):
    reason = forms.CharField(max_length=1000, label="Why is it invalid?")


class GoldForm(forms.Form):
    label = forms.ChoiceField(choices=[("", "no gold label"), *Choice.choices], required=False)


# The browser's own sorts; a form adds the project's extra ones (review.browsing.extra_sorts).
SORT_CHOICES = [(s, s) for s in SORTS]


class PairFilterForm(forms.Form):
    """The data browser's filters (GET); `after` is the keyset cursor of the next page."""

    status = forms.ChoiceField(
        choices=[("", "any status"), *((s, s) for s in STATUSES)], required=False
    )
    disagreement = forms.BooleanField(required=False, label="Annotators disagree")
    gold = forms.ChoiceField(
        choices=[("", "gold or not"), ("yes", "gold"), ("no", "not gold")], required=False
    )
    model = forms.CharField(
        required=False,
        max_length=200,
        label="Source model",
        widget=forms.TextInput(attrs={"list": "model-names"}),
    )
    annotator = forms.TypedChoiceField(
        coerce=int, required=False, empty_value=None, label="Judged by"
    )
    q = forms.CharField(required=False, max_length=200, label="Text")
    sort = forms.ChoiceField(choices=SORT_CHOICES, required=False)
    after = forms.RegexField(regex=CURSOR_PATTERN, required=False)

    def __init__(
        self,
        *args: Any,
        annotators: list[tuple[int, str]],
        extra_sorts: Sequence[tuple[str, str]] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        annotator, sort = self.fields["annotator"], self.fields["sort"]
        assert isinstance(annotator, forms.ChoiceField) and isinstance(sort, forms.ChoiceField)
        annotator.choices = [("", "anyone"), *annotators]
        sort.choices = [*SORT_CHOICES, *extra_sorts]

    def pair_filter(self) -> PairFilter:
        data = self.cleaned_data
        return PairFilter(
            status=data["status"],
            disagreement=data["disagreement"],
            gold=data["gold"],
            model=data["model"].strip(),
            annotator_id=data["annotator"],
            text=data["q"].strip(),
            sort=data["sort"] or "newest",
        )

    def clean_after(self) -> str:
        after: str = self.cleaned_data["after"]
        try:
            parse_cursor(after)
        except BadCursor as exc:
            raise forms.ValidationError(str(exc)) from None
        return after

    def cursor(self) -> tuple[float, int] | None:
        return parse_cursor(self.cleaned_data["after"])
