"""Rewriting the priorities of pending pairs from cached per-response scores, set by set.

Each chunk of pending pairs is read together with both responses' ensemble scores in one
query, turned into priorities with numpy, loaded into a temporary table (COPY on PostgreSQL)
and written with one `UPDATE ... FROM`: no ORM objects and no statement per pair. Each chunk
commits on its own, so annotators never wait on a long-held lock on the whole queue.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import orjson
from django.db import connection, transaction

from annotate.models import Pair, PairStatus
from rewards.ml.acquisition import acquisition_scores, rank_quantiles
from rewards.models import ResponseScore

# Pairs per chunk: about 10 MB of scores in Python, and a lock held for well under a second.
CHUNK = 50_000
_TEMP = "rerank_priority"


def rewrite_priorities(project_id: int, *, model_id: int, seed: int, strategy: str) -> int:
    """Set every pending pair's priority, and every scored pair's reward margin, from the
    model's scores of its two responses.

    Priorities are rank quantiles over all the scored pending pairs together (one ranking,
    however many chunks are read), so a priority means the same wherever it was read. Pairs
    with an unscored response keep their priority. The margin (|reward a - reward b|, tagged
    with the model) is what the data browser's margin sort reads. Returns the number of
    pending pairs written.
    """
    # The AI judges' order is written by their runs (generation/judges_steering.py), not here:
    # a re-rank then only refreshes the margins.
    judges_order = strategy == "judges"
    chunks = (
        [
            (
                np.asarray(pair_ids, dtype=np.int64),
                acquisition_scores(strategy, a, b, seed=[seed, page]),
                margins,
            )
            for page, (pair_ids, a, b, margins) in enumerate(
                _scored_pairs(project_id, model_id, pending=True)
            )
        ]
        if not judges_order
        else []
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {_TEMP} (pair_id bigint PRIMARY KEY,"
            " priority double precision, margin double precision NOT NULL)"
        )
    try:
        written = 0
        if chunks:
            ids = np.concatenate([pair_ids for pair_ids, _, _ in chunks])
            values = rank_quantiles(np.concatenate([scores for _, scores, _ in chunks]))
            margins = np.concatenate([margins for _, _, margins in chunks])
            for start in range(0, len(ids), CHUNK):
                part = slice(start, start + CHUNK)
                _apply(ids[part].tolist(), values[part], margins[part], model_id=model_id)
            written = len(ids)
        kept = (False, True) if judges_order else (False,)
        for pair_ids, _, _, margins in (
            row for pending in kept for row in _scored_pairs(project_id, model_id, pending=pending)
        ):
            _apply(pair_ids, None, margins, model_id=model_id)
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {_TEMP}")
    return written


def _scored_pairs(
    project_id: int, model_id: int, *, pending: bool
) -> Iterator[tuple[list[int], np.ndarray, np.ndarray, np.ndarray]]:
    """Yield (pair ids, member scores of a, of b, |mean a - mean b|) for the pending pairs (or
    the others) whose responses the model scored, CHUNK at a time, by id."""
    members = "members::text" if connection.vendor == "postgresql" else "members"
    status = "=" if pending else "<>"
    query = (
        f"SELECT p.id, sa.{members}, sb.{members}, sa.mean - sb.mean "
        f"FROM {Pair._meta.db_table} p "
        f"JOIN {ResponseScore._meta.db_table} sa "
        "ON sa.response_id = p.response_a_id AND sa.model_id = %s "
        f"JOIN {ResponseScore._meta.db_table} sb "
        "ON sb.response_id = p.response_b_id AND sb.model_id = %s "
        f"WHERE p.project_id = %s AND p.status {status} %s AND p.id > %s ORDER BY p.id LIMIT %s"
    )
    last = 0
    while True:
        with connection.cursor() as cursor:
            cursor.execute(query, [model_id, model_id, project_id, PairStatus.PENDING, last, CHUNK])
            rows = cursor.fetchall()
        if not rows:
            return
        last = rows[-1][0]
        yield (
            [row[0] for row in rows],
            np.array([orjson.loads(row[1]) for row in rows], dtype=np.float64),
            np.array([orjson.loads(row[2]) for row in rows], dtype=np.float64),
            np.abs(np.array([row[3] for row in rows], dtype=np.float64)),
        )


def _apply(
    pair_ids: list[int], priorities: np.ndarray | None, margins: np.ndarray, *, model_id: int
) -> None:
    """Write the chunk's priorities (None: keep them) and margins in one UPDATE ... FROM."""
    values = [None] * len(pair_ids) if priorities is None else priorities.tolist()
    rows = list(zip(pair_ids, values, margins.tolist(), strict=True))
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {_TEMP}")
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {_TEMP} (pair_id, priority, margin) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            cursor.executemany(
                f"INSERT INTO {_TEMP} (pair_id, priority, margin) VALUES (%s, %s, %s)", rows
            )
        table = Pair._meta.db_table
        cursor.execute(
            f"UPDATE {table} SET priority = COALESCE(t.priority, {table}.priority),"
            " reward_margin = t.margin, margin_version = %s"
            f" FROM {_TEMP} t WHERE {table}.id = t.pair_id",
            [model_id],
        )
