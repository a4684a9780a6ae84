"""Importing votes (the `judgements` format): each distinct annotator becomes a rater.

Like every import it is all or nothing: a first pass checks every row (fields, that the named
pairs exist, one vote per annotator and pair) and stages the pairs rows carry with them;
only then, in one transaction, are those pairs written (annotate/bulk.py) and the votes. A
vote already present for its annotator and pair is skipped, so a re-import is a no-op.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from django.db import transaction

from annotate.formats import (
    MAX_REPORTED_ERRORS,
    ImportFormatError,
    RowError,
    pair_key,
    prompt_hash,
    sha256,
)
from annotate.importing.bulk import BulkImport
from annotate.importing.judgement_format import JudgementIn, parse_judgement
from annotate.importing.raters import ensure_raters
from annotate.importing.reading import check_rows, read_rows
from annotate.importing.summary import ImportSummary
from annotate.judging.overlap import settle_pairs
from annotate.models import Judgement, Pair, Project

# Votes written per batch, and external ids looked up per query.
BATCH_SIZE = 1000


def import_judgements(
    project: Project, path: str | Path, *, file_type: str | None = None
) -> ImportSummary:
    """Import a judgements file whole or not at all; raises ImportFormatError naming lines."""
    with BulkImport(project, labels="ignore") as bulk:
        rows = _check_rows(bulk, path, file_type)
        _check_references(project, path, file_type)
        touched: set[int] = set()
        with transaction.atomic():
            summary = ImportSummary(format="judgements", rows=rows, **bulk.write())
            for batch in _batches(path, file_type):
                touched |= _write_batch(project, batch, summary)
            settle_pairs(project, touched)
    return summary


def _check_rows(bulk: BulkImport, path: str | Path, file_type: str | None) -> int:
    """Check every row's fields and stage the pairs rows carry; return the row count."""

    def stage(vote: JudgementIn) -> None:
        if vote.pair is not None:
            bulk.add([vote.pair])

    return check_rows(path, file_type, parse_judgement, stage)


def _votes(path: str | Path, file_type: str | None) -> Iterator[tuple[int, JudgementIn]]:
    for line, row in read_rows(path, file_type):
        yield line, parse_judgement(row)


def _reference(vote: JudgementIn) -> str:
    """Which pair a row means, before it meets the database."""
    if vote.pair is None:
        return f"id:{vote.external_id}"
    item = vote.pair
    return "key:" + pair_key(prompt_hash(item.messages), sha256(item.a.text), sha256(item.b.text))


def _check_references(project: Project, path: str | Path, file_type: str | None) -> None:
    """Every pair_external_id names exactly one pair; no annotator votes twice on a pair."""
    errors: list[RowError] = []
    total = 0
    seen: set[tuple[str, str]] = set()
    lines_by_id: dict[str, list[int]] = {}
    for line, vote in _votes(path, file_type):
        key = (_reference(vote), vote.annotator)
        if key in seen:
            total += 1
            errors.append(RowError(line, "annotator", "votes on this pair a second time"))
            _keep_first(errors)
        seen.add(key)
        if vote.pair is None:
            lines_by_id.setdefault(vote.external_id, []).append(line)
    matches = _pairs_by_external_id(project, list(lines_by_id))
    for external_id, lines in lines_by_id.items():
        found = len(matches.get(external_id, ()))
        if found != 1:
            message = "names no pair of this project" if not found else f"names {found} pairs"
            total += len(lines)
            errors.extend(RowError(line, "pair_external_id", message) for line in lines)
            _keep_first(errors)
    if total:
        errors.sort(key=lambda e: e.line)
        raise ImportFormatError(errors[:MAX_REPORTED_ERRORS], total)


def _keep_first(errors: list[RowError]) -> None:
    """Keep only the errors that can still be reported, so a file of repeats holds no more."""
    if len(errors) > 2 * MAX_REPORTED_ERRORS:
        errors.sort(key=lambda e: e.line)
        del errors[MAX_REPORTED_ERRORS:]


