"""Each membership counts its user's judgements in the project, kept by database triggers;
an index of each annotator's open leases.

The progress counter of every judging request read two COUNT(*)s over the annotator's history;
it now reads `Membership.judgement_count`. Triggers on the judgement table keep the count for
every writer (judging, imports through bulk_create, review, deletes) without any of them having
to remember it. PostgreSQL counts per statement from the transition tables, so an import of many
rows costs one UPDATE per (project, annotator); SQLite has row triggers only.

On SQLite a later migration that rebuilds `annotate_judgement` or `annotate_membership` drops
their triggers: such a migration must create them again (tests/annotate/test_judging_counters.py
fails if a trigger is missing).
"""

from __future__ import annotations

from typing import Any

from django.db import migrations, models
from django.db.models.functions import Coalesce

# Adds (or takes) each (project, annotator)'s rows of a transition table to their count.
_PG_DELTA = """
    UPDATE annotate_membership AS m SET judgement_count = GREATEST(m.judgement_count {sign} d.n, 0)
    FROM (
        SELECT p.project_id, j.annotator_id, count(*) AS n
        FROM {rows} AS j JOIN annotate_pair AS p ON p.id = j.pair_id
        WHERE j.annotator_id IS NOT NULL {changed}
        GROUP BY p.project_id, j.annotator_id
    ) AS d
    WHERE m.project_id = d.project_id AND m.user_id = d.annotator_id;
"""
_PG_CHANGED = (
    "AND EXISTS (SELECT 1 FROM {other} AS o WHERE o.id = j.id"
    " AND (o.pair_id <> j.pair_id OR o.annotator_id IS DISTINCT FROM j.annotator_id))"
)

_PG_OLD_CHANGED = _PG_CHANGED.format(other="new_rows")
_PG_NEW_CHANGED = _PG_CHANGED.format(other="old_rows")

PG_INSTALL = [
    f"""
    CREATE OR REPLACE FUNCTION annotate_count_judgements() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            {_PG_DELTA.format(sign="+", rows="new_rows", changed="")}
        ELSIF TG_OP = 'DELETE' THEN
            {_PG_DELTA.format(sign="-", rows="old_rows", changed="")}
        ELSE
            {_PG_DELTA.format(sign="-", rows="old_rows", changed=_PG_OLD_CHANGED)}
            {_PG_DELTA.format(sign="+", rows="new_rows", changed=_PG_NEW_CHANGED)}
        END IF;
        RETURN NULL;
    END $$;
    """,
    """
    CREATE TRIGGER annotate_judgement_counted AFTER INSERT ON annotate_judgement
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION annotate_count_judgements();
    """,
    """
    CREATE TRIGGER annotate_judgement_uncounted AFTER DELETE ON annotate_judgement
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION annotate_count_judgements();
    """,
    """
    CREATE TRIGGER annotate_judgement_recounted AFTER UPDATE ON annotate_judgement
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION annotate_count_judgements();
    """,
    # A membership made after its user's votes were imported starts from their count.
    """
    CREATE OR REPLACE FUNCTION annotate_membership_starts_counted() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        NEW.judgement_count := (
            SELECT count(*) FROM annotate_judgement AS j
            JOIN annotate_pair AS p ON p.id = j.pair_id
            WHERE j.annotator_id = NEW.user_id AND p.project_id = NEW.project_id
        );
        RETURN NEW;
    END $$;
    """,
    """
    CREATE TRIGGER annotate_membership_counted BEFORE INSERT ON annotate_membership
    FOR EACH ROW EXECUTE FUNCTION annotate_membership_starts_counted();
    """,
]
PG_UNINSTALL = [
    "DROP TRIGGER IF EXISTS annotate_judgement_counted ON annotate_judgement",
    "DROP TRIGGER IF EXISTS annotate_judgement_uncounted ON annotate_judgement",
    "DROP TRIGGER IF EXISTS annotate_judgement_recounted ON annotate_judgement",
    "DROP TRIGGER IF EXISTS annotate_membership_counted ON annotate_membership",
    "DROP FUNCTION IF EXISTS annotate_count_judgements()",
    "DROP FUNCTION IF EXISTS annotate_membership_starts_counted()",
]


