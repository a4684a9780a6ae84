"""Reading big tables page by page by key (keyset pagination), with flat memory."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db import connections
from django.db.models import BooleanField, F, Func, QuerySet

PAGE_SIZE = 2000
# Rows fetched per round trip of a streamed query: a few MB of text.
STREAM_FETCH = 5000
# A keyset cursor: the (sort value, id) of the last row shown, as `value~id`.
CURSOR_PATTERN = r"^-?[0-9.e+-]+~[0-9]+$"
# Ids are bigints.
MAX_ID = 2**63 - 1


class BadCursor(ValueError):
    """A cursor that names no row; the message says why."""


def parse_cursor(after: str) -> tuple[float, int] | None:
    """The (sort value, id) a cursor names; None for the first page (a blank cursor).

    Pages and API lists read cursors here alike. Raises BadCursor unless the value is a
    finite number and the id fits a bigint.
    """
    if not after:
        return None
    if re.fullmatch(CURSOR_PATTERN, after) is None:
        raise BadCursor("Not a cursor: pass the `cursor` of the previous page.")
    text, pk = after.split("~")
    try:
        value, ident = float(text), int(pk)
    except ValueError:  # no number (".", "e", "--"), or an id of thousands of digits
        raise BadCursor("Not a cursor: its value or id is not a number.") from None
    if not math.isfinite(value):
        raise BadCursor("Not a cursor: its value is out of range.")
    if ident > MAX_ID:
        raise BadCursor(f"Not a cursor: its id is above {MAX_ID}.")
    return value, ident


def keyset_pages(queryset: QuerySet[Any], size: int = PAGE_SIZE) -> Iterator[list[Any]]:
    """Yield lists of rows ordered by pk; rows are model instances or tuples with pk first.

    Keyset pagination (`pk > last`) keeps every page an index range scan, unlike OFFSET.
    """
    last = 0
    while page := list(queryset.filter(pk__gt=last).order_by("pk")[:size]):
        yield page
        tail = page[-1]
        last = tail[0] if isinstance(tail, tuple) else tail.pk


@dataclass(frozen=True)
class Page:
    rows: list[Any]
    # (sort value, pk) of the last row, to pass as `after` for the next page; None on the last.
    next_after: tuple[Any, int] | None


def keyset_page(
    queryset: QuerySet[Any],
    *,
    key: str,
    descending: bool = True,
    after: tuple[Any, int] | None = None,
    size: int = 50,
) -> Page:
    """One page of rows ordered by (key, pk), starting after the (value, pk) of the last row.

    The pk breaks ties, so rows with equal keys are neither repeated nor skipped; with an index
    on (key, pk) every page is a range scan however deep it is.
    """
    if after is not None:
        value, pk = after
        queryset = queryset.filter(_RowBeyond(F(key), F("pk"), value, pk, descending=descending))
    order = [f"-{key}", "-pk"] if descending else [key, "pk"]
    rows = list(queryset.order_by(*order)[: size + 1])
    if len(rows) <= size:
        return Page(rows, None)
    last = rows[size - 1]
    return Page(rows[:size], (getattr(last, key), last.pk))


class _RowBeyond(Func):
    """`(key, pk) < (value, pk)` (`>` ascending) as one row comparison: the database starts an
    index scan on (key, pk) at the cursor, however many rows share its key value (a key
    compared alone, then the pk, reads every earlier row of a run of equal keys)."""

    conditional = True
    output_field = BooleanField()

    def __init__(self, key: F, pk_field: F, value: Any, pk: int, *, descending: bool) -> None:
        super().__init__(key, pk_field)
        self.value, self.pk, self.descending = value, pk, descending

    def as_sql(self, compiler: Any, connection: Any, *args: Any, **extra: Any) -> Any:
        key, pk_field = self.get_source_expressions()
        key_sql, key_params = compiler.compile(key)
        pk_sql, pk_params = compiler.compile(pk_field)
        value = key.output_field.get_db_prep_value(self.value, connection)
        if isinstance(value, int):  # a cursor past a bigint names no row beyond the last
            value = max(-MAX_ID - 1, min(value, MAX_ID))
        op = "<" if self.descending else ">"
        sql = f"({key_sql}, {pk_sql}) {op} (%s, %s)"
        return sql, [*key_params, *pk_params, value, self.pk]


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
