"""Every list page and API list reads one bounded page with a fixed number of statements.

The query-count pins of the whole product's lists: each list costs the same statements with a
few rows as with many (no N+1), answers at most a page of rows, and the cursor of each keyset
API list walks to the end seeing each row once while rows are added meanwhile.
"""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from unittest.mock import patch
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.apps import apps
from django.contrib.auth.models import User
from django.core.cache import cache
from django.db import connection
from django.db.models import F, QuerySet, Value
from django.db.models.functions import Mod
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from annotate.admin_paging import CappedPaginator
from annotate.models import ImportJob, Invitation, Membership, Pair, PairRank, Project, Role
from annotate.projects.lifecycle import create_project
from annotate.review.actions import invalidate_judgement, restore_judgement
from annotate.review.browsing import SORTS
from generation.judges_models import Judge, JudgeRun
from generation.models import GenerationJob, ModelEndpoint
from rewards.models import RewardModel, TrainingRun
from tests.annotate.workspace_support import judge_next
from tests.conftest import client_for
from tests.factories import make_pairs
from webhooks.models import Attempt, Delivery, Subscription

FEW, MANY = 3, 60
# The largest page any list answers.
PAGE = 50


@dataclass
class World:
    """A project with one of every parent a list hangs from."""

    admin: User
    project: Project
    judge: Judge
    webhook: Subscription
    tmp_path: Path
    grown: int = 0

    def ids(self) -> dict[str, Any]:
        return {"slug": self.project.slug, "judge": self.judge.pk, "webhook": self.webhook.pk}


def _endpoint(world: World, name: str) -> ModelEndpoint:
    return ModelEndpoint.objects.create(
        project=world.project, name=name, base_url="http://127.0.0.1:9/v1", model="m"
    )


def _judge(world: World, name: str) -> Judge:
    rater = User.objects.create_user(f"rater-{name}")
    judge = Judge.objects.create(
        project=world.project, endpoint=_endpoint(world, name), rater=rater
    )
    JudgeRun.objects.create(judge=judge, status="succeeded")
    return judge


def grow_pairs(world: World, start: int, n: int) -> None:
    make_pairs(world.project, world.tmp_path, n, prefix=f"g{start}")


def grow_ranked_pairs(world: World, start: int, n: int) -> None:
    """Pairs with a priority and a reward margin under the served version, as a re-rank writes."""
    grow_pairs(world, start, n)
    served = RewardModel.objects.served(world.project)
    assert served is not None
    PairRank.objects.filter(project_id=world.project.pk).update(
        priority=Mod(F("pair_id"), 7) / Value(7.0),
        reward_margin=Mod(F("pair_id"), 5) / Value(4.0),
        margin_version=served.pk,
    )


def grow_imports(world: World, start: int, n: int) -> None:
    ImportJob.objects.bulk_create(
        ImportJob(project=world.project, created_by=world.admin, original_name=f"f{start + i}")
        for i in range(n)
    )


def grow_members(world: World, start: int, n: int) -> None:
    users = User.objects.bulk_create(User(username=f"member-{start + i}") for i in range(n))
    Membership.objects.bulk_create(
        Membership(project=world.project, user=u, role=Role.ANNOTATOR) for u in users
    )


def grow_judged_members(world: World, start: int, n: int) -> None:
    """Members who have judged (the progress endpoint lists each with their count)."""
    users = User.objects.bulk_create(User(username=f"judge-{start + i}") for i in range(n))
    Membership.objects.bulk_create(
        Membership(project=world.project, user=u, role=Role.ANNOTATOR, judgement_count=i + 1)
        for i, u in enumerate(users)
    )


def grow_invitations(world: World, start: int, n: int) -> None:
    expires = timezone.now() + timedelta(days=7)
    Invitation.objects.bulk_create(
        Invitation(
            project=world.project,
            email=f"person{start + i}@example.org",
            token_hash=uuid.uuid4().hex,
            created_by=world.admin,
            expires_at=expires,
        )
        for i in range(n)
    )


