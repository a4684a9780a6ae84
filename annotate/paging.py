"""Reading big tables page by page in primary-key order, with flat memory."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db import connections
from django.db.models import QuerySet

PAGE_SIZE = 2000
# Rows fetched per round trip of a streamed query: a few MB of text.
STREAM_FETCH = 5000


def keyset_pages(queryset: QuerySet[Any], size: int = PAGE_SIZE) -> Iterator[list[Any]]:
    """Yield lists of rows ordered by pk; rows are model instances or tuples with pk first.

    Keyset pagination (`pk > last`) keeps every page an index range scan, unlike OFFSET.
    """
    last = 0
    while page := list(queryset.filter(pk__gt=last).order_by("pk")[:size]):
        yield page
        tail = page[-1]
        last = tail[0] if isinstance(tail, tuple) else tail.pk


def stream_rows(queryset: QuerySet[Any], size: int = STREAM_FETCH) -> Iterator[tuple[Any, ...]]:
    """Yield the raw database tuples of a values_list queryset through one streamed query.

    A server-side cursor on PostgreSQL (a chunked read on SQLite) reads the whole result with
    one statement and flat memory; the rows skip Django's per-row converters, so JSON columns
    come back as text and SQLite datetimes as ISO strings.
    """
    sql, params = queryset.query.get_compiler(using=queryset.db).as_sql()
    with connections[queryset.db].chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(size):
            yield from rows
