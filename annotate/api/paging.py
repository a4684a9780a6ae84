"""Keyset pages as the API answers them: the rows, the cursor and the next page's URL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from annotate.api.serializers import CursorQuerySerializer, format_cursor, parse_cursor
from annotate.paging import Page, keyset_page

# Rows per page of the lists that page by id, newest first.
LIST_PAGE = 50


def keyset_answer(
    request: Request, page: Page, results: Any, extra: dict[str, Any] | None = None
) -> Response:
    """`{next, cursor, results}` (and `extra`'s fields): `next` repeats the query with `after`
    set to the cursor.

    Rows added while a client pages sort before the cursor or after it by their key and id, so
    no row is shown twice or skipped.
    """
    cursor = format_cursor(page.next_after) if page.next_after is not None else None
    next_url = None
    if cursor is not None:
        query = request.query_params.copy()
        query["after"] = cursor
        next_url = request.build_absolute_uri(f"{request.path}?{query.urlencode()}")
    return Response({"next": next_url, "cursor": cursor, "results": results, **(extra or {})})


def keyset_list(
    request: Request,
    rows: QuerySet[Any],
    serialize: Callable[[list[Any]], Any],
    *,
    size: int = LIST_PAGE,
) -> Response:
    """One page of `rows`, newest first by id, after the `after` cursor of the query string.

    Every page is a range scan of an index that ends in the id (the table's own, or one led by
    the filtered parent); a bad cursor is a 400 naming `after`.
    """
    query = CursorQuerySerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    after = parse_cursor(query.validated_data.get("after", ""))
    page = keyset_page(rows, key="pk", after=after, size=size)
    return keyset_answer(request, page, serialize(page.rows))


def keyset_schema(
    name: str,
    row: type[serializers.Serializer],
    extra: dict[str, serializers.Field] | None = None,
) -> serializers.Serializer:
    """The schema of a keyset page of `row`, with `extra` fields beside the rows."""
    return inline_serializer(
        name,
        {
            "next": serializers.URLField(allow_null=True, help_text="the next page; null: last"),
            "cursor": serializers.CharField(
                allow_null=True,
                help_text="pass as `after` (with the same filters) for the next page",
            ),
            "results": row(many=True),
            **(extra or {}),
        },
    )