def grow_projects(world: World, start: int, n: int) -> None:
    for i in range(n):
        create_project(slug=f"more-{start + i}", name=f"More {start + i}", admin=world.admin)


def grow_models(world: World, start: int, n: int) -> None:
    for i in range(n):
        model = RewardModel.objects.create(
            project=world.project, version=start + i + 1, mode="heads", backbone="tiny"
        )
        TrainingRun.objects.create(project=world.project, status="succeeded", model=model)


def grow_endpoints(world: World, start: int, n: int) -> None:
    for i in range(n):
        _endpoint(world, f"extra-{start + i}")


def grow_generations(world: World, start: int, n: int) -> None:
    GenerationJob.objects.bulk_create(
        GenerationJob(project=world.project, created_by=world.admin) for _ in range(n)
    )


def grow_judges(world: World, start: int, n: int) -> None:
    for i in range(n):
        _judge(world, f"judge-{start + i}")


def grow_judge_runs(world: World, start: int, n: int) -> None:
    JudgeRun.objects.bulk_create(JudgeRun(judge=world.judge) for _ in range(n))


def grow_webhooks(world: World, start: int, n: int) -> None:
    Subscription.objects.bulk_create(
        Subscription(
            project=world.project, url=f"https://hooks.example.com/{start + i}", events=["x"]
        )
        for i in range(n)
    )


def grow_deliveries(world: World, start: int, n: int) -> None:
    now = timezone.now()
    rows = Delivery.objects.bulk_create(
        Delivery(subscription=world.webhook, event="pair.completed", body="{}", next_attempt_at=now)
        for _ in range(n)
    )
    Attempt.objects.bulk_create(Attempt(delivery=d, number=k) for d in rows for k in (1, 2))


@dataclass(frozen=True)
class Listing:
    url: str
    grow: Callable[[World, int, int], None]
    # Rows to start from: the models page reads the random-slice figures of the latest ten
    # versions (rewards/overview.py), so it is measured from past ten.
    few: int = FEW

    @property
    def api(self) -> bool:
        return self.url.startswith("/api/")


API_LISTS = {
    "pairs": Listing("/api/projects/{slug}/pairs", grow_pairs),
    "imports": Listing("/api/projects/{slug}/imports", grow_imports),
    "members": Listing("/api/projects/{slug}/members", grow_members),
    "stats": Listing("/api/projects/{slug}/stats", grow_judged_members),
    "invitations": Listing("/api/projects/{slug}/invitations", grow_invitations),
    "projects": Listing("/api/projects/", grow_projects),
    "models": Listing("/api/projects/{slug}/models", grow_models, few=12),
    "endpoints": Listing("/api/projects/{slug}/endpoints", grow_endpoints),
    "generations": Listing("/api/projects/{slug}/generations", grow_generations),
    "judges": Listing("/api/projects/{slug}/judges", grow_judges),
    "judge-runs": Listing("/api/projects/{slug}/judges/{judge}/runs", grow_judge_runs),
    "webhooks": Listing("/api/projects/{slug}/webhooks", grow_webhooks),
    "deliveries": Listing("/api/projects/{slug}/webhooks/{webhook}/deliveries", grow_deliveries),
}
PAGES = {
    "project-list": Listing("/", grow_projects),
    "project-imports": Listing("/projects/{slug}/", grow_imports),
    "project-members": Listing("/projects/{slug}/", grow_members),
    "pairs-page": Listing("/projects/{slug}/pairs", grow_pairs),
    "members-page": Listing("/projects/{slug}/members", grow_members),
    "invitations-page": Listing("/projects/{slug}/members", grow_invitations),
    "models-page": Listing("/projects/{slug}/models", grow_models, few=12),
    "endpoints-page": Listing("/projects/{slug}/endpoints", grow_endpoints),
    "generations-page": Listing("/projects/{slug}/generations", grow_generations),
    "judges-page": Listing("/projects/{slug}/judges", grow_judges),
    "judge-runs-page": Listing("/projects/{slug}/judges", grow_judge_runs),
    "webhooks-page": Listing("/projects/{slug}/webhooks", grow_webhooks),
    "deliveries-page": Listing("/projects/{slug}/webhooks/{webhook}", grow_deliveries),
}


