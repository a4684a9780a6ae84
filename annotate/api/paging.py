"""Keyset pages as the API answers them: the rows, the cursor and the next page's URL."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from annotate.api.serializers import format_cursor
from annotate.paging import Page


def keyset_answer(request: Request, page: Page, results: Any) -> Response:
    """`{next, cursor, results}`: `next` repeats the query with `after` set to the cursor.

    Rows added while a client pages sort before the cursor or after it by their key and id, so
    no row is shown twice or skipped.
    """
    cursor = format_cursor(page.next_after) if page.next_after is not None else None
    next_url = None
    if cursor is not None:
        query = request.query_params.copy()
        query["after"] = cursor
        next_url = request.build_absolute_uri(f"{request.path}?{query.urlencode()}")
    return Response({"next": next_url, "cursor": cursor, "results": results})


def keyset_schema(name: str, row: type[serializers.Serializer]) -> serializers.Serializer:
    """The schema of a keyset page of `row`."""
    return inline_serializer(
        name,
        {
            "next": serializers.URLField(allow_null=True, help_text="the next page; null: last"),
            "cursor": serializers.CharField(
                allow_null=True,
                help_text="pass as `after` (with the same filters) for the next page",
            ),
            "results": row(many=True),
        },
    )
