"""Rewriting the priorities of pending pairs from cached per-response scores, set by set.

The project's pending pairs are read with both responses' ensemble scores in one streamed
query (a server-side cursor on PostgreSQL), CHUNK rows at a time, and turned into priorities
with numpy. Every new value is loaded into one temporary table (COPY on PostgreSQL), then
written by id range, CHUNK pairs per `UPDATE ... FROM` and per transaction, so annotators never
wait on a long-held lock on the whole queue. The values live in PairRank, a narrow table with
four indexes, not in the pair table with its dozen. A pair whose priority and margin are already
what the model says is not rewritten: each rewrite is a new row version and an entry in every
index. Memory is the few numbers per pair the ranking needs, not rows of Python.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import orjson
from django.db import connection, transaction

from annotate.models import Pair, PairRank, PairStatus
from rewards.ml.acquisition import acquisition_scores, rank_quantiles
from rewards.models import ResponseScore

# Pairs per fetch and per UPDATE: a few MB of scores in Python, a lock held well under a second.
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
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {_TEMP}")
        cursor.execute(
            f"CREATE TEMPORARY TABLE {_TEMP} (pair_id bigint PRIMARY KEY,"
            " priority double precision, margin double precision NOT NULL)"
        )
    try:
        written = 0
        if not judges_order:
            ids, values, margins = _ranked(project_id, model_id, seed=seed, strategy=strategy)
            _load(ids, values, margins)
            written = len(ids)
        kept = (False, True) if judges_order else (False,)
        for pending in kept:
            for pair_ids, _, _, margins in _scored_pairs(project_id, model_id, pending=pending):
                _load(pair_ids, None, margins)
        _write(model_id)
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {_TEMP}")
    return written


def _ranked(
    project_id: int, model_id: int, *, seed: int, strategy: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pair ids, priorities, margins) of the scored pending pairs, by id."""
    ids: list[np.ndarray] = []
    scores: list[np.ndarray] = []
    margins: list[np.ndarray] = []
    for page, (pair_ids, a, b, margin) in enumerate(
        _scored_pairs(project_id, model_id, pending=True)
    ):
        ids.append(pair_ids)
        # The page seeds the random strategies: the same pages as ever, so the same draws.
        scores.append(acquisition_scores(strategy, a, b, seed=[seed, page]))
        margins.append(margin)
    if not ids:
        empty = np.zeros(0)
        return np.zeros(0, dtype=np.int64), empty, empty
    return np.concatenate(ids), rank_quantiles(np.concatenate(scores)), np.concatenate(margins)


def _scored_pairs(
    project_id: int, model_id: int, *, pending: bool
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Yield (pair ids, member scores of a, of b, |mean a - mean b|) for the pending pairs (or
    the others) whose responses the model scored, CHUNK at a time, by id, from one query."""
    members = "members::text" if connection.vendor == "postgresql" else "members"
    status = "=" if pending else "<>"
    query = (
        f"SELECT p.id, sa.{members}, sb.{members}, sa.mean - sb.mean "
        f"FROM {Pair._meta.db_table} p "
        f"JOIN {ResponseScore._meta.db_table} sa "
        "ON sa.response_id = p.response_a_id AND sa.model_id = %s "
        f"JOIN {ResponseScore._meta.db_table} sb "
        "ON sb.response_id = p.response_b_id AND sb.model_id = %s "
        f"WHERE p.project_id = %s AND p.status {status} %s ORDER BY p.id"
    )
    # A server-side cursor: the rows come CHUNK at a time, not all at once.
    with connection.chunked_cursor() as cursor:
        cursor.execute(query, [model_id, model_id, project_id, PairStatus.PENDING])
        while rows := cursor.fetchmany(CHUNK):
            yield (
                np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows)),
                np.array([orjson.loads(row[1]) for row in rows], dtype=np.float64),
                np.array([orjson.loads(row[2]) for row in rows], dtype=np.float64),
                np.abs(np.fromiter((row[3] for row in rows), dtype=np.float64, count=len(rows))),
            )


def _load(pair_ids: np.ndarray, priorities: np.ndarray | None, margins: np.ndarray) -> None:
    """Add rows (pair id, new priority or None to keep it, margin) to the temporary table."""
    with connection.cursor() as cursor:
        for start in range(0, len(pair_ids), CHUNK):
            part = slice(start, start + CHUNK)
            ids = pair_ids[part].tolist()
            values = [None] * len(ids) if priorities is None else priorities[part].tolist()
            rows = zip(ids, values, margins[part].tolist(), strict=True)
            if connection.vendor == "postgresql":
                copy_sql = f"COPY {_TEMP} (pair_id, priority, margin) FROM STDIN"
                with cursor.cursor.copy(copy_sql) as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                cursor.executemany(
                    f"INSERT INTO {_TEMP} (pair_id, priority, margin) VALUES (%s, %s, %s)",
                    list(rows),
                )


def _write(model_id: int) -> None:
    """Write the loaded values, CHUNK pairs of consecutive ids per UPDATE and transaction."""
    table = PairRank._meta.db_table
    priority = f"COALESCE(t.priority, {table}.priority)"
    # Rows already holding these values are left alone (a re-rank by the same model).
    update = (
        f"UPDATE {table} SET priority = {priority}, reward_margin = t.margin,"
        f" margin_version = %s FROM {_TEMP} t WHERE {table}.pair_id = t.pair_id"
        f" AND t.pair_id >= %s AND t.pair_id <= %s AND {table}.pair_id >= %s"
        f" AND {table}.pair_id <= %s"
        # (a margin is never negative and a model id never 0: the COALESCEs stand for NULL)
        f" AND NOT ({table}.priority = {priority}"
        f" AND COALESCE({table}.reward_margin, -1) = t.margin"
        f" AND COALESCE({table}.margin_version, 0) = %s)"
    )
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"ANALYZE {_TEMP}")
        cursor.execute(
            "SELECT MIN(pair_id), MAX(pair_id) FROM (SELECT pair_id,"
            f" (ROW_NUMBER() OVER (ORDER BY pair_id) - 1) / %s AS part FROM {_TEMP}) numbered"
            " GROUP BY part ORDER BY part",
            [CHUNK],
        )
        bounds = cursor.fetchall()
    for low, high in bounds:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(update, [model_id, low, high, low, high, model_id])
