"""Full-text search reads a stored tsvector that a worker fills after an import, on PostgreSQL only.

Computing to_tsvector inside an import's INSERT (for 0003's expression indexes) was a fifth of a
large import's time. Now each prompt and response has a `search_document` column, NULL until
annotate/review/text_index.py fills it, with a GIN index on it; a partial index on the rows still
NULL is both the worker's to-do list and how search finds the texts it must still parse itself
(annotate/review/browsing.py). A trigger sets the column back to NULL when a text changes, so a
stored document never describes an older text. Rows already present start NULL and the worker
indexes them.

Raw SQL, as in 0003: Django would put the column and indexes in the model state, and SQLite
(which searches with LIKE) has no tsvector.
"""

from __future__ import annotations

import importlib
from typing import Any

from django.db import migrations

_search_indexes = importlib.import_module("annotate.migrations.0003_text_search_indexes")

# Table -> the column whose change makes its document stale.
TABLES = {"annotate_response": "text", "annotate_prompt": "messages"}


def _install(table: str, column: str) -> list[str]:
    return [
        f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS search_document tsvector",
        f"CREATE INDEX IF NOT EXISTS {table}_search_document ON {table}"
        " USING gin (search_document)",
        f"CREATE INDEX IF NOT EXISTS {table}_unindexed ON {table} (id)"
        " WHERE search_document IS NULL",
        f"""
        CREATE OR REPLACE FUNCTION {table}_text_changed() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            NEW.search_document := NULL;
            RETURN NEW;
        END $$;
        """,
        f"DROP TRIGGER IF EXISTS {table}_text_changed ON {table}",
        f"""
        CREATE TRIGGER {table}_text_changed BEFORE UPDATE OF {column} ON {table}
        FOR EACH ROW WHEN (OLD.{column} IS DISTINCT FROM NEW.{column})
        EXECUTE FUNCTION {table}_text_changed();
        """,
    ]


def _uninstall(table: str) -> list[str]:
    return [
        f"DROP TRIGGER IF EXISTS {table}_text_changed ON {table}",
        f"DROP FUNCTION IF EXISTS {table}_text_changed()",
        # Dropping the column drops its indexes.
        f"ALTER TABLE {table} DROP COLUMN IF EXISTS search_document",
    ]


def forwards(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for table, column in TABLES.items():
        for sql in _install(table, column):
            schema_editor.execute(sql)
    _search_indexes.drop(apps, schema_editor)


def backwards(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    _search_indexes.create(apps, schema_editor)
    for table in TABLES:
        for sql in _uninstall(table):
            schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [
        ("annotate", "0015_pair_ranks_in_a_narrow_table"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
