"""Importing pair files into a project: one pass that checks and stages, then set-based writes.

Every row is checked and its pairs staged in temporary tables as the file is read (memory stays
flat); only if every line is valid are the pairs written, in one transaction (`bulk.py`), so a
file is imported whole or not at all. Content hashes make a re-import a no-op.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce

from annotate.formats import (
    FORMATS,
    MAX_REPORTED_ERRORS,
    FieldError,
    ImportFormatError,
    PairIn,
    RowError,
    detect_format,
    file_type_of,
    parse_row,
)
from annotate.importing.bulk import BulkImport
from annotate.importing.compression import (
    READ_ERRORS,
    DecompressedTooLarge,
    compression_of,
    open_binary,
)
from annotate.importing.judgements import import_judgements
from annotate.importing.prompts import import_prompts
from annotate.importing.rankings import import_ranking_pairs, import_rankings
from annotate.importing.reading import read_rows
from annotate.importing.summary import ImportSummary
from annotate.models import (
    Comparison,
    ImportJob,
    Judgement,
    Pair,
    PairStatus,
    Project,
    Prompt,
    Response,
)
from annotate.projects.lifecycle import check_not_archived
from annotate.signals import responses_imported
from annotate.tasks import import_file_task

LABEL_MODES = ("judgements", "gold", "ignore")
# After a bulk load this large, fresh planner statistics keep the queue and export queries on
# their indexes (autovacuum would get there, minutes later).
ANALYZE_AFTER_PAIRS = 5000
# Rows between progress reports while a file is read.
PROGRESS_EVERY = 10_000

Progress = Callable[[float], None]


class UploadTooLarge(ValueError):
    """The upload is larger than settings.MAX_IMPORT_UPLOAD_BYTES."""


def start_import(
    project: Project, user: Any, *, file: Any, format: str = "auto", labels: str = "judgements"
) -> ImportJob:
    """Store an upload and enqueue its import once the job row is committed.

    The one entry point for uploads (page and API). Its format and labels were checked by
    ImportInputSerializer (choices from FORMATS and LABEL_MODES); the worker checks the file.
    """
    check_not_archived(project)
    limit = settings.MAX_IMPORT_UPLOAD_BYTES
    if file.size > limit:
        raise UploadTooLarge(
            f"file is larger than {limit} bytes; use `manage.py import_pairs` for files this large"
        )
    with transaction.atomic():
        job = ImportJob.objects.create(
            project=project,
            created_by=user,
            file=file,
            original_name=file.name,
            format=format,
            labels=labels,
        )
        # celery-types' Task lacks delay_on_commit; our tasks are DjangoTasks (config.celery).
        import_file_task.delay_on_commit(job.pk)  # type: ignore[attr-defined]
    return job


def _parse_checked(line: int, row: object, fmt: str | None) -> list[PairIn] | RowError:
    """The row's pairs, or the error that names its line."""
    if isinstance(row, RowError):
        return row
    row_format = fmt or detect_format(row)
    if row_format is None:
        return RowError(
            line,
            "",
            "unrecognised row: expected response_a/response_b, responses, chosen, "
            "or annotator and choice",
        )
    try:
        if row_format == "judgements":
            return RowError(
                line,
                "",
                "a vote (judgements format) among pairs: import votes in a file of their own",
            )
        if row_format == "prompts":
            return RowError(
                line, "", "a prompt alone (prompts format) among pairs: import prompts on their own"
            )
        return parse_row(row_format, row)
    except FieldError as exc:
        return RowError(line, exc.field, exc.message)


def import_file(
    project: Project,
    path: str | Path,
    *,
    fmt: str = "auto",
    labels: str = "judgements",
    file_type: str | None = None,
    progress: Progress | None = None,
) -> ImportSummary:
    """Import a file into `project` whole or not at all; raises ImportFormatError if invalid.

    `labels` says what a row's label becomes: imported judgements, the pair's gold label (hidden
    from annotators, used for quality checks), or nothing.
    """
    if labels not in LABEL_MODES:
        raise ValueError(f"labels must be one of {', '.join(LABEL_MODES)}")
    if fmt != "auto" and fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; use auto or one of {', '.join(FORMATS)}")
    rows = read_rows(path, file_type)
    first, head = _peek_format(rows) if fmt == "auto" else (fmt, [])
    if first == "judgements":
        rows.close()
        return import_judgements(project, path, file_type=file_type)
    if first == "prompts":
        rows.close()
        return import_prompts(project, path, file_type=file_type)
    if project.comparison == Comparison.RANKING:
        rows.close()
        if first == "pairs":  # the pairs sharing a prompt become its ranking items
            return import_ranking_pairs(project, path, file_type=file_type, labels=labels, fmt=fmt)
        return import_rankings(project, path, file_type=file_type, labels=labels)
    lines = _estimate_lines(path, file_type) if progress else 0
    with BulkImport(project, labels=labels) as bulk:
        detected, count = _stage_file(
            bulk, itertools.chain(head, rows), fmt=fmt, lines=lines, progress=progress
        )
        with transaction.atomic():
            counts = bulk.write(_write_progress(progress))
            summary = ImportSummary(format=detected, rows=count, **counts)
            if summary.responses_created:
                transaction.on_commit(
                    lambda: responses_imported.send(sender=Project, project=project)
                )
    if summary.pairs_created >= ANALYZE_AFTER_PAIRS:
        _analyze()
    return summary


