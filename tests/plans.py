"""What a call sends to the database, and the plan the database makes of it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import connection


def statements_of(call: Callable[[], Any]) -> list[tuple[str, Any]]:
    """Each (sql, params) that `call()` sends, in order."""
    sent: list[tuple[str, Any]] = []

    def record(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        sent.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        call()
    return sent


def plan_of(sql: str, params: Any) -> str:
    """The database's plan of one statement, as one line of text."""
    explain = "EXPLAIN QUERY PLAN " if connection.vendor == "sqlite" else "EXPLAIN "
    with connection.cursor() as cursor:
        cursor.execute(explain + sql, params)
        return " ".join(str(row) for row in cursor.fetchall())
