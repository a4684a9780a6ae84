"""Filling the stored search documents of prompts and responses, after the rows are committed.

On PostgreSQL a text's `search_document` (migration 0016) is NULL until `index_texts` fills it,
so an import never parses its texts for search; until then search parses the unindexed texts
itself (annotate/review/browsing.py), and finds them all. SQLite searches with LIKE and has no
documents.
"""

from __future__ import annotations

import time

from django.db import connection, transaction

from annotate.models import Project

# Rows per transaction: a batch's row locks and WAL stay small (about a second of to_tsvector),
# and a beat arriving mid-run takes the next batch instead of waiting for the whole backlog.
BATCH = 2000

# A table that had at least this many rows filled in one run is vacuumed after: each filled row
# leaves its old version in the partial index of unindexed rows, which every search reads, until
# vacuum removes it (autovacuum waits for a fifth of the table to change).
VACUUM_AFTER = 10_000

# The data browser counts a project's unindexed texts up to this many ("over 10000" past it).
UNINDEXED_SHOWN = 10_000

# A text is searched in its first this many characters: PostgreSQL refuses a document over 1 MB,
# and one text it refused would stop the indexing of every later one.
SEARCHED_CHARS = 200_000
# A run stops after this long, so it never holds a worker for a whole backlog; beat's next run
# (every 30 s) goes on from there.
RUN_SECONDS = 25.0

# Table -> the document of a row: the same expressions search falls back on for unindexed rows
# (browsing._text_matches).
DOCUMENTS = {
    "annotate_response": (
        f"to_tsvector('english'::regconfig, COALESCE(LEFT(text, {SEARCHED_CHARS}), ''))"
    ),
    "annotate_prompt": (
        f"to_tsvector('english'::regconfig, COALESCE(LEFT((messages)::text, {SEARCHED_CHARS}), ''))"
    ),
}


def index_texts(*, batch: int = BATCH, seconds: float = RUN_SECONDS) -> int:
    """Fill the search documents still missing, in every project, for at most about `seconds`;
    return how many were filled.

    Safe to run in several workers at once: each batch skips the rows another one holds.
    """
    if connection.vendor != "postgresql":
        return 0
    filled = 0
    deadline = time.monotonic() + seconds
    for table, document in DOCUMENTS.items():
        done = _fill(table, document, batch=batch, deadline=deadline)
        if done >= VACUUM_AFTER and not connection.in_atomic_block:
            with connection.cursor() as cursor:
                cursor.execute(f"VACUUM (ANALYZE) {table}")
        filled += done
    return filled


def _fill(table: str, document: str, *, batch: int, deadline: float) -> int:
    """Fill the table's missing documents, a batch a transaction, until none is left or the
    deadline passes; return how many."""
    filled = 0
    # Each batch starts past the last: the rows just filled stay in the partial index as dead
    # entries until vacuum, and scanning them again from the start would make a large backlog
    # quadratic.
    after = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"WITH done AS (UPDATE {table} SET search_document = {document}"
                f" WHERE id IN (SELECT id FROM {table}"
                "   WHERE search_document IS NULL AND id > %s"
                "   ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED)"
                " RETURNING id) SELECT count(*), max(id) FROM done",
                [after, batch],
            )
            row = cursor.fetchone()
        assert row is not None  # an aggregate always returns its row
        done, last = row
        if not done:
            break
        filled += done
        after = last
        if time.monotonic() > deadline:
            break
    return filled


def unindexed_count(project: Project, *, cap: int) -> int:
    """How many of the project's prompts and responses have no search document yet.

    Counts at most `cap + 1` (more than `cap` reads "over cap"), through the partial indexes on
    the unindexed rows; always 0 on SQLite.
    """
    if connection.vendor != "postgresql":
        return 0
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT count(*) FROM (SELECT 1 FROM annotate_prompt"
            "   WHERE search_document IS NULL AND project_id = %s LIMIT %s) AS p)"
            " + (SELECT count(*) FROM (SELECT 1 FROM annotate_response r"
            "   JOIN annotate_prompt p ON p.id = r.prompt_id"
            "   WHERE r.search_document IS NULL AND p.project_id = %s LIMIT %s) AS r)",
            [project.pk, cap + 1, project.pk, cap + 1],
        )
        row = cursor.fetchone()
    assert row is not None  # one row, always
    return min(int(row[0]), cap + 1)
