"""Importing pair files into a project: one pass that checks and stages, then set-based writes.

Every row is checked and its pairs staged in temporary tables as the file is read (memory stays
flat); only if every line is valid are the pairs written, in one transaction (annotate/bulk.py),
so a file is imported whole or not at all. Content hashes make a re-import a no-op.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import pyarrow.parquet as pq
from django.db import connection, transaction
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce

from annotate.bulk import BulkImport
from annotate.formats import (
    FORMATS,
    MAX_REPORTED_ERRORS,
    FieldError,
    ImportFormatError,
    PairIn,
    RowError,
    detect_format,
    file_type_of,
    pair_key,
    parse_row,
    prompt_hash,
    read_rows,
    sha256,
)
from annotate.models import Judgement, Pair, PairStatus, Project, Prompt, Response
from annotate.signals import responses_imported

# 1,000 pairs is a few MB of Python objects and keeps each INSERT well under parameter limits.
BATCH_SIZE = 1000
LABEL_MODES = ("judgements", "gold", "ignore")
# After a bulk load this large, fresh planner statistics keep the queue and export queries on
# their indexes (autovacuum would get there, minutes later).
ANALYZE_AFTER_PAIRS = 5000
# Rows between progress reports while a file is read.
PROGRESS_EVERY = 10_000

Progress = Callable[[float], None]


@dataclass
class ImportSummary:
    format: str = ""
    rows: int = 0
    prompts_created: int = 0
    prompts_existing: int = 0
    responses_created: int = 0
    responses_existing: int = 0
    pairs_created: int = 0
    pairs_existing: int = 0
    judgements_created: int = 0
    judgements_existing: int = 0

    def as_dict(self) -> dict[str, int | str]:
        return asdict(self)

    def describe(self) -> str:
        """One line per kind: what was created and what already existed."""
        kinds = ("prompts", "responses", "pairs", "judgements")
        lines = [f"{self.rows} rows read as '{self.format}'"]
        for kind in kinds:
            created = getattr(self, f"{kind}_created")
            existing = getattr(self, f"{kind}_existing")
            lines.append(f"{kind}: {created} created, {existing} already present (skipped)")
        if self.rows and not any(getattr(self, f"{k}_created") for k in kinds):
            lines.append("Nothing new: everything in this file was already imported.")
        return "\n".join(lines)


def validate_file(
    path: str | Path, *, fmt: str = "auto", file_type: str | None = None
) -> tuple[str, int]:
    """Check every row; return (format, row count) or raise ImportFormatError naming lines."""
    if fmt != "auto" and fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; use auto or one of {', '.join(FORMATS)}")
    errors: list[RowError] = []
    total_errors = rows = 0
    detected = None if fmt == "auto" else fmt
    for line, row in read_rows(path, file_type):
        rows += 1
        error = _check_row(line, row, detected)
        if error is None and detected is None:
            detected = detect_format(row)
        if error is not None:
            total_errors += 1
            if len(errors) < MAX_REPORTED_ERRORS:
                errors.append(error)
    if rows == 0:
        raise ImportFormatError([RowError(0, "", "the file has no rows")], 1)
    if total_errors:
        raise ImportFormatError(errors, total_errors)
    return detected or "pairs", rows


def _check_row(line: int, row: object, fmt: str | None) -> RowError | None:
    parsed = _parse_checked(line, row, fmt)
    return parsed if isinstance(parsed, RowError) else None


def _parse_checked(line: int, row: object, fmt: str | None) -> list[PairIn] | RowError:
    """The row's pairs, or the error that names its line."""
    if isinstance(row, RowError):
        return row
    row_format = fmt or detect_format(row)
    if row_format is None:
        return RowError(
            line, "", "unrecognised row: expected response_a/response_b, responses, or chosen"
        )
    try:
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
    with BulkImport(project, labels=labels) as bulk:
        detected, rows = _stage_file(bulk, path, fmt=fmt, file_type=file_type, progress=progress)
        with transaction.atomic():
            counts = bulk.write(_write_progress(progress))
            summary = ImportSummary(format=detected, rows=rows, **counts)
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


def _estimate_lines(path: str | Path, file_type: str | None) -> int:
    """The last line number the reader will report, for progress only (a newline count)."""
    if (file_type or file_type_of(str(path))) == "parquet":
        return pq.ParquetFile(path).metadata.num_rows
    lines = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            lines += chunk.count(b"\n")
    return lines


