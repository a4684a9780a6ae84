"""A page deep in a run of equal sort values starts at its cursor: the index on (key, id) is
entered there with one row comparison, not at the start of the run."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.db import connection

from annotate.models import Project
from annotate.review.browsing import PairFilter, browse_pairs
from tests.factories import make_pairs
from tests.plans import plan_of, statements_of

pytestmark = pytest.mark.django_db


def test_a_page_in_a_run_of_equal_votes_starts_at_its_cursor(
    project: Project, tmp_path: Path
) -> None:
    # given pairs that all hold the same number of votes, and the database's statistics
    make_pairs(project, tmp_path, 300)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    wanted = PairFilter(sort="votes")
    first = browse_pairs(project, wanted)
    assert first.next_after is not None
    # when the next page is read
    pages = []
    sent = statements_of(
        lambda: pages.append(browse_pairs(project, wanted, after=first.next_after))
    )
    # then it follows the first page with no row repeated or skipped
    shown = [p.pk for p in first.rows] + [p.pk for p in pages[0].rows]
    assert shown == sorted(shown, reverse=True) and len(set(shown)) == len(shown) == 100
    # and the votes index is read in order; PostgreSQL enters it at the cursor (SQLite 3.40
    # enters it at the cursor's vote count and passes over the earlier pairs holding as many)
    (sql, params), *_ = [s for s in sent if "judgement_count" in s[0]]
    plan = plan_of(sql, params)
    assert "pair_by_votes" in plan and "TEMP B-TREE" not in plan, plan
    if connection.vendor == "postgresql":
        assert "ROW(judgement_count, id) < ROW(" in plan, plan