# Lists answered whole: they grow with the people and servers a project's admins add, not
# with its data (members and invitations keep the array the client reads; the models overview
# lists every version beside the learning curve; the progress endpoint, each member who judged).
WHOLE = {"members", "invitations", "endpoints", "judges", "models", "stats"}
# Lists that page by keyset, `{next, cursor, results}`, and the rows each one lists.
KEYSET: dict[str, Callable[[World], QuerySet[Any]]] = {
    "pairs": lambda w: Pair.objects.filter(project=w.project),
    "imports": lambda w: ImportJob.objects.filter(project=w.project),
    "generations": lambda w: GenerationJob.objects.filter(project=w.project),
    "judge-runs": lambda w: JudgeRun.objects.filter(judge=w.judge),
    "webhooks": lambda w: Subscription.objects.filter(project=w.project),
    "deliveries": lambda w: Delivery.objects.filter(subscription=w.webhook),
}


@pytest.fixture
def world(admin: User, project: Project, tmp_path: Path) -> World:
    made = World(admin, project, judge=None, webhook=None, tmp_path=tmp_path)  # type: ignore[arg-type]
    made.judge = _judge(made, "first-judge")
    made.webhook = Subscription.objects.create(
        project=project, url="https://hooks.example.com/first", events=["pair.completed"]
    )
    return made


def _get(world: World, listing: Listing) -> tuple[int, Any]:
    """The statements one GET of the list runs, and its answer (warmed up once first)."""
    url = listing.url.format(**world.ids())
    client: Any = client_for(world.admin)
    if not listing.api:
        client = Client()
        client.force_login(world.admin)
    client.get(url)  # caches that outlive a request (model names, the served model) are filled
    with CaptureQueriesContext(connection) as queries:
        answer = client.get(url)
    assert answer.status_code == 200, answer.content[:500]
    return len(queries), answer


def _grow(world: World, listing: Listing, n: int) -> None:
    listing.grow(world, world.grown, n)
    world.grown += n


@pytest.mark.django_db
@pytest.mark.parametrize("name", [*API_LISTS, *PAGES])
def test_a_list_costs_the_same_statements_with_few_rows_as_with_many(
    world: World, name: str
) -> None:
    listing = {**API_LISTS, **PAGES}[name]
    # given a few rows
    _grow(world, listing, listing.few)
    few, _ = _get(world, listing)
    # when there are many
    _grow(world, listing, MANY - listing.few)
    many, answer = _get(world, listing)
    # then the list runs the same statements, and a paged API list answers at most a page
    assert many == few, f"{name}: {few} statements with {listing.few} rows, {many} with {MANY}"
    if listing.api and name not in WHOLE:
        body = answer.json()
        assert set(body) >= {"next", "results"} and len(body["results"]) <= PAGE


# The pairs lists by each sort the data browser offers: its own, and the served version's
# reward margin (rewards' pair_sorts receiver), each a keyset over an index.
PAIR_LISTS = {"pairs": API_LISTS["pairs"], "pairs-page": PAGES["pairs-page"]}
PAIR_SORTS = [*SORTS, "margin"]
# Pairs a browser page holds here, so that a few pairs fill more than one page.
PAIRS_PAGE = 2


def _next_query(listing: Listing, answer: Any) -> dict[str, str]:
    """The query string of the page after `answer`, as the answer links it."""
    if listing.api:
        link = answer.json()["next"]
    else:
        found = re.search(r'<a class="button" href="([^"]+)">Next page', answer.content.decode())
        link = html.unescape(found.group(1)) if found else None
    assert link, "a next page is linked"
    return dict(parse_qsl(urlsplit(link).query))