# Reading, checking and staging the file is most of an import's time; the INSERTs the rest.
READ_SHARE = 0.8


def _write_progress(progress: Progress | None) -> Progress | None:
    if progress is None:
        return None
    return lambda done: progress(READ_SHARE + (1 - READ_SHARE) * done)


# Rows looked at for the file's format before it is taken as pairs.
PEEK_ROWS = 100


def _peek_format(rows: Iterator[tuple[int, Any]]) -> tuple[str | None, list[tuple[int, Any]]]:
    """The format of the first readable row (None if unrecognised), and the rows read for it.

    The rows are staged after, from the same reader: a file is read once, however it breaks.
    """
    head = []
    for line, row in rows:
        head.append((line, row))
        if not isinstance(row, RowError):
            return detect_format(row), head
        if len(head) >= PEEK_ROWS:
            break
    return None, head


def _estimate_lines(path: str | Path, file_type: str | None) -> int:
    """The last line number the reader will report, for progress only (a newline count)."""
    if (file_type or file_type_of(str(path))) == "parquet":
        if compression_of(Path(path)) is not None:
            return 0  # unpacked later by the reader; progress then jumps at the end
        try:
            return pq.ParquetFile(path).metadata.num_rows
        except pa.ArrowException:
            return 0  # not Parquet: the reader says so, by line
    lines = 0
    try:
        with open_binary(Path(path)) as handle:
            while chunk := handle.read(1 << 20):
                lines += chunk.count(b"\n")
    except (DecompressedTooLarge, *READ_ERRORS):
        pass  # the reader reports where the file breaks off or grows too large
    return lines


def _stage_file(
    bulk: BulkImport,
    read: Iterable[tuple[int, Any]],
    *,
    fmt: str,
    lines: int,
    progress: Progress | None,
) -> tuple[str, int]:
    """Check every row and stage its pairs in one pass; raise ImportFormatError naming lines.

    `lines` is the file's estimated last line, for progress.
    """
    errors: list[RowError] = []
    total_errors = rows = 0
    detected = None if fmt == "auto" else fmt
    for line, row in read:
        rows += 1
        parsed = _parse_checked(line, row, detected)
        if isinstance(parsed, RowError):
            total_errors += 1
            if len(errors) < MAX_REPORTED_ERRORS:
                errors.append(parsed)
            continue
        detected = detected or detect_format(row)
        if not total_errors:  # once a line is bad nothing is written: just check the rest
            bulk.add(parsed, line)
        if progress and rows % PROGRESS_EVERY == 0:
            progress(READ_SHARE * min(line / max(lines, 1), 1.0))
    if rows == 0:
        raise ImportFormatError([RowError(0, "", "the file has no rows")], 1)
    if total_errors:  # with what the rows read before the first bad one found (gold conflicts)
        total_errors += bulk.error_total
        errors = sorted(errors + bulk.errors, key=lambda e: e.line)[:MAX_REPORTED_ERRORS]
        raise ImportFormatError(errors, total_errors)
    return detected or "pairs", rows


def _analyze() -> None:
    if connection.vendor != "postgresql":
        return
    tables = [m._meta.db_table for m in (Prompt, Response, Pair, Judgement)]
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE " + ", ".join(f'"{t}"' for t in tables))


def refresh_pair_counts(project: Project, pair_ids: set[int]) -> None:
    """Recount judgements of the given pairs and mark those at their overlap target complete."""
    if not pair_ids:
        return
    counts = (
        Judgement.objects.valid()
        .filter(pair=OuterRef("pk"))
        .values("pair")
        .annotate(n=Count("id"))
        .values("n")
    )
    pairs = Pair.objects.filter(pk__in=pair_ids)
    pairs.update(judgement_count=Coalesce(Subquery(counts), 0))
    pairs.filter(judgement_count__gte=project.judgements_per_pair).update(
        status=PairStatus.COMPLETE
    )