def _stage_file(
    bulk: BulkImport,
    path: str | Path,
    *,
    fmt: str,
    file_type: str | None,
    progress: Progress | None,
) -> tuple[str, int]:
    """Check every row and stage its pairs in one pass; raise ImportFormatError naming lines."""
    errors: list[RowError] = []
    total_errors = rows = 0
    detected = None if fmt == "auto" else fmt
    lines = _estimate_lines(path, file_type) if progress else 0
    for line, row in read_rows(path, file_type):
        rows += 1
        parsed = _parse_checked(line, row, detected)
        if isinstance(parsed, RowError):
            total_errors += 1
            if len(errors) < MAX_REPORTED_ERRORS:
                errors.append(parsed)
            continue
        detected = detected or detect_format(row)
        if not total_errors:  # once a line is bad nothing is written: just check the rest
            bulk.add(parsed)
        if progress and rows % PROGRESS_EVERY == 0:
            progress(READ_SHARE * min(line / max(lines, 1), 1.0))
    if rows == 0:
        raise ImportFormatError([RowError(0, "", "the file has no rows")], 1)
    if total_errors:
        raise ImportFormatError(errors, total_errors)
    return detected or "pairs", rows


def _analyze() -> None:
    if connection.vendor != "postgresql":
        return
    tables = [m._meta.db_table for m in (Prompt, Response, Pair, Judgement)]
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE " + ", ".join(f'"{t}"' for t in tables))


def _batches(
    path: str | Path, fmt: str, file_type: str | None
) -> Iterator[tuple[list[PairIn], int]]:
    batch: list[PairIn] = []
    rows = 0
    for _line, row in read_rows(path, file_type):
        rows += 1
        batch.extend(parse_row(fmt, row))
        if len(batch) >= BATCH_SIZE:
            yield batch, rows
            batch = []
    if batch:
        yield batch, rows


@dataclass(frozen=True)
class _Hashed:
    """A pair from the file with its content hashes, computed once per batch."""

    item: PairIn
    prompt: str
    a: str
    b: str
    key: str


def _hashed(item: PairIn) -> _Hashed:
    p_digest, a_digest, b_digest = (
        prompt_hash(item.messages),
        sha256(item.a.text),
        sha256(item.b.text),
    )
    return _Hashed(item, p_digest, a_digest, b_digest, pair_key(p_digest, a_digest, b_digest))


def _write_batch(
    project: Project, batch: list[PairIn], *, labels: str, summary: ImportSummary
) -> None:
    hashed = [_hashed(item) for item in batch]
    prompt_ids = _ensure_prompts(project, hashed, summary)
    response_ids = _ensure_responses(hashed, prompt_ids, summary)
    pairs, created_keys = _ensure_pairs(project, hashed, prompt_ids, response_ids, labels, summary)
    if labels == "judgements":
        _ensure_judgements(project, hashed, pairs, created_keys, summary)


def _ensure_prompts(project: Project, batch: list[_Hashed], summary: ImportSummary) -> dict:
    wanted = {h.prompt: h.item.messages for h in batch}
    existing = dict(
        Prompt.objects.filter(project=project, content_hash__in=wanted).values_list(
            "content_hash", "id"
        )
    )
    missing = [
        Prompt(project=project, messages=msgs, turn_count=_turns(msgs), content_hash=digest)
        for digest, msgs in wanted.items()
        if digest not in existing
    ]
    # ignore_conflicts: a concurrent import of the same file may insert the same rows first.
    Prompt.objects.bulk_create(missing, ignore_conflicts=True)
    summary.prompts_created += len(missing)
    summary.prompts_existing += len(existing)
    if missing:
        existing.update(
            Prompt.objects.filter(
                project=project, content_hash__in=[p.content_hash for p in missing]
            ).values_list("content_hash", "id")
        )
    return existing


def _turns(messages: list[dict[str, str]]) -> int:
    return sum(1 for m in messages if m["role"] == "user")


def _ensure_responses(batch: list[_Hashed], prompt_ids: dict, summary: ImportSummary) -> dict:
    wanted: dict[tuple[int, str], str] = {}
    models: dict[tuple[int, str], str] = {}
    for h in batch:
        prompt_id = prompt_ids[h.prompt]
        for response, digest in ((h.item.a, h.a), (h.item.b, h.b)):
            wanted[(prompt_id, digest)] = response.text
            models.setdefault((prompt_id, digest), response.model)
    existing = _response_ids(wanted)
    missing = [
        Response(
            prompt_id=pid,
            text=wanted[(pid, digest)],
            model_name=models[(pid, digest)],
            content_hash=digest,
        )
        for pid, digest in wanted
        if (pid, digest) not in existing
    ]
    Response.objects.bulk_create(missing, ignore_conflicts=True)
    summary.responses_created += len(missing)
    summary.responses_existing += len(existing)
    if missing:
        existing.update(_response_ids({(r.prompt_id, r.content_hash): "" for r in missing}))
    return existing


