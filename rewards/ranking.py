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
    """Set every pending pair's priority from the model's scores of its two responses.

    Priorities are rank quantiles over all the scored pending pairs together (one ranking,
    however many chunks are read), so a priority means the same wherever it was read. Pairs
    with an unscored response keep their priority. Returns the number of pairs written.
    """
    chunks = [
        (
            np.asarray(pair_ids, dtype=np.int64),
            acquisition_scores(strategy, a, b, seed=[seed, page]),
        )
        for page, (pair_ids, a, b) in enumerate(_scored_pending(project_id, model_id))
    ]
    if not chunks:
        return 0
    ids = np.concatenate([pair_ids for pair_ids, _ in chunks])
    values = rank_quantiles(np.concatenate([scores for _, scores in chunks]))
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {_TEMP} "
            "(pair_id bigint PRIMARY KEY, priority double precision NOT NULL)"
        )
    try:
        for start in range(0, len(ids), CHUNK):
            _apply(ids[start : start + CHUNK].tolist(), values[start : start + CHUNK])
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {_TEMP}")
    return len(ids)


def _scored_pending(
    project_id: int, model_id: int
) -> Iterator[tuple[list[int], np.ndarray, np.ndarray]]:
    """Yield (pair ids, member scores of a, of b) for pending pairs, CHUNK at a time, by id."""
    members = "members::text" if connection.vendor == "postgresql" else "members"
    query = (
        f"SELECT p.id, sa.{members}, sb.{members} FROM {Pair._meta.db_table} p "
        f"JOIN {ResponseScore._meta.db_table} sa "
        "ON sa.response_id = p.response_a_id AND sa.model_id = %s "
        f"JOIN {ResponseScore._meta.db_table} sb "
        "ON sb.response_id = p.response_b_id AND sb.model_id = %s "
        "WHERE p.project_id = %s AND p.status = %s AND p.id > %s ORDER BY p.id LIMIT %s"
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
        )


def _apply(pair_ids: list[int], values: np.ndarray) -> None:
    rows = zip(pair_ids, values.tolist(), strict=True)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {_TEMP}")
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {_TEMP} (pair_id, priority) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            cursor.executemany(f"INSERT INTO {_TEMP} (pair_id, priority) VALUES (%s, %s)", rows)
        table = Pair._meta.db_table
        cursor.execute(
            f"UPDATE {table} SET priority = t.priority FROM {_TEMP} t WHERE {table}.id = t.pair_id"
        )
