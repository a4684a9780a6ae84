"""Full-text indexes for the data browser's text search, on Postgres only.

The expressions match what annotate/browsing.py's SearchVector(..., config="english") emits, so
the planner can use them; SQLite searches with LIKE and gets no index.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

INDEXES = {
    "response_text_search": (
        "annotate_response",
        "to_tsvector('english'::regconfig, COALESCE(text, ''))",
    ),
    "prompt_text_search": (
        "annotate_prompt",
        "to_tsvector('english'::regconfig, COALESCE((messages)::text, ''))",
    ),
}


def create(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, (table, expression) in INDEXES.items():
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin (({expression}))"
        )


def drop(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("annotate", "0003_i13_review_archive_invitations")]

    operations = [migrations.RunPython(create, drop)]