def _pairs_by_external_id(project: Project, ids: list[str]) -> dict[str, list[tuple[int, str]]]:
    """external id -> [(pair id, hash of its response a)], read in chunks of BATCH_SIZE."""
    found: dict[str, list[tuple[int, str]]] = {}
    for start in range(0, len(ids), BATCH_SIZE):
        rows = Pair.objects.filter(
            project=project, external_id__in=ids[start : start + BATCH_SIZE]
        ).values_list("external_id", "id", "response_a__content_hash")
        for external_id, pair_id, a_digest in rows:
            found.setdefault(external_id, []).append((pair_id, a_digest))
    return found


def _pairs_by_key(project: Project, references: list[str]) -> dict[str, tuple[int, str]]:
    """content key -> (pair id, hash of its response a) for "key:..." references."""
    keys = [reference.removeprefix("key:") for reference in references]
    rows = Pair.objects.filter(project=project, content_key__in=keys).values_list(
        "content_key", "id", "response_a__content_hash"
    )
    return {key: (pair_id, a_digest) for key, pair_id, a_digest in rows}


def _batches(path: str | Path, file_type: str | None) -> Iterator[list[JudgementIn]]:
    batch: list[JudgementIn] = []
    for _line, vote in _votes(path, file_type):
        batch.append(vote)
        if len(batch) >= BATCH_SIZE:
            yield batch
            batch = []
    if batch:
        yield batch


def _write_batch(project: Project, batch: list[JudgementIn], summary: ImportSummary) -> set[int]:
    """Write a batch's new votes; return the ids of the pairs that got one."""
    by_key = _pairs_by_key(project, [_reference(v) for v in batch if v.pair is not None])
    by_id = {
        external_id: matches[0]
        for external_id, matches in _pairs_by_external_id(
            project, list({v.external_id for v in batch if v.pair is None})
        ).items()
    }
    raters = ensure_raters(project, (v.annotator for v in batch))
    wanted: dict[tuple[int, int], tuple[Judgement, datetime | None]] = {}
    for vote in batch:
        if vote.pair is None:
            pair_id, a_digest = by_id[vote.external_id]
            swapped = False
        else:
            pair_id, a_digest = by_key[_reference(vote).removeprefix("key:")]
            swapped = a_digest != sha256(vote.pair.a.text)
        rater = raters[vote.annotator]
        wanted[(pair_id, rater)] = (_judgement(vote, pair_id, rater, swapped), vote.created_at)
    present = _present(wanted)
    new = [item for key, item in wanted.items() if key not in present]
    Judgement.objects.bulk_create([judgement for judgement, _ in new])
    # created_at is set on insert (auto_now_add); the file's times are written afterwards.
    dated = []
    for judgement, created_at in new:
        if created_at is not None:
            judgement.created_at = created_at
            dated.append(judgement)
    Judgement.objects.bulk_update(dated, ["created_at"], batch_size=500)
    summary.judgements_created += len(new)
    summary.judgements_existing += len(present)
    return {judgement.pair_id for judgement, _ in new}


def _judgement(vote: JudgementIn, pair_id: int, rater: int, swapped: bool) -> Judgement:
    """The row's vote in the stored pair's a/b terms (the file may name them the other way)."""
    flip = {"a": "b", "b": "a"} if swapped else {}
    models = ("", "") if vote.pair is None else (vote.pair.a.model, vote.pair.b.model)
    model_a, model_b = models[::-1] if swapped else models
    return Judgement(
        pair_id=pair_id,
        annotator_id=rater,
        choice=flip.get(vote.choice, vote.choice),
        shown_left=flip.get(vote.shown_left, vote.shown_left),
        strength=vote.strength,
        rationale=vote.rationale,
        duration_ms=vote.duration_ms,
        client_id=f"import:{pair_id}:{rater}",
        source=Judgement.Source.IMPORT,
        model_a=model_a,
        model_b=model_b,
    )


def _present(wanted: dict[tuple[int, int], Any]) -> set[tuple[int, int]]:
    """(pair, annotator) keys that already have a vote."""
    rows = Judgement.objects.filter(
        pair_id__in={p for p, _ in wanted}, annotator_id__in={a for _, a in wanted}
    ).values_list("pair_id", "annotator_id")
    return {key for key in rows if key in wanted}