def _pairs_get(world: World, listing: Listing, sort: str, page: int) -> tuple[list[str], Any]:
    """The statements of one GET of page 1 or 2 of the pairs by `sort`, after a warm-up."""
    url = listing.url.format(**world.ids())
    client: Any = client_for(world.admin)
    if not listing.api:
        client = Client()
        client.force_login(world.admin)
    query = {"sort": sort}
    if page == 2:
        query = _next_query(listing, client.get(url, query))
    client.get(url, query)
    with CaptureQueriesContext(connection) as queries:
        answer = client.get(url, query)
    assert answer.status_code == 200, answer.content[:500]
    return [q["sql"] for q in queries.captured_queries], answer


@pytest.mark.django_db
@pytest.mark.parametrize("page", [1, 2])
@pytest.mark.parametrize("sort", PAIR_SORTS)
@pytest.mark.parametrize("name", sorted(PAIR_LISTS))
def test_each_sort_of_the_pairs_and_its_next_page_cost_the_same_statements_with_many_rows(
    world: World, name: str, sort: str, page: int
) -> None:
    listing = PAIR_LISTS[name]
    grown = Listing(listing.url, grow_ranked_pairs)
    RewardModel.objects.create(
        project=world.project, version=1, mode="heads", backbone="tiny", is_active=True
    )
    with patch("annotate.review.browsing.PAGE_SIZE", PAIRS_PAGE):
        # given a few ranked pairs, more than a page
        _grow(world, grown, FEW)
        few, _ = _pairs_get(world, listing, sort, page)
        # when there are many
        _grow(world, grown, MANY - FEW)
        many, answer = _pairs_get(world, listing, sort, page)
    # then the page by this sort runs the same statements, reads by key (never an OFFSET),
    # and holds a page of rows
    assert len(many) == len(few), f"{name} by {sort}, page {page}: {len(few)}, then {len(many)}"
    assert not [sql for sql in many if " OFFSET " in sql.upper()]
    if listing.api:
        assert len(answer.json()["results"]) == PAIRS_PAGE


@pytest.mark.django_db
@pytest.mark.parametrize("large", [False, True], ids=["names-read-now", "names-stored"])
def test_the_pairs_page_with_its_model_names_cold_costs_the_same_statements_with_many_rows(
    world: World, large: bool
) -> None:
    listing = PAGES["pairs-page"]

    def cold_get() -> list[str]:
        """The statements of the page after its model-name suggestions left the cache."""
        client = Client()
        client.force_login(world.admin)
        url = listing.url.format(**world.ids())
        client.get(url)
        cache.clear()
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        return [q["sql"] for q in queries.captured_queries]

    # given a few pairs, of a project small enough to read its source models now or (large)
    # one whose names come from the counts the worker stored
    with patch("annotate.projects.counts.COUNT_NOW_BELOW", 1 if large else 10**9):
        _grow(world, listing, FEW)
        few = cold_get()
        # when there are many
        _grow(world, listing, MANY - FEW)
        many = cold_get()
    # then the page reads its suggestions where the project's size says, with the same statements
    source = "statisticssnapshot" if large else "responsesource"
    assert [sql for sql in many if source in sql], f"the names are read from {source}"
    assert len(many) == len(few), f"{len(few)} statements with {FEW} pairs, {len(many)} with {MANY}"


def test_every_api_list_is_paged_or_said_to_be_whole() -> None:
    # the project list is DRF's limit/offset page over the caller's own projects
    assert set(API_LISTS) == WHOLE | set(KEYSET) | {"projects"}


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(KEYSET))
def test_walking_a_list_by_its_cursor_shows_each_row_once_while_rows_are_added(
    world: World, name: str
) -> None:
    listing = API_LISTS[name]
    # given more than two pages of rows
    _grow(world, listing, 2 * PAGE + 7)
    before = set(KEYSET[name](world).values_list("pk", flat=True))
    client = client_for(world.admin)
    url: str | None = listing.url.format(**world.ids())
    seen: list[int] = []
    # when the cursor is followed to the end, with rows added after each page
    while url is not None:
        body = client.get(url).json()
        seen += [row["id"] for row in body["results"]]
        assert len(body["results"]) <= PAGE
        url = body["next"]
        assert (url is None) == (body["cursor"] is None)
        _grow(world, listing, 2)
    # then each row there before the walk was shown once, and no row twice
    assert len(seen) == len(set(seen))
    assert before <= set(seen)


