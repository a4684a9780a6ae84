"""The squashed migrations: a new database takes them, an older one is handed over to them.

Each test moves the annotate and rewards tables of the test database back and forth, and leaves
them fully migrated for the tests after it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import pytest
from django.apps.registry import Apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder

from annotate.models import Invitation

Key = tuple[str, str]

APPS = ("annotate", "rewards")
ZERO: list[tuple[str, str | None]] = [("rewards", None), ("annotate", None)]
# Where the chain before the squash ended: a database migrated then has exactly these leaves.
OLD_LEAVES: list[Key] = [
    ("annotate", "0013_invitation_names_an_address"),
    ("rewards", "0005_merge_i14"),
]
SQUASHED: list[Key] = [
    ("annotate", "0001_projects_pairs_and_judgements"),
    ("annotate", "0002_quality_review_and_invitations"),
    ("annotate", "0003_text_search_indexes"),
    ("annotate", "0004_import_progress_and_reward_margins"),
    ("annotate", "0005_invitations_name_an_address"),
    ("rewards", "0001_reward_models_and_runs"),
    ("rewards", "0002_evaluations_and_external_models"),
]


def _later() -> list[Key]:
    """Migrations written after the squash: every database takes them the ordinary way."""
    graph = MigrationLoader(None).graph
    return sorted(key for key in graph.nodes if key[0] in APPS and key not in SQUASHED)


# Each test rebuilds the two apps' tables a few times (5 to 15 s on SQLite).
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _executor(*, old_chain: bool = False) -> MigrationExecutor:
    """An executor on the current graph, or on the old chain with no squashed migration in use."""
    executor = MigrationExecutor(connection)
    if old_chain:
        executor.loader = MigrationLoader(connection, replace_migrations=False)
    return executor


def _leaves() -> list[Key]:
    graph = _executor().loader.graph
    return [key for app in APPS for key in graph.leaf_nodes(app)]


def _pending() -> list[Key]:
    """What `migrate` would apply to annotate and rewards now."""
    executor = _executor()
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [(m.app_label, m.name) for m, _ in plan if m.app_label in APPS]


def _migrate_old_chain(targets: list[Key]) -> Apps:
    """Apply the pre-squash migrations up to `targets`, as the code before the squash did.

    Returns the models as they stood there.
    """
    state = _executor(old_chain=True).migrate(targets)
    # `migrate` records a squashed migration once all it replaces are applied; code from before
    # the squash never wrote those rows.
    names = [name for _, name in SQUASHED]
    MigrationRecorder(connection).migration_qs.filter(app__in=APPS, name__in=names).delete()
    return state.apps


def _schema() -> dict[str, Any]:
    """Columns, constraints and indexes of the annotate and rewards tables.

    SQLite numbers the checks it declares inline in column order (`__unnamed_constraint_3__`),
    which differs between the two paths, so those are compared without their names.
    """
    introspection = connection.introspection
    schema: dict[str, Any] = {}
    with connection.cursor() as cursor:
        for table in introspection.table_names(cursor):
            if not table.startswith(tuple(f"{app}_" for app in APPS)):
                continue
            columns = {
                c.name: (str(c.type_code), c.null_ok, c.default)
                for c in introspection.get_table_description(cursor, table)
            }
            constraints = introspection.get_constraints(cursor, table)
            named = {n: c for n, c in constraints.items() if not n.startswith("__unnamed")}
            unnamed = sorted(
                json.dumps(c, sort_keys=True, default=str)
                for n, c in constraints.items()
                if n.startswith("__unnamed")
            )
            schema[table] = {"columns": columns, "named": named, "unnamed": unnamed}
    return schema


@pytest.fixture
def scratch_schema(transactional_db: None) -> Iterator[None]:
    """Start with no annotate or rewards tables; end with every app's, however the test ends.

    Taking annotate to zero also takes the apps built on it (webhooks, generation) back.
    """
    _executor().migrate(ZERO)
    yield
    executor = _executor()
    executor.migrate(executor.loader.graph.leaf_nodes())


@cache
def _new_database_schema() -> dict[str, Any]:
    """The schema the squashed migrations build from nothing (built once, by the first caller)."""
    _executor().migrate(ZERO)
    _executor().migrate(_leaves())
    schema = _schema()
    _executor().migrate(ZERO)
    return schema


def test_it_builds_a_new_database_through_the_squashed_migrations(scratch_schema: None) -> None:
    # when
    plan = _pending()
    _executor().migrate(_leaves())

    # then
    assert sorted(plan) == sorted(SQUASHED + _later())
    assert _pending() == []
    schema = _schema()
    assert "email" in schema["annotate_invitation"]["columns"]
    assert schema["annotate_pair"]["named"]["pair_pending_random"]["index"]
    postgres = connection.vendor == "postgresql"
    named = schema["annotate_response"]["named"]
    assert ("annotate_response_search_document" in named) == postgres
    assert "response_text_search" not in named
    try:
        call_command("makemigrations", *APPS, check=True, dry_run=True, verbosity=0)
    except SystemExit:
        pytest.fail("the models differ from what the migrations build: run makemigrations")


def test_it_takes_a_database_built_by_the_old_chain_as_up_to_date(scratch_schema: None) -> None:
    # given
    expected = _new_database_schema()
    _migrate_old_chain(OLD_LEAVES)

    # when
    pending = _pending()
    call_command("migrate", verbosity=0)

    # then only what came after the squash is left to apply, and the schemas then agree
    assert sorted(pending) == _later()
    assert _schema() == expected
    applied = MigrationRecorder(connection).applied_migrations()
    assert all(key in applied for key in SQUASHED)


@pytest.mark.parametrize(
    ("stopped_at", "next_steps"),
    [
        # Inside what the first two squashed steps replace: the old files finish those.
        (
            [("annotate", "0003_i13_review_archive_invitations")],
            [("annotate", "0003_i9_one_job_status"), ("annotate", "0004_i11_quality")],
        ),
        # Exactly what each app's first squashed step replaces: the squashed steps take over.
        (
            [
                ("annotate", "0005_merge_i10"),
                ("annotate", "0004_i14_random_slice"),
                ("rewards", "0003_i9_one_job_status"),
            ],
            [
                ("annotate", "0002_quality_review_and_invitations"),
                ("rewards", "0002_evaluations_and_external_models"),
            ],
        ),
        # Everything but the last step.
        (
            [("annotate", "0012_pair_pending_random")],
            [("annotate", "0005_invitations_name_an_address")],
        ),
    ],
)
def test_it_finishes_a_database_left_part_way_along_the_old_chain(
    scratch_schema: None, stopped_at: list[Key], next_steps: list[Key]
) -> None:
    # given
    expected = _new_database_schema()
    _migrate_old_chain(stopped_at)

    # when
    pending = _pending()
    call_command("migrate", verbosity=0)

    # then
    assert set(next_steps) <= set(pending)
    assert _pending() == []
    assert _schema() == expected


def test_it_converts_invitations_made_before_the_last_step(scratch_schema: None) -> None:
    # given an invitation that made an account in advance, as invitations did then
    old = _migrate_old_chain([("annotate", "0012_pair_pending_random")])
    placeholder = old.get_model(settings.AUTH_USER_MODEL).objects.create(
        username="invited", email="Invited@Example.org", password="!unusable"
    )
    project = old.get_model("annotate", "Project").objects.create(name="P", slug="p")
    old.get_model("annotate", "Membership").objects.create(
        project=project, user=placeholder, role="admin"
    )
    old.get_model("annotate", "Invitation").objects.create(
        project=project,
        user=placeholder,
        token_hash="0" * 64,
        expires_at=datetime.now(UTC) + timedelta(days=7),
    )

    # when the squashed last step runs (not the replaced one: none of what it replaces is applied)
    call_command("migrate", verbosity=0)

    # then its data steps ran: the address and role moved onto the invitation
    invitation = Invitation.objects.get()
    assert (invitation.email, invitation.role, invitation.used_by) == (
        "invited@example.org",
        "admin",
        None,
    )
    assert not get_user_model().objects.filter(username="invited").exists()
