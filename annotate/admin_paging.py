"""Admin changelists over the big tables: a capped count and pages by the primary key index."""

from __future__ import annotations

import math
from typing import Any

from django.contrib import admin
from django.core.paginator import Paginator
from django.http import HttpRequest
from django.utils.functional import cached_property

# Rows a big changelist counts at most: its pages go as deep as this, so an OFFSET stays
# short, and a filter or search narrows the rest.
COUNT_CAP = 10_000


class CappedPaginator(Paginator):
    """A paginator that counts at most COUNT_CAP + 1 rows, with a sliced subquery.

    `SELECT COUNT(*) FROM (SELECT ... LIMIT cap + 1)` stops reading at the cap, where a plain
    COUNT(*) reads every row of a million-row table; pages beyond the cap are not offered.
    """

    cap = COUNT_CAP

    @cached_property
    def count(self) -> int:
        """The matching rows, up to cap + 1 ("more than cap")."""
        rows: Any = self.object_list
        if hasattr(rows, "query"):
            return int(rows[: self.cap + 1].count())
        return min(len(rows), self.cap + 1)

    @cached_property
    def num_pages(self) -> int:
        """Pages up to the cap only: a deeper OFFSET would read as many rows as a count."""
        return min(super().num_pages, math.ceil(self.cap / self.per_page))


class BigTableAdmin(admin.ModelAdmin):
    """A changelist for a table of millions: newest first by the primary key, a capped count,
    no total count beside it, and its FK columns joined in the page's one query."""

    paginator = CappedPaginator
    show_full_result_count = False
    ordering = ["-id"]

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        """No bulk delete: past the cap "select all" would take every matching row, millions,
        where the page said 10,001 (and a pair's votes go with it)."""
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions
