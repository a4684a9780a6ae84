"""A pair's priority and reward margin move to PairRank, a narrow table the triggers here keep
in step with the pairs; the pair table loses the indexes that served them, and a unique
constraint that `one_pair_per_key` already implies. Judgements and responses lose the indexes
other indexes cover, and index their review and edit links only where set, so an imported row
writes fewer index entries.

A re-rank rewrites every pending pair's priority. On the pair table each rewrite added an entry
to each of its indexes (a dozen); a PairRank row has four. Triggers add a pair's row when the pair
is inserted (by any writer: imports, edits, the API, tests) and copy its status and tiebreak when
they change. PostgreSQL adds the rows of a statement at once from its transition table.

On SQLite a later migration that rebuilds `annotate_pair` drops these triggers: such a migration
must create them again (tests/annotate/test_pair_rank_triggers.py fails if one is missing).
"""

from __future__ import annotations

import importlib
from typing import Any

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

# SQLite rebuilds annotate_pair (to drop its unique constraint) and annotate_judgement (to
# change its columns' indexes), which the judgement counters' triggers are on or name; they are
# dropped for the rebuilds and created again after them.
_counters = importlib.import_module("annotate.migrations.0011_judging_counters")

_FOLLOW = (
    "UPDATE annotate_pairrank SET pending = (NEW.status = 'pending'), tiebreak = NEW.tiebreak,"
    " project_id = NEW.project_id WHERE pair_id = NEW.id;"
)
_CHANGED = (
    "OLD.status {op} NEW.status OR OLD.tiebreak {op} NEW.tiebreak"
    " OR OLD.project_id {op} NEW.project_id"
)

PG_INSTALL = [
    """
    CREATE OR REPLACE FUNCTION annotate_pair_ranked() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO annotate_pairrank (pair_id, project_id, pending, priority, tiebreak)
        SELECT id, project_id, status = 'pending', 0.0, tiebreak FROM new_rows;
        RETURN NULL;
    END $$;
    """,
    """
    CREATE TRIGGER annotate_pair_ranked AFTER INSERT ON annotate_pair
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION annotate_pair_ranked();
    """,
    f"""
    CREATE OR REPLACE FUNCTION annotate_pair_rank_follows() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        {_FOLLOW}
        RETURN NULL;
    END $$;
    """,
    f"""
    CREATE TRIGGER annotate_pair_rank_follows
    AFTER UPDATE OF status, tiebreak, project_id ON annotate_pair
    FOR EACH ROW WHEN ({_CHANGED.format(op="IS DISTINCT FROM")})
    EXECUTE FUNCTION annotate_pair_rank_follows();
    """,
]
PG_UNINSTALL = [
    "DROP TRIGGER IF EXISTS annotate_pair_ranked ON annotate_pair",
    "DROP TRIGGER IF EXISTS annotate_pair_rank_follows ON annotate_pair",
    "DROP FUNCTION IF EXISTS annotate_pair_ranked()",
    "DROP FUNCTION IF EXISTS annotate_pair_rank_follows()",
]
SQLITE_INSTALL = [
    """
    CREATE TRIGGER IF NOT EXISTS annotate_pair_ranked AFTER INSERT ON annotate_pair
    BEGIN
        INSERT INTO annotate_pairrank (pair_id, project_id, pending, priority, tiebreak)
        VALUES (NEW.id, NEW.project_id, NEW.status = 'pending', 0.0, NEW.tiebreak);
    END
    """,
    f"""
    CREATE TRIGGER IF NOT EXISTS annotate_pair_rank_follows
    AFTER UPDATE OF status, tiebreak, project_id ON annotate_pair
    WHEN {_CHANGED.format(op="IS NOT")}
    BEGIN {_FOLLOW} END
    """,
]
SQLITE_UNINSTALL = [
    "DROP TRIGGER IF EXISTS annotate_pair_ranked",
    "DROP TRIGGER IF EXISTS annotate_pair_rank_follows",
]
# Every existing pair's row, with the values its pair held.
COPY = (
    "INSERT INTO annotate_pairrank"
    " (pair_id, project_id, pending, priority, tiebreak, reward_margin, margin_version)"
    " SELECT id, project_id, status = 'pending', priority, tiebreak, reward_margin,"
    " margin_version FROM annotate_pair"
)
# Back again, for a reverse migration.
RESTORE = (
    "UPDATE annotate_pair SET priority = r.priority, reward_margin = r.reward_margin,"
    " margin_version = r.margin_version FROM annotate_pairrank r WHERE r.pair_id = annotate_pair.id"
)


_run = _counters._run  # each vendor's statements, or NotImplementedError


