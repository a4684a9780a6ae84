"""Every page action has an endpoint that answers alike for each role and leaves the same state.

Each row of ACTIONS names a page request and the API request beside it. For every persona the
page request runs in a savepoint that is rolled back, then the API request does; their outcomes
(ok, refused as bad input, forbidden, not found, login needed) and the database state they leave
must be equal, and reads must show the same rows. A page URL with no row and no stated reason in
PAGE_ONLY fails the test, so a new page action cannot ship without its endpoint.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.contrib.messages import constants, get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.http.response import HttpResponseBase
from django.test import Client
from django.urls import URLPattern, get_resolver
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotate.judging.gold import pause_annotator
from annotate.models import (
    ImportJob,
    Invitation,
    Judgement,
    Membership,
    Pair,
    Project,
    Role,
)
from annotate.projects.invitations import invite_members
from annotate.projects.lifecycle import archive_project, create_project
from annotate.review.actions import invalidate_judgement, set_gold_label
from annotate.views.forms import PROJECT_HELP
from generation.jobs import cancel_generation
from generation.judges import make_judge
from generation.judges_models import Judge, JudgeRun
from generation.models import GenerationJob, ModelEndpoint
from rewards.models import RewardModel, TrainingRun
from tests.annotate.statistics_support import store_statistics
from tests.factories import make_pairs, pair_rows, write_jsonl
from webhooks.models import Subscription
from webhooks.subscriptions import PAUSED_BY_ADMIN, pause_subscription

pytestmark = pytest.mark.django_db

PERSONAS = ("anonymous", "outsider", "annotator", "admin", "staff")
# Who may, by the level an action needs.
LEVELS: dict[str, dict[str, str]] = {
    "admin": {"outsider": "not_found", "annotator": "forbidden", "admin": "ok", "staff": "ok"},
    "member": {"outsider": "not_found", "annotator": "ok", "admin": "ok", "staff": "ok"},
    "user": {"outsider": "ok", "annotator": "ok", "admin": "ok", "staff": "ok"},
    # alice administers her project but may not create projects; the superuser may.
    "creator": {"outsider": "forbidden", "annotator": "forbidden", "admin": "forbidden"}
    | {"staff": "ok"},
}
SETTINGS = [f for f in PROJECT_HELP if f != "slug"]
ALL_SETTINGS = [
    *SETTINGS,
    *("max_judgements_per_pair", "gold_rate", "gold_min_answers", "gold_min_accuracy"),
    *("leaderboard_for_annotators", "random_slice_share"),
    *("judge_votes_count", "judge_settled_votes", "judge_audit_share"),
]
# Hosts the webhooks and model endpoints of the world may reach.
HOOKS = "https://hooks.example.com/prefloop"
MODELS = "http://models.internal:8000/v1"
OUTSIDE = "http://169.254.169.254/latest"


@dataclass
class World:
    """The project `proj` (alice admin; bob and carol annotate) with four imported pairs."""

    project: Project
    users: dict[str, User]
    ids: dict[str, Any]
    tmp_path: Path


@dataclass(frozen=True)
class Action:
    """A page request and its API twin; paths and bodies are formatted with World.ids."""

    name: str  # the page's URL name
    page: tuple[str, str]  # method, path
    api: tuple[str, str]
    level: str = "admin"
    page_data: dict[str, Any] | Callable[[World], dict[str, Any]] = field(default_factory=dict)
    api_data: dict[str, Any] | Callable[[World], dict[str, Any]] = field(default_factory=dict)
    # Overrides of LEVELS for this action, e.g. a refusal that every allowed role gets.
    expect: dict[str, str] = field(default_factory=dict)
    setup: Callable[[World], None] | None = None
    # What a read shows: (page response, its World) and (API JSON or response) to compare.
    page_view: Callable[[Any], Any] | None = None
    api_view: Callable[[Any], Any] | None = None
    api_format: str = "json"
    personas: tuple[str, ...] = PERSONAS
    compare_state: bool = True
    # How to read the page's answer when its status alone does not say (default: _page_outcome).
    page_outcome: Callable[[Any], str] | None = None

    @property
    def key(self) -> str:
        return f"{self.name}:{self.page[0]}:{self.page[1]}:{self.expect.get('admin', '')}"


def _settings_form(project: Project, **changes: Any) -> dict[str, Any]:
    """The settings form as the page posts it: every field (an unset one empty); unchecked
    boxes are left out."""
    values = {name: getattr(project, name) for name in SETTINGS} | changes
    posted = {k: "" if v is None else v for k, v in values.items()}
    return {k: ("on" if v is True else v) for k, v in posted.items() if v is not False}


def _new_project_form(world: World) -> dict[str, Any]:
    defaults = Project(slug="made", name="Made", judgements_per_pair=2)
    return _settings_form(defaults) | {"slug": "made", "name": "Made"}


def _upload(world: World) -> dict[str, Any]:
    rows = write_jsonl(world.tmp_path / "up.jsonl", pair_rows(2, prefix="up"))
    return {"file": SimpleUploadedFile("up.jsonl", rows.read_bytes()), "format": "auto"}


def _context(response: Any, name: str) -> Any:
    return response.context[name]


def _ids(rows: Any) -> list[int]:
    return [row.pk for row in rows]


def _api_ids(body: Any) -> list[int]:
    return [row["id"] for row in body["results"]]


def _stored_statistics(world: World) -> None:
    """The statistics a worker computes (leaderboard, quality, random slice), stored."""
    store_statistics(world.project)


def _archived(world: World) -> None:
    archive_project(Project.objects.get(pk=world.project.pk))  # fresh: runs roll back


def _gold(world: World) -> None:
    set_gold_label(Pair.objects.get(pk=world.ids["pair"]), label="b")


def _invalidated(world: World) -> None:
    judgement = Judgement.objects.get(pk=world.ids["judgement"])
    invalidate_judgement(judgement, by=world.users["admin"], reason="too fast")


def _paused(world: World) -> None:
    pause_annotator(world.project, world.ids["bob"], reason="checking")


def _paused_webhook(world: World) -> None:
    pause_subscription(world.ids["webhook"], reason=PAUSED_BY_ADMIN)


def _cancelled_job(world: World) -> None:
    cancel_generation(GenerationJob.objects.get(pk=world.ids["job"]))


def _live_run(world: World) -> None:
    world.ids["run"] = TrainingRun.objects.create(project=world.project).pk


def _ended_run(world: World) -> None:
    world.ids["run"] = TrainingRun.objects.create(project=world.project, status="succeeded").pk


def _judge(world: World) -> None:
    """The endpoint `judge-a` made a judge (its rater is a user; only these rows need it)."""
    world.ids["judge"] = make_judge(ModelEndpoint.objects.get(name="judge-a")).pk


def _members_view(response: Any) -> list[tuple[str, str]]:
    rows = _context(response, "rows")
    return [(r.membership.user.username, r.membership.role) for r in rows]


def _pair_view(response: Any) -> list[tuple[int, bool]]:
    rows = response.context["judgements"]
    return [(row["judgement"].pk, row["judgement"].is_valid) for row in rows]


def _body(response: Any) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


P = "/projects/{slug}"
A = "/api/projects/{slug}"
ACTIONS = [
    Action(
        "project-list",
        ("GET", "/"),
        ("GET", "/api/projects/"),
        level="user",
        page_view=lambda r: [p.slug for p in r.context["projects"]],
        api_view=lambda b: [p["slug"] for p in b["results"]],
    ),
    Action(
        "project-new",
        ("POST", "/projects/new"),
        ("POST", "/api/projects/"),
        level="creator",
        page_data=_new_project_form,
        api_data={"slug": "made", "name": "Made", "judgements_per_pair": 2},
    ),
    Action(
        "project-detail",
        ("GET", f"{P}/"),
        ("GET", f"{A}/"),
        level="member",
        page_view=lambda r: r.context["counts"],
        api_view=lambda b: b["counts"],
    ),
    Action(
        "project-settings",
        ("POST", f"{P}/settings"),
        ("PATCH", f"{A}/"),
        page_data=lambda w: _settings_form(
            w.project, judgements_per_pair=3, allow_tie=False, guidelines="Be *fair*."
        ),
        api_data={"judgements_per_pair": 3, "allow_tie": False, "guidelines": "Be *fair*."},
    ),
    Action(
        "project-settings",
        ("POST", f"{P}/settings"),
        ("PATCH", f"{A}/"),
        page_data=lambda w: _settings_form(w.project, judgements_per_pair=0),
        api_data={"judgements_per_pair": 0},
        expect={"admin": "refused", "staff": "refused"},
    ),
    Action("project-archive", ("POST", f"{P}/archive"), ("POST", f"{A}/archive")),
    Action(
        "project-archive",
        ("POST", f"{P}/archive"),
        ("POST", f"{A}/unarchive"),
        page_data={"archived": "no"},
        setup=_archived,
        # An archived project is seen by its admins only.
        expect={"annotator": "not_found"},
    ),
    Action(
        "project-delete",
        ("POST", f"{P}/delete"),
        ("DELETE", f"{A}/"),
        page_data={"confirm": "proj"},
    ),
    Action(
        "members",
        ("GET", f"{P}/members"),
        ("GET", f"{A}/members"),
        page_view=_members_view,
        api_view=lambda b: [(m["username"], m["role"]) for m in b],
    ),
    Action(
        "member-add",
        ("POST", f"{P}/members/add"),
        ("POST", f"{A}/members"),
        page_data={"user": "dave", "role": "annotator"},
        api_data={"username": "dave", "role": "annotator"},
    ),
    Action(
        "member-add",
        ("POST", f"{P}/members/add"),
        ("POST", f"{A}/members"),
        page_data={"user": "nobody", "role": "annotator"},
        api_data={"username": "nobody", "role": "annotator"},
        expect={"admin": "refused", "staff": "refused"},
    ),
    Action(
        "member-role",
        ("POST", P + "/members/{bob}/role"),
        ("PATCH", A + "/members/{bob}"),
        page_data={"role": "admin"},
        api_data={"role": "admin"},
    ),
    Action(
        "member-role",
        ("POST", P + "/members/{alice}/role"),
        ("PATCH", A + "/members/{alice}"),
        page_data={"role": "annotator"},
        api_data={"role": "annotator"},
        expect={"admin": "refused", "staff": "refused"},
    ),
    Action(
        "member-remove", ("POST", P + "/members/{bob}/remove"), ("DELETE", A + "/members/{bob}")
    ),
    Action(
        "member-remove",
        ("POST", P + "/members/{alice}/remove"),
        ("DELETE", A + "/members/{alice}"),
        expect={"admin": "refused", "staff": "refused"},
    ),
    Action(
        "member-invite",
        ("POST", f"{P}/members/invite"),
        ("POST", f"{A}/invitations"),
        page_data={"emails": "x@example.org, Y@example.org", "role": "admin"},
        api_data={"emails": ["x@example.org", "Y@example.org"], "role": "admin"},
    ),
    Action(
        "member-invite",
        ("POST", f"{P}/members/invite"),
        ("POST", f"{A}/invitations"),
        page_data={"emails": "x@example.org not-an-address", "role": "annotator"},
        api_data={"emails": "x@example.org not-an-address", "role": "annotator"},
        expect={"admin": "refused", "staff": "refused"},
    ),
    Action(
        "members",
        ("GET", f"{P}/members"),
        ("GET", f"{A}/invitations"),
        page_view=lambda r: [i.email for i in r.context["pending"]],
        api_view=lambda b: [i["email"] for i in b],
    ),
    Action(
        "invitation-revoke",
        ("POST", P + "/invitations/{invitation}/revoke"),
        ("DELETE", A + "/invitations/{invitation}"),
    ),
    Action(
        "invitation",
        ("POST", "/invitations/{token}"),
        ("POST", "/api/invitations/{token}/accept"),
        level="user",
        # Without an account the page offers to make one; the API needs a signed-in caller.
        personas=("outsider", "annotator", "admin", "staff"),
    ),
    Action(
        "pairs",
        ("GET", f"{P}/pairs?status=pending&sort=votes&gold=no"),
        ("GET", f"{A}/pairs?status=pending&sort=votes&gold=no"),
        page_view=lambda r: _ids(r.context["page"].rows),
        api_view=_api_ids,
    ),
    Action(
        "pairs",
        ("GET", f"{P}/pairs?status=bogus"),
        ("GET", f"{A}/pairs?status=bogus"),
        expect={"admin": "refused", "staff": "refused"},
    ),
    Action(
        "pair-detail",
        ("GET", P + "/pairs/{pair}"),
        ("GET", A + "/pairs/{pair}"),
        setup=_invalidated,
        page_view=_pair_view,
        api_view=lambda b: [(j["id"], j["valid"]) for j in b["judgements"]],
    ),
    Action(
        "pair-gold",
        ("POST", P + "/pairs/{pair}/gold"),
        ("PUT", A + "/pairs/{pair}/gold"),
        page_data={"label": "a"},
        api_data={"label": "a"},
    ),
    Action(
        "pair-gold",
        ("POST", P + "/pairs/{pair}/gold"),
        ("DELETE", A + "/pairs/{pair}/gold"),
        page_data={"label": ""},
        setup=_gold,
    ),
    Action(
        "pair-gold",
        ("POST", P + "/pairs/{pair}/gold"),
        ("PUT", A + "/pairs/{pair}/gold"),
        page_data={"label": "bogus"},
        api_data={"label": "bogus"},
        expect={"admin": "refused", "staff": "refused"},
    ),
    Action(
        "judgement-invalidate",
        ("POST", P + "/pairs/{pair}/judgements/{judgement}/invalidate"),
        ("POST", A + "/pairs/{pair}/judgements/{judgement}/invalidate"),
        page_data={"reason": "a bot"},
        api_data={"reason": "a bot"},
    ),
    Action(
        "judgement-invalidate",
        ("POST", P + "/pairs/{pair}/judgements/{judgement}/invalidate"),
        ("POST", A + "/pairs/{pair}/judgements/{judgement}/invalidate"),
        page_data={"reason": ""},
        api_data={"reason": ""},
        expect={"admin": "refused", "staff": "refused"},
    ),
    Action(
        "judgement-restore",
        ("POST", P + "/pairs/{pair}/judgements/{judgement}/restore"),
        ("POST", A + "/pairs/{pair}/judgements/{judgement}/restore"),
        setup=_invalidated,
    ),
    Action(
        "project-import",
        ("POST", f"{P}/import"),
        ("POST", f"{A}/imports"),
        page_data=_upload,
        api_data=_upload,
        api_format="multipart",
    ),
    Action(
        "project-import",
        ("POST", f"{P}/import"),
        ("POST", f"{A}/imports"),
        page_data={"format": "auto"},
        api_data={"format": "auto"},
        api_format="multipart",
        expect={"admin": "refused", "staff": "refused"},
    ),
    Action(
        "project-import",
        ("POST", f"{P}/import"),
        ("POST", f"{A}/imports"),
        page_data=_upload,
        api_data=_upload,
        api_format="multipart",
        setup=_archived,
        expect={"annotator": "not_found", "admin": "refused", "staff": "refused"},
    ),
    Action(
        "project-detail",
        ("GET", f"{P}/"),
        ("GET", f"{A}/imports"),
        # The project page lists the imports to its admins only.
        page_outcome=lambda r: r.context["is_admin"] and "ok" or "forbidden",
        page_view=lambda r: _ids(r.context["imports"]) if r.context["is_admin"] else "forbidden",
        api_view=_api_ids,
        expect={"annotator": "forbidden"},
    ),
    Action(
        "project-export",
        ("GET", f"{P}/export?format=judgements"),
        ("GET", f"{A}/export?format=judgements"),
        page_view=_body,
        api_view=_body,
    ),
    Action(
        "project-export",
        ("GET", f"{P}/export?format=bogus"),
        ("GET", f"{A}/export?format=bogus"),
        expect={"admin": "refused", "staff": "refused"},
    ),
    Action(
        "leaderboard",
        ("GET", f"{P}/leaderboard"),
        ("GET", f"{A}/leaderboard"),
        level="member",
        setup=_stored_statistics,
        page_view=lambda r: [m.model for m in r.context["board"].models],
        api_view=lambda b: [m["model"] for m in b["models"]],
    ),
    Action(
        "leaderboard-csv",
        ("GET", f"{P}/leaderboard.csv?length_control=1"),
        ("GET", f"{A}/leaderboard?length_control=1"),
        level="member",
        setup=_stored_statistics,
        page_view=lambda r: [line.split(",")[1] for line in r.content.decode().splitlines()[1:]],
        api_view=lambda b: [m["model"] for m in b["models"]],
    ),
    Action(
        "project-quality",
        ("GET", f"{P}/quality"),
        ("GET", f"{A}/quality"),
        setup=_stored_statistics,
        page_view=lambda r: [a["name"] for a in r.context["report"]["annotators"]],
        api_view=lambda b: [a["name"] for a in b["annotators"]],
    ),
    Action(
        "project-annotator-pause",
        ("POST", P + "/quality/annotators/{bob}/pause"),
        ("POST", A + "/annotators/{bob}/pause"),
        page_data={"reason": "too fast"},
        api_data={"reason": "too fast"},
    ),
    Action(
        "project-annotator-reinstate",
        ("POST", P + "/quality/annotators/{bob}/reinstate"),
        ("POST", A + "/annotators/{bob}/reinstate"),
        setup=_paused,
    ),
    Action(
        "annotate",
        ("GET", f"{P}/annotate"),
        ("POST", f"{A}/next"),
        level="member",
        # The page leases through this very endpoint (static/js/annotate.js), so only the API
        # call takes a lease: the answers are compared, the state is not.
        compare_state=False,
    ),
    Action(
        "models",
        ("GET", f"{P}/models"),
        ("GET", f"{A}/models"),
        setup=_stored_statistics,
        page_view=lambda r: [m.version for m in r.context["models"]],
        api_view=lambda b: [m["version"] for m in b["models"]],
    ),
    Action("models-retrain", ("POST", f"{P}/models/retrain"), ("POST", f"{A}/retrain")),
    Action(
        "models-activate",
        ("POST", P + "/models/{model}/activate"),
        ("POST", "/api/models/{model}/activate"),
    ),
    Action(
        "models-cancel-run",
        ("POST", P + "/models/runs/{run}/cancel"),
        ("POST", "/api/training-runs/{run}/cancel"),
        setup=_live_run,
    ),
    Action(
        "models-cancel-run",
        ("POST", P + "/models/runs/{run}/cancel"),
        ("POST", "/api/training-runs/{run}/cancel"),
        expect={"admin": "refused", "staff": "refused"},
        setup=_ended_run,
    ),
    Action(
        "webhooks",
        ("GET", f"{P}/webhooks"),
        ("GET", f"{A}/webhooks"),
        page_view=lambda r: _ids(r.context["subscriptions"]),
        api_view=_api_ids,
    ),
    Action(
        "webhook-add",
        ("POST", f"{P}/webhooks/add"),
        ("POST", f"{A}/webhooks"),
        page_data={"url": HOOKS, "events": ["pair.completed", "model.served"]},
        api_data={"url": HOOKS, "events": ["pair.completed", "model.served"]},
    ),
    Action(
        "webhook-add",
        ("POST", f"{P}/webhooks/add"),
        ("POST", f"{A}/webhooks"),
        page_data={"url": OUTSIDE, "events": ["pair.completed"]},
        api_data={"url": OUTSIDE, "events": ["pair.completed"]},
        expect={"admin": "refused", "staff": "refused"},
    ),
    Action(
        "webhook-detail",
        ("GET", P + "/webhooks/{webhook}"),
        ("GET", A + "/webhooks/{webhook}"),
        setup=_paused_webhook,
        page_view=lambda r: (r.context["subscription"].pk, r.context["subscription"].is_active),
        api_view=lambda b: (b["id"], b["is_active"]),
    ),
    Action(
        "webhook-update",
        ("POST", P + "/webhooks/{webhook}/update"),
        ("PATCH", A + "/webhooks/{webhook}"),
        page_data={"url": f"{HOOKS}/v2", "events": ["import.failed"]},
        api_data={"url": f"{HOOKS}/v2", "events": ["import.failed"]},
    ),
    Action(
        "webhook-update",
        ("POST", P + "/webhooks/{webhook}/update"),
        ("PATCH", A + "/webhooks/{webhook}"),
        page_data={"url": HOOKS, "events": ["pair.done"]},
        api_data={"url": HOOKS, "events": ["pair.done"]},
        expect={"admin": "refused", "staff": "refused"},
    ),
    Action(
        "webhook-pause",
        ("POST", P + "/webhooks/{webhook}/pause"),
        ("PATCH", A + "/webhooks/{webhook}"),
        api_data={"is_active": False},
    ),
    Action(
        "webhook-resume",
        ("POST", P + "/webhooks/{webhook}/resume"),
        ("PATCH", A + "/webhooks/{webhook}"),
        api_data={"is_active": True},
        setup=_paused_webhook,
    ),
    Action(
        "webhook-delete",
        ("POST", P + "/webhooks/{webhook}/delete"),
        ("DELETE", A + "/webhooks/{webhook}"),
    ),
    Action(
        "endpoints",
        ("GET", f"{P}/endpoints"),
        ("GET", f"{A}/endpoints"),
        page_view=lambda r: [e.name for e in r.context["endpoints"]],
        api_view=lambda b: [e["name"] for e in b],
    ),
    Action(
        "endpoint-add",
        ("POST", f"{P}/endpoints/add"),
        ("POST", f"{A}/endpoints"),
        page_data={"name": "policy-b", "base_url": MODELS, "model": "tiny", "concurrency": "2"},
        api_data={"name": "policy-b", "base_url": MODELS, "model": "tiny", "concurrency": 2},
    ),
    Action(
        "endpoint-add",
        ("POST", f"{P}/endpoints/add"),
        ("POST", f"{A}/endpoints"),
        page_data={"name": "policy-b", "base_url": OUTSIDE, "model": "tiny"},
        api_data={"name": "policy-b", "base_url": OUTSIDE, "model": "tiny"},
        expect={"admin": "refused", "staff": "refused"},
    ),
    Action(
        "endpoint-add",
        ("POST", f"{P}/endpoints/add"),
        ("POST", f"{A}/endpoints"),
        page_data={"name": "policy-a", "base_url": MODELS, "model": "tiny"},
        api_data={"name": "policy-a", "base_url": MODELS, "model": "tiny"},
        expect={"admin": "refused", "staff": "refused"},
    ),
    Action(
        "endpoint-edit",
        ("POST", P + "/endpoints/{endpoint}/edit"),
        ("PATCH", A + "/endpoints/{endpoint}"),
        page_data={"name": "policy-a", "base_url": MODELS, "model": "tiny-2", "concurrency": "3"},
        # The form sends every field: blank parameters and key variable clear them.
        api_data={
            "name": "policy-a",
            "base_url": MODELS,
            "model": "tiny-2",
            "concurrency": 3,
            "params": {},
            "api_key_env": "",
        },
    ),
    Action(
        "endpoint-edit",
        ("POST", P + "/endpoints/{endpoint}/edit"),
        ("PATCH", A + "/endpoints/{endpoint}"),
        page_data={"name": "policy-a", "base_url": OUTSIDE, "model": "tiny"},
        api_data={"name": "policy-a", "base_url": OUTSIDE, "model": "tiny"},
        expect={"admin": "refused", "staff": "refused"},
    ),
    Action(
        "endpoint-edit",
        ("POST", P + "/endpoints/{endpoint}/edit"),
        ("PATCH", A + "/endpoints/{endpoint}"),
        page_data={"name": "judge-a", "base_url": MODELS, "model": "tiny"},
        api_data={"name": "judge-a"},
        expect={"admin": "refused", "staff": "refused"},
    ),
    Action(
        "endpoint-delete",
        ("POST", P + "/endpoints/{endpoint}/delete"),
        ("DELETE", A + "/endpoints/{endpoint}"),
    ),
    Action(
        "generations",
        ("GET", f"{P}/generations"),
        ("GET", f"{A}/generations"),
        page_view=lambda r: _ids(r.context["jobs"]),
        api_view=_api_ids,
    ),
    Action(
        "generation-start",
        ("POST", f"{P}/generations/start"),
        ("POST", f"{A}/generations"),
        page_data={"endpoints": ["policy-a", "judge-a"], "samples": "2", "pairing": "all"},
        api_data={"endpoints": ["policy-a", "judge-a"], "samples": 2, "pairing": "all"},
    ),
    Action(
        "generation-start",
        ("POST", f"{P}/generations/start"),
        ("POST", f"{A}/generations"),
        # page_data strings are formatted with World.ids: the JSON's braces are doubled.
        page_data={"endpoints": ["policy-a"], "samples": "2", "params": '{{"temperature": 1.5}}'},
        api_data={"endpoints": ["policy-a"], "samples": 2, "params": {"temperature": 1.5}},
    ),
    Action(
        "generation-start",
        ("POST", f"{P}/generations/start"),
        ("POST", f"{A}/generations"),
        page_data={"endpoints": ["policy-a"], "samples": "2", "params": '{{"temperature": 9}}'},
        api_data={"endpoints": ["policy-a"], "samples": 2, "params": {"temperature": 9}},
        expect={"admin": "refused", "staff": "refused"},
    ),
    Action(
        "generation-start",
        ("POST", f"{P}/generations/start"),
        ("POST", f"{A}/generations"),
        page_data={"endpoints": ["nope"], "samples": "2", "pairing": "all"},
        api_data={"endpoints": ["nope"], "samples": 2, "pairing": "all"},
        expect={"admin": "refused", "staff": "refused"},
    ),
    Action(
        "generation-start",
        ("POST", f"{P}/generations/start"),
        ("POST", f"{A}/generations"),
        page_data={"endpoints": ["policy-a"], "samples": "2", "pairing": "all"},
        api_data={"endpoints": ["policy-a"], "samples": 2, "pairing": "all"},
        setup=_archived,
        expect={"annotator": "not_found", "admin": "refused", "staff": "refused"},
    ),
    Action(
        "generation-detail",
        ("GET", P + "/generations/{job}"),
        ("GET", A + "/generations/{job}"),
        page_view=lambda r: (r.context["job"].pk, r.context["job"].status),
        api_view=lambda b: (b["id"], b["status"]),
    ),
    Action(
        "generation-cancel",
        ("POST", P + "/generations/{job}/cancel"),
        ("POST", A + "/generations/{job}/cancel"),
    ),
    Action(
        "generation-resume",
        ("POST", P + "/generations/{job}/resume"),
        ("POST", A + "/generations/{job}/resume"),
        setup=_cancelled_job,
    ),
    Action(
        "project-judges",
        ("GET", f"{P}/judges"),
        ("GET", f"{A}/judges"),
        setup=_judge,
        # by endpoint: the judge is made again in each rolled-back savepoint, and PostgreSQL's
        # sequences do not roll back, so the page's and the API's judges have different ids
        page_view=lambda r: [judge.endpoint.name for judge in r.context["judges"]],
        api_view=lambda b: [j["endpoint"] for j in b],
    ),
    Action(
        "project-judges-action",
        ("POST", f"{P}/judges/make"),
        ("POST", f"{A}/judges"),
        page_data={"endpoint": "judge-a"},
        api_data={"endpoint": "judge-a"},
    ),
    Action(
        "project-judges-action",
        ("POST", f"{P}/judges/make"),
        ("POST", f"{A}/judges"),
        page_data={"endpoint": "nope"},
        api_data={"endpoint": "nope"},
        expect={"admin": "refused", "staff": "refused"},
    ),
    Action(
        "project-judges-action",
        ("POST", f"{P}/judges/edit"),
        ("PATCH", A + "/judges/{judge}"),
        page_data={
            "judge": "{judge}",
            "user_template": "Q: $conversation A: $answer_a B: $answer_b",
        },
        api_data={"user_template": "Q: $conversation A: $answer_a B: $answer_b"},
        setup=_judge,
    ),
    Action(
        "project-judges-action",
        ("POST", f"{P}/judges/edit"),
        ("PATCH", A + "/judges/{judge}"),
        page_data={"judge": "{judge}", "user_template": "$answer_a only"},
        api_data={"user_template": "$answer_a only"},
        setup=_judge,
        expect={"admin": "refused", "staff": "refused"},
    ),
    Action(
        "project-judges-action",
        ("POST", f"{P}/judges/run"),
        ("POST", A + "/judges/{judge}/runs"),
        page_data={"judge": "{judge}", "scope": "both"},
        api_data={"scope": "both"},
        setup=_judge,
    ),
    Action(
        "project-judges-action",
        ("POST", f"{P}/judges/settings"),
        ("POST", f"{A}/judges/settings"),
        page_data={"judge_votes_count": "true", "judge_settled_votes": "1"},
        api_data={"judge_votes_count": True, "judge_settled_votes": 1},
    ),
    Action(
        "project-judges-action",
        ("POST", f"{P}/judges/settings"),
        ("POST", f"{A}/judges/settings"),
        page_data={"judge_audit_share": "2"},
        api_data={"judge_audit_share": 2},
        expect={"admin": "refused", "staff": "refused"},
    ),
    Action(
        "project-judge-leaderboard",
        ("GET", P + "/judges/{judge}/leaderboard"),
        ("GET", A + "/judges/{judge}/leaderboard"),
        setup=_judge,
    ),
]

# Page URLs with no endpoint of their own, and why.
PAGE_ONLY = {
    ("project-new", "GET"): "the empty form; the API creates with POST /api/projects/",
    ("project-settings", "GET"): "the form; GET /api/projects/SLUG/ reads every setting",
    ("project-delete", "GET"): "the confirmation form; the API deletes with DELETE",
    ("markdown-preview", "POST"): "a live preview while typing guidelines; the API keeps Markdown",
    ("invitation", "GET"): "shows what the link grants before accepting it",
}


def _world(request: pytest.FixtureRequest, tmp_path: Path, django_user_model: Any) -> World:
    project = request.getfixturevalue("project")
    admin, annotator = request.getfixturevalue("admin"), request.getfixturevalue("annotator")
    staff = django_user_model.objects.create_superuser("root", password="root-pass")
    outsider = request.getfixturevalue("outsider")
    # dave annotates another of alice's projects, so alice may add him by name.
    dave = django_user_model.objects.create_user("dave")
    other = create_project(slug="other", admin=admin)
    Membership.objects.create(project=other, user=dave, role=Role.ANNOTATOR)
    make_pairs(project, tmp_path, 4)
    invited = invite_members(project, emails=["new@example.org"], role=Role.ANNOTATOR, by=admin)
    model = RewardModel.objects.create(project=project, version=1, mode="heads")
    pair = Pair.objects.filter(project=project).order_by("pk").first()
    assert pair is not None
    settings = request.getfixturevalue("settings")
    settings.OUTBOUND_HOSTS = ["hooks.example.com", "models.internal:8000"]
    webhook = Subscription.objects.create(
        project=project, url=HOOKS, events=["pair.completed"], secret="a-secret-of-sixteen"
    )
    endpoints = [
        ModelEndpoint.objects.create(project=project, name=name, base_url=MODELS, model="tiny")
        for name in ("policy-a", "judge-a")
    ]
    job = GenerationJob.objects.create(project=project, samples_per_prompt=2)
    users = {"outsider": outsider, "annotator": annotator, "admin": admin, "staff": staff}
    ids = {
        "slug": project.slug,
        "alice": admin.pk,
        "bob": annotator.pk,
        "pair": pair.pk,
        "judgement": pair.judgements.get().pk,
        "invitation": invited[0].invitation.pk,
        "token": invited[0].token,
        "model": model.pk,
        "webhook": webhook.pk,
        "endpoint": endpoints[0].pk,
        "job": job.pk,
    }
    return World(project, users, ids, tmp_path)


def _state() -> dict[str, Any]:
    """What a page or endpoint may change, without ids or times that differ between runs."""
    projects = Project.objects.order_by("slug")
    return {
        "projects": [
            (p.slug, p.archived_at is not None, p.deleted_at is not None)
            + tuple(getattr(p, name) for name in ["name", *ALL_SETTINGS])
            for p in projects
        ],
        "members": sorted(
            Membership.objects.values_list("project__slug", "user__username", "role")
        ),
        "paused": sorted(Membership.objects.exclude(paused_reason="").values_list("user_id")),
        "invitations": sorted(
            (email, role, used is not None, by)
            for email, role, used, by in Invitation.objects.values_list(
                "email", "role", "used_at", "used_by"
            )
        ),
        "judgements": sorted(
            (pk, invalidated is None, reason)
            for pk, invalidated, reason in Judgement.objects.values_list(
                "pk", "invalidated_at", "invalid_reason"
            )
        ),
        "pairs": sorted(Pair.objects.values_list("pk", "gold_label", "status", "judgement_count")),
        "imports": sorted(ImportJob.objects.values_list("original_name", "format", "status")),
        "runs": sorted(TrainingRun.objects.values_list("mode", "status")),
        "served": sorted(RewardModel.objects.filter(is_active=True).values_list("version")),
        "webhooks": sorted(
            Subscription.objects.values_list("url", "events", "is_active", "paused_reason"),
            key=str,
        ),
        "endpoints": sorted(
            ModelEndpoint.objects.values_list(
                *("name", "base_url", "model", "params", "api_key_env", "api_key_encrypted"),
                *("concurrency", "requests_per_minute", "timeout_s"),
            ),
            key=str,
        ),
        "generations": sorted(
            GenerationJob.objects.values_list("status", "samples_per_prompt", "pairing"),
        ),
        "generation_endpoints": sorted(
            GenerationJob.objects.values_list("status", "job_endpoints__endpoint__name"), key=str
        ),
        "judges": sorted(
            Judge.objects.values_list("endpoint__name", "user_template", "params"), key=str
        ),
        "judge_runs": sorted(
            JudgeRun.objects.values_list("judge__endpoint__name", "scope", "total")
        ),
    }


def _data(value: Any, world: World) -> Any:
    value = value(world) if callable(value) else value
    return {k: v.format(**world.ids) if isinstance(v, str) else v for k, v in value.items()}


def _page_outcome(response: HttpResponseBase) -> str:
    if response.status_code == 302 and response["Location"].startswith("/login/"):
        return "login"
    named = {400: "refused", 403: "forbidden", 404: "not_found"}
    if response.status_code in named:
        return named[response.status_code]
    assert response.status_code in (200, 302), response.status_code
    errors = [m for m in get_messages(response.wsgi_request) if m.level == constants.ERROR]  # type: ignore[attr-defined]
    return "refused" if errors else "ok"


def _api_outcome(response: Any) -> str:
    named = {400: "refused", 409: "refused", 401: "login", 403: "forbidden", 404: "not_found"}
    if response.status_code in named:
        return named[response.status_code]
    assert 200 <= response.status_code < 300, (response.status_code, response.content[:300])
    return "ok"


def _rolled_back(
    send: Callable[[Action, World, User | None], Any], action: Action, world: World, user: Any
) -> tuple[Any, Any]:
    """Send the request after the action's setup in a savepoint; the answer and the state left."""
    with transaction.atomic():
        if action.setup is not None:
            action.setup(world)
        response = send(action, world, user)
        state = _state()
        transaction.set_rollback(True)
    return response, state


