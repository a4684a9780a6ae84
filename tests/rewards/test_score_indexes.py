"""Reward tables keep no index that a unique constraint on the same leading column covers."""

from __future__ import annotations

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db


def indexes(table: str) -> dict[str, tuple[list[str], bool]]:
    """The table's indexes and unique constraints: their columns, and whether unique."""
    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, table)
    return {
        name: (c["columns"], bool(c["unique"]))
        for name, c in found.items()
        if (c["index"] or c["unique"]) and not c["primary_key"]
    }


@pytest.mark.parametrize(
    ("table", "column", "covering"),
    [
        ("rewards_responsescore", "response_id", ["response_id", "model_id"]),
        ("rewards_rewardmodel", "project_id", ["project_id", "version"]),
    ],
)
def test_a_foreign_key_leading_a_unique_constraint_has_no_index_of_its_own(
    table: str, column: str, covering: list[str]
) -> None:
    found = indexes(table)
    assert (covering, True) in found.values()
    assert ([column], False) not in found.values()


def test_a_score_keeps_the_index_by_model_that_no_constraint_leads_with() -> None:
    assert (["model_id"], False) in indexes("rewards_responsescore").values()
