"""The judging path's two reads as plain SQL: the judged lease, and the next candidate pair.

Building and compiling these two ORM queries cost more CPU than everything else a judgement
does (about 2 ms each on every call), so their text is written here once, from the models'
own columns, and rows become model instances as the ORM makes them (`Model.from_db` with the
backend's converters). The SQL is the same on PostgreSQL and SQLite but for row locks, which
SQLite has no need of (it serialises writers).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field, Model

from annotate.models import (
    Assignment,
    Judgement,
    Membership,
    Pair,
    PairRank,
    PairStatus,
    Project,
    Prompt,
    Response,
    Role,
)

Converter = Callable[[Any, Any, BaseDatabaseWrapper], Any]


@dataclass
class Locked:
    """The judged lease (with its pair and project), and what the request reads beside it."""

    assignment: Assignment
    already_judged: bool  # the annotator has a vote on the pair
    role: str | None  # their role in the project; None: not a member
    paused_reason: str | None
    judgement_count: int | None  # their membership's count
    held: int | None  # their other open lease, when asked for


@dataclass(frozen=True)
class Columns:
    """A model's columns selected under a table alias, and how a row slice becomes an instance."""

    model: type[Model]
    alias: str
    fields: tuple[Field, ...]
    converters: tuple[tuple[Converter, ...], ...]
    expressions: tuple[Any, ...]

    @property
    def select(self) -> str:
        return ", ".join(f"{self.alias}.{_quote(f.column)}" for f in self.fields)

    def build(self, row: Sequence[Any], start: int, connection: BaseDatabaseWrapper) -> Any:
        values = list(row[start : start + len(self.fields)])
        for i, converters in enumerate(self.converters):
            for convert in converters:
                values[i] = convert(values[i], self.expressions[i], connection)
        return self.model.from_db(connection.alias, [f.attname for f in self.fields], values)


def _columns(model: type[Model], alias: str, connection: BaseDatabaseWrapper) -> Columns:
    fields = tuple(model._meta.concrete_fields)
    expressions = tuple(f.get_col(alias) for f in fields)
    converters = tuple(
        tuple(connection.ops.get_db_converters(e) + e.get_db_converters(connection))
        for e in expressions
    )
    return Columns(model, alias, fields, converters, expressions)


def _quote(name: str) -> str:
    return connections["default"].ops.quote_name(name)


def _table(model: type[Model]) -> str:
    return _quote(model._meta.db_table)


@cache
def _lock_shape(alias: str) -> tuple[Columns, Columns, Columns]:
    connection = connections[alias]
    return (
        _columns(Assignment, "a", connection),
        _columns(Pair, "p", connection),
        _columns(Project, "pr", connection),
    )


def lock_for_judging(
    assignment_id: int,
    annotator_id: int,
    *,
    superuser: bool,
    now: datetime,
    next_after: tuple[int | None] | None,
) -> Locked | None:
    """The annotator's assignment with its pair and project, the assignment and pair locked,
    with their membership; with `next_after`, `held` is the id of their oldest open lease in
    the project other than this one and `next_after[0]`."""
    connection = connections[Assignment.objects.db]
    assignment_cols, pair_cols, project_cols = _lock_shape(connection.alias)
    held, held_params = "NULL", []
    if next_after is not None:
        held = f"""(
            SELECT o.id FROM {_table(Assignment)} AS o
            JOIN {_table(Pair)} AS op ON op.id = o.pair_id
            WHERE o.annotator_id = %s AND op.project_id = p.project_id AND o.id <> a.id
              AND o.id <> %s AND o.closed_at IS NULL AND o.expires_at > %s
            ORDER BY o.created_at LIMIT 1
        )"""
        stamp = connection.ops.adapt_datetimefield_value(now)
        held_params = [annotator_id, next_after[0] or 0, stamp]
    role = "%s" if superuser else "m.role"
    lock = " FOR UPDATE OF a, p" if connection.features.has_select_for_update_of else ""
    sql = f"""
        SELECT {assignment_cols.select}, {pair_cols.select}, {project_cols.select},
            EXISTS (
                SELECT 1 FROM {_table(Judgement)} AS j
                WHERE j.pair_id = a.pair_id AND j.annotator_id = %s
            ),
            {role}, m.paused_reason, m.judgement_count, {held}
        FROM {_table(Assignment)} AS a
        JOIN {_table(Pair)} AS p ON p.id = a.pair_id
        JOIN {_table(Project)} AS pr ON pr.id = p.project_id
        LEFT JOIN {_table(Membership)} AS m ON m.project_id = p.project_id AND m.user_id = %s
        WHERE a.id = %s AND a.annotator_id = %s{lock}
    """
    params: list[Any] = [annotator_id]
    if superuser:
        params.append(str(Role.ADMIN))
    params += [*held_params, annotator_id, assignment_id, annotator_id]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    assignment = assignment_cols.build(row, 0, connection)
    start = len(assignment_cols.fields)
    pair = pair_cols.build(row, start, connection)
    start += len(pair_cols.fields)
    project = project_cols.build(row, start, connection)
    start += len(project_cols.fields)
    pair.project = project
    assignment.pair = pair
    already, role, paused, count, held_id = row[start : start + 5]
    return Locked(assignment, bool(already), role, paused, count, held_id)