@pytest.mark.django_db
def test_the_members_list_counts_valid_judgements_from_the_kept_count(
    admin: User, annotator: User, project: Project, tmp_path: Path
) -> None:
    # given bob's three judgements, one of them invalidated by review
    make_pairs(project, tmp_path, 3, labelled=False)
    made = [judge_next(annotator, project) for _ in range(3)]
    invalidate_judgement(made[0], by=admin, reason="too fast")
    # when the members are listed
    rows = client_for(admin).get(f"/api/projects/{project.slug}/members").json()
    # then bob counts two; restored, three
    counts = {row["username"]: row["judgements"] for row in rows}
    assert counts == {"alice": 0, "bob": 2, "carol": 0}
    assert Membership.objects.get(project=project, user=annotator).judgement_count == 3
    restore_judgement(made[0], by=admin)
    rows = client_for(admin).get(f"/api/projects/{project.slug}/members").json()
    assert {row["username"]: row["judgements"] for row in rows}["bob"] == 3


# The admin's changelists over the big tables, all grown by importing labelled pairs.
ADMIN_LISTS = ["pair", "judgement", "response"]


def _admin_get(client: Client, url: str) -> tuple[list[str], Any]:
    """The statements one GET of an admin changelist runs (warmed up once), and its answer."""
    client.get(url)
    with CaptureQueriesContext(connection) as queries:
        answer = client.get(url)
    assert answer.status_code == 200, answer.content[:500]
    return [q["sql"] for q in queries.captured_queries], answer


@pytest.mark.django_db
@pytest.mark.parametrize("model", ADMIN_LISTS)
def test_an_admin_changelist_costs_the_same_statements_and_counts_only_up_to_its_cap(
    world: World, admin_client: Client, model: str
) -> None:
    url = f"/admin/annotate/{model}/"
    # given a few rows
    _grow(world, PAGES["pairs-page"], FEW)
    few, _ = _admin_get(admin_client, url)
    # when there are many
    _grow(world, PAGES["pairs-page"], MANY - FEW)
    many, answer = _admin_get(admin_client, url)
    # then a superuser's page runs the same statements, and each count stops at the cap
    assert len(many) == len(few), f"{model}: {len(few)} statements, then {len(many)}"
    counts = [sql for sql in many if "COUNT(" in sql.upper()]
    assert counts, "the paginator counts"
    assert all(f"LIMIT {CappedPaginator.cap + 1}" in sql.upper() for sql in counts), counts
    # and the page lists the newest row
    newest = apps.get_model("annotate", model).objects.latest("pk")
    assert f"/admin/annotate/{model}/{newest.pk}/change/" in answer.content.decode()


@pytest.mark.django_db
def test_an_admin_changelist_offers_no_page_beyond_its_cap(
    world: World, admin_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given twice as many pairs as a cap of two pages
    monkeypatch.setattr(CappedPaginator, "cap", 2 * PAGE)
    monkeypatch.setattr("annotate.admin.PairAdmin.list_per_page", PAGE)
    _grow(world, PAGES["pairs-page"], 4 * PAGE)
    # when the pages up to the cap and the one past it are asked for
    within = admin_client.get("/admin/annotate/pair/", {"p": 2})
    beyond = admin_client.get("/admin/annotate/pair/", {"p": 3})
    # then the last page within the cap renders, and the admin turns the one past it away
    assert within.status_code == 200
    assert beyond.status_code == 302 and beyond["Location"].endswith("?e=1")


@pytest.mark.django_db
@pytest.mark.parametrize("model", ADMIN_LISTS)
def test_an_admin_changelist_offers_no_bulk_delete(
    world: World, admin_client: Client, model: str
) -> None:
    # given a big table's changelist with rows
    _grow(world, PAGES["pairs-page"], FEW)
    # when a superuser opens it
    _, answer = _admin_get(admin_client, f"/admin/annotate/{model}/")
    # then "delete selected" is not offered: "select all" would reach past the capped count
    assert 'value="delete_selected"' not in answer.content.decode()