def _response_ids(keys: dict[tuple[int, str], str]) -> dict[tuple[int, str], int]:
    rows = Response.objects.filter(
        prompt_id__in={pid for pid, _ in keys}, content_hash__in={d for _, d in keys}
    ).values_list("prompt_id", "content_hash", "id")
    return {(pid, digest): rid for pid, digest, rid in rows if (pid, digest) in keys}


def _ensure_pairs(
    project: Project,
    batch: list[_Hashed],
    prompt_ids: dict,
    response_ids: dict,
    labels: str,
    summary: ImportSummary,
) -> tuple[dict[str, tuple[int, str]], set[str]]:
    """Create missing pairs; return content_key -> (pair id, hash of its response a), and the
    keys created here.

    A new pair's imported judgements are counted at creation, which saves recounting it.
    """
    candidates: dict[str, Pair] = {}
    new_labels: dict[str, set[str]] = {}
    for h in batch:
        if labels == "judgements" and h.item.label is not None:
            first_a = candidates[h.key].response_a_id if h.key in candidates else None
            swapped = first_a is not None and first_a != response_ids[(prompt_ids[h.prompt], h.a)]
            new_labels.setdefault(h.key, set()).add(_canonical_label(h.item.label, swapped=swapped))
        if h.key in candidates:
            continue
        prompt_id = prompt_ids[h.prompt]
        candidates[h.key] = Pair(
            project=project,
            prompt_id=prompt_id,
            response_a_id=response_ids[(prompt_id, h.a)],
            response_b_id=response_ids[(prompt_id, h.b)],
            content_key=h.key,
            tiebreak=int(h.key[:15], 16),
            gold_label=(h.item.label or "") if labels == "gold" else "",
            external_id=h.item.external_id[:200],
            meta=h.item.meta,
        )
    existing = _pair_ids(project, list(candidates))
    missing = [pair for key, pair in candidates.items() if key not in existing]
    for pair in missing:
        pair.judgement_count = len(new_labels.get(pair.content_key, ()))
        if pair.judgement_count >= project.judgements_per_pair:
            pair.status = PairStatus.COMPLETE
    Pair.objects.bulk_create(missing, ignore_conflicts=True)
    summary.pairs_created += len(missing)
    summary.pairs_existing += len(existing)
    created = {p.content_key for p in missing}
    if missing:
        existing.update(_pair_ids(project, list(created)))
    return existing, created


def _pair_ids(project: Project, keys: list[str]) -> dict[str, tuple[int, str]]:
    rows = Pair.objects.filter(project=project, content_key__in=keys).values_list(
        "content_key", "id", "response_a__content_hash"
    )
    return {key: (pair_id, a_digest) for key, pair_id, a_digest in rows}


def _ensure_judgements(
    project: Project,
    batch: list[_Hashed],
    pairs: dict,
    created_keys: set[str],
    summary: ImportSummary,
) -> None:
    wanted: dict[str, Judgement] = {}
    for h in batch:
        if h.item.label is None:
            continue
        pair_id, stored_a_digest = pairs[h.key]
        choice = _canonical_label(h.item.label, swapped=stored_a_digest != h.a)
        client_id = f"import:{project.pk}:{h.key[:40]}:{choice}"
        wanted[client_id] = Judgement(
            pair_id=pair_id, choice=choice, client_id=client_id, source=Judgement.Source.IMPORT
        )
    if not wanted:
        return
    existing = set(
        Judgement.objects.filter(client_id__in=wanted).values_list("client_id", flat=True)
    )
    missing = [j for cid, j in wanted.items() if cid not in existing]
    Judgement.objects.bulk_create(missing, ignore_conflicts=True)
    summary.judgements_created += len(missing)
    summary.judgements_existing += len(existing)
    # Pairs created in this batch were counted at creation; older pairs are recounted.
    new_pair_ids = {pairs[key][0] for key in created_keys}
    refresh_pair_counts(project, {j.pair_id for j in missing} - new_pair_ids)


def _canonical_label(label: str, *, swapped: bool) -> str:
    """The file's a/b may be the stored pair's b/a (same pair, other order): swap then."""
    if not swapped or label == "tie":
        return label
    return "b" if label == "a" else "a"


def refresh_pair_counts(project: Project, pair_ids: set[int]) -> None:
    """Recount judgements of the given pairs and mark those at their overlap target complete."""
    if not pair_ids:
        return
    counts = (
        Judgement.objects.filter(pair=OuterRef("pk"))
        .values("pair")
        .annotate(n=Count("id"))
        .values("n")
    )
    pairs = Pair.objects.filter(pk__in=pair_ids)
    pairs.update(judgement_count=Coalesce(Subquery(counts), 0))
    pairs.filter(judgement_count__gte=project.judgements_per_pair).update(
        status=PairStatus.COMPLETE
    )
