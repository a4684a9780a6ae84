"""Reading big tables page by page in primary-key order, with flat memory."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db.models import QuerySet

PAGE_SIZE = 2000


def keyset_pages(queryset: QuerySet[Any], size: int = PAGE_SIZE) -> Iterator[list[Any]]:
    """Yield lists of rows ordered by pk; rows are model instances or tuples with pk first.

    Keyset pagination (`pk > last`) keeps every page an index range scan, unlike OFFSET.
    """
    last = 0
    while page := list(queryset.filter(pk__gt=last).order_by("pk")[:size]):
        yield page
        tail = page[-1]
        last = tail[0] if isinstance(tail, tuple) else tail.pk