def _page_client(user: User | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def _api_client(user: User | None) -> APIClient:
    client = APIClient()
    if user is not None:
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def _page_request(action: Action, world: World, user: User | None) -> HttpResponseBase:
    method, path = action.page
    client = _page_client(user)
    data = _data(action.page_data, world)
    url = path.format(**world.ids)
    return client.get(url) if method == "GET" else client.post(url, data)


def _api_request(action: Action, world: World, user: User | None) -> Any:
    method, path = action.api
    client = _api_client(user)
    call = getattr(client, method.lower())
    data = _data(action.api_data, world)
    url = path.format(**world.ids)
    if method == "GET":
        return call(url)
    return call(url, data, format=action.api_format)


def _expected(action: Action, persona: str) -> str:
    if persona == "anonymous":
        return action.expect.get(persona, "login")
    return action.expect.get(persona, LEVELS[action.level][persona])


@pytest.mark.parametrize("action", ACTIONS, ids=[a.key for a in ACTIONS])
def test_the_api_answers_every_page_action_alike_for_every_role(
    request: pytest.FixtureRequest, tmp_path: Path, django_user_model: Any, action: Action
) -> None:
    # given the project, its people, pairs, an open invitation and a model version
    world = _world(request, tmp_path, django_user_model)
    for persona in action.personas:
        user = world.users.get(persona)
        # when the page and the API are asked the same thing
        page, page_state = _rolled_back(_page_request, action, world, user)
        api, api_state = _rolled_back(_api_request, action, world, user)
        # then they answer alike, as this role's access says, and leave the same state
        read = action.page_outcome if action.page_outcome and page.status_code == 200 else None
        outcome = read(page) if read else _page_outcome(page)
        assert (persona, outcome) == (persona, _api_outcome(api))
        assert (persona, outcome) == (persona, _expected(action, persona))
        if action.compare_state:
            assert page_state == api_state, persona
        if outcome == "ok" and action.page_view is not None and action.api_view is not None:
            api_body = api if action.api_view is _body else api.json()
            assert action.page_view(page) == action.api_view(api_body), persona


# The workspace's page URL modules; an app that adds pages adds its module and rows here.
PAGE_URLCONFS = (
    "annotate.urls",
    "rewards.urls",
    "webhooks.urls",
    "generation.urls",
    "generation.judges_urls",
)


def _page_url_names() -> list[str]:
    """The name of every page URL of the workspace."""
    return [
        pattern.name
        for urlconf in PAGE_URLCONFS
        for pattern in get_resolver(urlconf).url_patterns
        if isinstance(pattern, URLPattern) and pattern.name
    ]


def test_every_page_url_has_an_endpoint_or_says_why_not() -> None:
    covered = {a.name for a in ACTIONS} | {name for name, _ in PAGE_ONLY}
    missing = [name for name in _page_url_names() if name not in covered]
    assert not missing, f"page URLs with no API twin in ACTIONS (or reason in PAGE_ONLY): {missing}"