def install(apps: Any, schema_editor: Any) -> None:
    _run(schema_editor, {"postgresql": PG_INSTALL, "sqlite": SQLITE_INSTALL})


def uninstall(apps: Any, schema_editor: Any) -> None:
    _run(schema_editor, {"postgresql": PG_UNINSTALL, "sqlite": SQLITE_UNINSTALL})


def counters_off(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "sqlite":
        _run(schema_editor, {"sqlite": _counters.SQLITE_UNINSTALL})


def counters_on(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "sqlite":
        _run(schema_editor, {"sqlite": _counters.SQLITE_INSTALL})


def copy(apps: Any, schema_editor: Any) -> None:
    schema_editor.execute(COPY, params=None)


def restore(apps: Any, schema_editor: Any) -> None:
    schema_editor.execute(RESTORE, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("annotate", "0014_judgement_shape_gold_review_and_edit_rules"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="PairRank",
            fields=[
                (
                    "pair",
                    models.OneToOneField(
                        db_constraint=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="rank",
                        serialize=False,
                        to="annotate.pair",
                    ),
                ),
                ("project_id", models.BigIntegerField()),
                ("pending", models.BooleanField(default=True)),
                ("priority", models.FloatField(default=0.0, help_text="Higher is served first.")),
                ("tiebreak", models.BigIntegerField(default=0)),
                ("reward_margin", models.FloatField(blank=True, null=True)),
                ("margin_version", models.BigIntegerField(blank=True, null=True)),
            ],
        ),
        migrations.RunPython(copy, restore),
        migrations.RunPython(counters_off, counters_on),
        migrations.RemoveConstraint(
            model_name="pair",
            name="one_pair_per_responses",
        ),
        migrations.RemoveIndex(
            model_name="pair",
            name="pair_pending_queue",
        ),
        migrations.RemoveIndex(
            model_name="pair",
            name="pair_by_priority",
        ),
        migrations.RemoveIndex(
            model_name="pair",
            name="pair_by_margin",
        ),
        migrations.RemoveField(
            model_name="pair",
            name="margin_version",
        ),
        migrations.RemoveField(
            model_name="pair",
            name="priority",
        ),
        migrations.RemoveField(
            model_name="pair",
            name="reward_margin",
        ),
        migrations.AddIndex(
            model_name="pairrank",
            index=models.Index(
                models.F("project_id"),
                models.OrderBy(models.F("priority"), descending=True),
                models.F("tiebreak"),
                condition=models.Q(("pending", True)),
                name="pairrank_queue",
            ),
        ),
        migrations.AddIndex(
            model_name="pairrank",
            index=models.Index(
                models.F("project_id"),
                models.OrderBy(models.F("priority"), descending=True),
                models.OrderBy(models.F("pair"), descending=True),
                name="pairrank_by_priority",
            ),
        ),
        migrations.AddIndex(
            model_name="pairrank",
            index=models.Index(
                condition=models.Q(("margin_version__isnull", False)),
                fields=["project_id", "margin_version", "reward_margin", "pair"],
                name="pairrank_by_margin",
            ),
        ),
        migrations.AlterField(
            model_name="judgement",
            name="annotator",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="judgements",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AlterField(
            model_name="judgement",
            name="client_id",
            field=models.CharField(max_length=100),
        ),
        migrations.AlterField(
            model_name="judgement",
            name="edit",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="annotate.response",
            ),
        ),
        migrations.AlterField(
            model_name="judgement",
            name="invalidated_by",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AlterField(
            model_name="judgement",
            name="pair",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="judgements",
                to="annotate.pair",
            ),
        ),
        migrations.AlterField(
            model_name="response",
            name="author",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AlterField(
            model_name="response",
            name="parent",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="edits",
                to="annotate.response",
            ),
        ),
        migrations.AddIndex(
            model_name="judgement",
            index=models.Index(
                condition=models.Q(("edit__isnull", False)), fields=["edit"], name="judgement_edit"
            ),
        ),
        migrations.AddIndex(
            model_name="judgement",
            index=models.Index(
                condition=models.Q(("invalidated_by__isnull", False)),
                fields=["invalidated_by"],
                name="judgement_reviewer",
            ),
        ),
        migrations.AddIndex(
            model_name="response",
            index=models.Index(
                condition=models.Q(("parent__isnull", False)),
                fields=["parent"],
                name="response_edits",
            ),
        ),
        migrations.AddIndex(
            model_name="response",
            index=models.Index(
                condition=models.Q(("author__isnull", False)),
                fields=["author"],
                name="response_author",
            ),
        ),
        migrations.RunPython(counters_on, counters_off),
        migrations.RunPython(install, uninstall),
    ]