def _sqlite_delta(sign: str, row: str) -> str:
    return f"""
        UPDATE annotate_membership SET judgement_count = max(judgement_count {sign} 1, 0)
        WHERE user_id = {row}.annotator_id
          AND project_id = (SELECT project_id FROM annotate_pair WHERE id = {row}.pair_id);
    """


SQLITE_INSTALL = [
    f"""
    CREATE TRIGGER IF NOT EXISTS annotate_judgement_counted AFTER INSERT ON annotate_judgement
    WHEN NEW.annotator_id IS NOT NULL
    BEGIN {_sqlite_delta("+", "NEW")} END
    """,
    f"""
    CREATE TRIGGER IF NOT EXISTS annotate_judgement_uncounted AFTER DELETE ON annotate_judgement
    WHEN OLD.annotator_id IS NOT NULL
    BEGIN {_sqlite_delta("-", "OLD")} END
    """,
    f"""
    CREATE TRIGGER IF NOT EXISTS annotate_judgement_recounted
    AFTER UPDATE OF pair_id, annotator_id ON annotate_judgement
    WHEN OLD.pair_id IS NOT NEW.pair_id OR OLD.annotator_id IS NOT NEW.annotator_id
    BEGIN {_sqlite_delta("-", "OLD")} {_sqlite_delta("+", "NEW")} END
    """,
    """
    CREATE TRIGGER IF NOT EXISTS annotate_membership_counted AFTER INSERT ON annotate_membership
    BEGIN
        UPDATE annotate_membership SET judgement_count = (
            SELECT count(*) FROM annotate_judgement AS j
            JOIN annotate_pair AS p ON p.id = j.pair_id
            WHERE j.annotator_id = NEW.user_id AND p.project_id = NEW.project_id
        ) WHERE id = NEW.id;
    END
    """,
]
SQLITE_UNINSTALL = [
    "DROP TRIGGER IF EXISTS annotate_judgement_counted",
    "DROP TRIGGER IF EXISTS annotate_judgement_uncounted",
    "DROP TRIGGER IF EXISTS annotate_judgement_recounted",
    "DROP TRIGGER IF EXISTS annotate_membership_counted",
]


def _run(schema_editor: Any, statements: dict[str, list[str]]) -> None:
    vendor = schema_editor.connection.vendor
    if vendor not in statements:
        raise NotImplementedError(f"these triggers have no {vendor} version")
    for sql in statements[vendor]:
        schema_editor.execute(sql, params=None)


def install(apps: Any, schema_editor: Any) -> None:
    _run(schema_editor, {"postgresql": PG_INSTALL, "sqlite": SQLITE_INSTALL})


def uninstall(apps: Any, schema_editor: Any) -> None:
    _run(schema_editor, {"postgresql": PG_UNINSTALL, "sqlite": SQLITE_UNINSTALL})


def backfill(apps: Any, schema_editor: Any) -> None:
    """Every membership's count from the judgements already stored."""
    Judgement = apps.get_model("annotate", "Judgement")
    Membership = apps.get_model("annotate", "Membership")
    counts = (
        Judgement.objects.filter(
            annotator_id=models.OuterRef("user_id"), pair__project_id=models.OuterRef("project_id")
        )
        .order_by()
        .values("annotator_id")
        .annotate(n=models.Count("pk"))
        .values("n")
    )
    Membership.objects.update(judgement_count=Coalesce(models.Subquery(counts), 0))


class Migration(migrations.Migration):
    dependencies = [
        ("annotate", "0010_statistics_snapshots"),
    ]

    operations = [
        migrations.AddField(
            model_name="membership",
            name="judgement_count",
            field=models.PositiveIntegerField(default=0, editable=False),
        ),
        migrations.AddIndex(
            model_name="assignment",
            index=models.Index(
                condition=models.Q(("closed_at__isnull", True)),
                fields=["annotator", "expires_at"],
                name="assignment_open_by_annotator",
            ),
        ),
        migrations.RunPython(install, uninstall),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