@cache
def _candidate_shape(alias: str) -> tuple[Columns, Columns, Columns, Columns]:
    connection = connections[alias]
    return (
        _columns(Pair, "p", connection),
        _columns(Prompt, "q", connection),
        _columns(Response, "ra", connection),
        _columns(Response, "rb", connection),
    )


def lock_candidate(
    annotator_id: int,
    project: Project,
    now: datetime,
    *,
    random_order: bool,
    skip_locked: bool = True,
    passed: Sequence[int] = (),
) -> Pair | None:
    """The best pending pair with a free slot the annotator has not been shown, locked (SKIP
    LOCKED passes over pairs other annotators hold), with its prompt and responses; None if
    there is none. A pair whose response_b is the annotator's own edit, or an edit review
    invalidated, is not served."""
    connection = connections[Pair.objects.db]
    pair_cols, prompt_cols, a_cols, b_cols = _candidate_shape(connection.alias)
    # A random-slice lease ignores the model: `tiebreak` is a pseudo-random rank fixed per pair,
    # read from the pair's own index. The model's order is PairRank's queue index, read first.
    if random_order:
        source = f"{_table(Pair)} AS p"
        ranked = ""
        order = "p.tiebreak, p.id"
    else:
        source = f"{_table(PairRank)} AS k CROSS JOIN {_table(Pair)} AS p"
        ranked = " AND k.project_id = %s AND k.pending AND p.id = k.pair_id"
        order = "k.priority DESC, k.tiebreak"
    not_passed = f" AND p.id NOT IN ({', '.join(['%s'] * len(passed))})" if passed else ""
    lock = ""
    if connection.features.has_select_for_update:
        lock = " FOR UPDATE OF p" + (" SKIP LOCKED" if skip_locked else "")
    sql = f"""
        SELECT {pair_cols.select}, {prompt_cols.select}, {a_cols.select}, {b_cols.select}
        FROM {source}
        JOIN {_table(Prompt)} AS q ON q.id = p.prompt_id
        JOIN {_table(Response)} AS ra ON ra.id = p.response_a_id
        JOIN {_table(Response)} AS rb ON rb.id = p.response_b_id
        WHERE p.gold_label = '' AND p.project_id = %s AND p.status = '{PairStatus.PENDING}'
          {ranked}
          AND (
            SELECT COUNT(*) FROM {_table(Assignment)} AS l
            WHERE l.pair_id = p.id AND l.closed_at IS NULL AND l.expires_at > %s
          ) < COALESCE(p.min_votes, %s) + p.extra_judgements - p.judgement_count
          AND NOT EXISTS (
            SELECT 1 FROM {_table(Assignment)} AS s
            WHERE s.pair_id = p.id AND s.annotator_id = %s
          )
          AND NOT EXISTS (
            SELECT 1 FROM {_table(Judgement)} AS j
            WHERE j.pair_id = p.id AND j.annotator_id = %s
          )
          AND (rb.author_id IS NULL OR (rb.author_id <> %s AND rb.invalidated_at IS NULL))
          {not_passed}
        ORDER BY {order}
        LIMIT 1{lock}
    """  # in this order SQLite scans pairrank_queue in order (test_queue_concurrency)
    params = [
        project.pk,
        *([] if random_order else [project.pk]),
        connection.ops.adapt_datetimefield_value(now),
        project.judgements_per_pair,
        annotator_id,
        annotator_id,
        annotator_id,  # nobody judges their own edit (an edit is a pair's response_b)
        *passed,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    pair = pair_cols.build(row, 0, connection)
    start = len(pair_cols.fields)
    pair.prompt = prompt_cols.build(row, start, connection)
    start += len(prompt_cols.fields)
    pair.response_a = a_cols.build(row, start, connection)
    pair.response_b = b_cols.build(row, start + len(a_cols.fields), connection)
    pair.project = project
    return pair
