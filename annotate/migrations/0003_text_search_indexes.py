"""Full-text indexes for the data browser's text search, on PostgreSQL only.

The expressions match what annotate/browsing.py's SearchVector(..., config="english") emits, so
the planner can use them; SQLite searches with LIKE and gets no index. Raw SQL because Django's
GinIndex would put them in the model state, and SQLite cannot build them.
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
        # IF NOT EXISTS: a database part-way along the replaced chain may have them already.
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin (({expression}))"
        )


def drop(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    replaces = [
        ("annotate", "0004_i13_text_search_indexes"),
        ("annotate", "0005_i13_merge_i9"),
        ("annotate", "0007_merge_i13"),
        ("annotate", "0008_merge_i14"),
    ]

    dependencies = [
        ("annotate", "0002_quality_review_and_invitations"),
    ]

    operations = [migrations.RunPython(create, drop)]
