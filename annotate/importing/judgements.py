"""Importing votes (the `judgements` format): each distinct annotator becomes a rater.

Like every import it is all or nothing: a first pass checks every row (fields, that the named
pairs exist, one vote per annotator and pair) and stages the pairs rows carry with them;
only then, in one transaction, are those pairs written (annotate/bulk.py) and the votes. A
vote already present for its annotator and pair is skipped, so a re-import is a no-op.

A project's judgement settings are checked too (importing/judgement_format.py): criteria it
has, ratings on its scale, and on a ranking project items it holds (named by their texts or
id), a ranking of all of an item's responses and a choice that is what the ranking says of the
item's a and b. Positions in the file become the stored response ids.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
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
    ranking_key,
    sha256,
)
from annotate.importing.bulk import BulkImport
from annotate.importing.judgement_format import ImportShape, JudgementIn, parse_judgement
from annotate.importing.raters import ensure_raters
from annotate.importing.reading import check_rows, read_rows
from annotate.importing.summary import ImportSummary
from annotate.judging.overlap import settle_pairs
from annotate.judging.shapes import Ranking, implied_choice
from annotate.models import Comparison, Judgement, Pair, Project, RankedResponse

# Votes written per batch, and external ids looked up per query.
BATCH_SIZE = 1000


def import_judgements(
    project: Project, path: str | Path, *, file_type: str | None = None
) -> ImportSummary:
    """Import a judgements file whole or not at all; raises ImportFormatError naming lines."""
    shape = ImportShape.of(project)
    with BulkImport(project, labels="ignore") as bulk:
        rows = _check_rows(bulk, path, file_type, shape)
        _check_references(project, path, file_type, shape)
        if shape.ranking:
            _check_items(project, path, file_type, shape)
        touched: set[int] = set()
        with transaction.atomic():
            summary = ImportSummary(format="judgements", rows=rows, **bulk.write())
            for batch in _batches(path, file_type, shape):
                touched |= _write_batch(project, batch, summary)
            settle_pairs(project, touched)
    return summary


def _check_rows(
    bulk: BulkImport, path: str | Path, file_type: str | None, shape: ImportShape
) -> int:
    """Check every row's fields and stage the pairs rows carry; return the row count."""

    def stage(vote: JudgementIn) -> None:
        if vote.pair is not None:
            bulk.add([vote.pair])

    return check_rows(path, file_type, lambda row: parse_judgement(row, shape), stage)


def _votes(
    path: str | Path, file_type: str | None, shape: ImportShape
) -> Iterator[tuple[int, JudgementIn]]:
    for line, row in read_rows(path, file_type):
        yield line, parse_judgement(row, shape)


def _reference(vote: JudgementIn) -> str:
    """Which pair a row means, before it meets the database."""
    if vote.item is not None:
        return "key:" + item_key(vote.item.messages, vote.item.responses)
    if vote.pair is None:
        return f"id:{vote.external_id}"
    item = vote.pair
    return "key:" + pair_key(prompt_hash(item.messages), sha256(item.a.text), sha256(item.b.text))


def item_key(messages: list[dict[str, str]], responses: tuple[str, ...]) -> str:
    """A ranking item's content key, as the responses import makes it (importing/rankings.py)."""
    return ranking_key(prompt_hash(messages), (sha256(text) for text in responses))


def _check_references(
    project: Project, path: str | Path, file_type: str | None, shape: ImportShape
) -> None:
    """Every pair_external_id names exactly one pair; no annotator votes twice on a pair."""
    errors: list[RowError] = []
    total = 0
    seen: set[tuple[str, str]] = set()
    lines_by_id: dict[str, list[int]] = {}
    for line, vote in _votes(path, file_type, shape):
        key = (_reference(vote), vote.annotator)
        if key in seen:
            total += 1
            errors.append(RowError(line, "annotator", "votes on this pair a second time"))
            _keep_first(errors)
        seen.add(key)
        if vote.pair is None and vote.item is None:
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


# (pair id, hash of its response a, response a's id, response b's id)
Found = tuple[int, str, int, int]
_FOUND_COLUMNS = ("id", "response_a__content_hash", "response_a_id", "response_b_id")


def _pairs_by_external_id(project: Project, ids: list[str]) -> dict[str, list[Found]]:
    """external id -> [its pairs], read in chunks of BATCH_SIZE."""
    found: dict[str, list[Found]] = {}
    for start in range(0, len(ids), BATCH_SIZE):
        rows = Pair.objects.filter(
            project=project, external_id__in=ids[start : start + BATCH_SIZE]
        ).values_list("external_id", *_FOUND_COLUMNS)
        for external_id, *match in rows:
            found.setdefault(external_id, []).append(tuple(match))  # type: ignore[arg-type]
    return found


def _pairs_by_key(project: Project, references: list[str]) -> dict[str, Found]:
    """content key -> its pair, for "key:..." references."""
    keys = [reference.removeprefix("key:") for reference in references]
    rows = Pair.objects.filter(project=project, content_key__in=keys).values_list(
        "content_key", *_FOUND_COLUMNS
    )
    return {key: tuple(match) for key, *match in rows}  # type: ignore[misc]


def _batches(
    path: str | Path, file_type: str | None, shape: ImportShape
) -> Iterator[list[JudgementIn]]:
    batch: list[JudgementIn] = []
    for _line, vote in _votes(path, file_type, shape):
        batch.append(vote)
        if len(batch) >= BATCH_SIZE:
            yield batch
            batch = []
    if batch:
        yield batch


@dataclass(frozen=True)
class _Target:
    """The stored pair a row names, and its response ids in the row's positions."""

    pair_id: int
    order: list[int]
    a_id: int
    b_id: int
    swapped: bool = False


def _targets(project: Project, batch: list[JudgementIn]) -> list[_Target | None]:
    """Each row's target (None: a ranking item the project lacks, reported by _check_items)."""
    by_key = _pairs_by_key(project, [_reference(v) for v in batch if v.pair or v.item])
    by_id = {
        external_id: matches[0]
        for external_id, matches in _pairs_by_external_id(
            project, list({v.external_id for v in batch if v.pair is None and v.item is None})
        ).items()
    }
    found = [
        by_key.get(_reference(vote).removeprefix("key:"))
        if vote.pair or vote.item
        else by_id.get(vote.external_id)
        for vote in batch
    ]
    ranks = project.comparison == Comparison.RANKING  # only ranking items have ranked responses
    ranked = _ranked_responses([f[0] for f in found if f is not None]) if ranks else {}
    targets: list[_Target | None] = []
    for vote, match in zip(batch, found, strict=True):
        if match is None:
            targets.append(None)
            continue
        pair_id, a_digest, a_id, b_id = match
        if vote.item is not None:
            digests = dict(ranked.get(pair_id, []))
            order = [digests[sha256(text)] for text in vote.item.responses]
        elif pair_id in ranked:
            order = [rid for _, rid in ranked[pair_id]]
        elif vote.pair is not None and a_digest != sha256(vote.pair.a.text):
            targets.append(_Target(pair_id, [b_id, a_id], a_id, b_id, swapped=True))
            continue
        else:
            order = [a_id, b_id]
        targets.append(_Target(pair_id, order, a_id, b_id))
    return targets


def _ranked_responses(pair_ids: list[int]) -> dict[int, list[tuple[str, int]]]:
    """A ranking item's (content hash, response id) in its order, for the items among these."""
    found: dict[int, list[tuple[str, int]]] = {}
    for start in range(0, len(pair_ids), BATCH_SIZE):
        rows = (
            RankedResponse.objects.filter(pair_id__in=pair_ids[start : start + BATCH_SIZE])
            .order_by("pair_id", "position")
            .values_list("pair_id", "response__content_hash", "response_id")
        )
        for pair_id, digest, rid in rows:
            found.setdefault(pair_id, []).append((digest, rid))
    return found


def _check_items(
    project: Project, path: str | Path, file_type: str | None, shape: ImportShape
) -> None:
    """On a ranking project: every row names an item here, ranks all of its responses, and
    its choice is what its ranking says of the item's a and b."""
    errors: list[RowError] = []
    total = 0
    lines: list[int] = []
    batch: list[JudgementIn] = []

    def check() -> None:
        nonlocal total
        for line, vote, target in zip(lines, batch, _targets(project, batch), strict=True):
            error = _item_error(line, vote, target)
            if error is not None:
                total += 1
                if len(errors) < MAX_REPORTED_ERRORS:
                    errors.append(error)
        lines.clear()
        batch.clear()

    for line, vote in _votes(path, file_type, shape):
        lines.append(line)
        batch.append(vote)
        if len(batch) >= BATCH_SIZE:
            check()
    check()
    if total:
        raise ImportFormatError(errors, total)


def _item_error(line: int, vote: JudgementIn, target: _Target | None) -> RowError | None:
    if target is None:
        return RowError(line, "responses", "names no ranking item of this project")
    size = len(target.order)
    if vote.ranking is not None and sum(len(g) for g in vote.ranking) != size:
        return RowError(line, "ranking", f"must rank all {size} responses of the item")
    if vote.ratings is not None and len(vote.ratings) != size:
        return RowError(line, "ratings", f"must list one rating (or null) per response ({size})")
    for name, order in vote.criteria.items():
        if sum(len(g) for g in order) != size:
            return RowError(line, f"criterion_{name}", f"must rank all {size} responses")
    if vote.ranking is not None:
        said = implied_choice(_ids(vote.ranking, target), target.a_id, target.b_id)
        if vote.choice != said:
            return RowError(line, "choice", f"is {vote.choice} but the ranking says {said}")
    return None


def _ids(ranking: Ranking, target: _Target) -> Ranking:
    """A ranking of positions as one of stored response ids (sorted within a group)."""
    return [sorted(target.order[p] for p in group) for group in ranking]


def _write_batch(project: Project, batch: list[JudgementIn], summary: ImportSummary) -> set[int]:
    """Write a batch's new votes; return the ids of the pairs that got one."""
    targets = _targets(project, batch)
    raters = ensure_raters(project, (v.annotator for v in batch))
    wanted: dict[tuple[int, int], tuple[Judgement, datetime | None]] = {}
    for vote, target in zip(batch, targets, strict=True):
        assert target is not None  # every reference was checked before the transaction
        rater = raters[vote.annotator]
        wanted[(target.pair_id, rater)] = (_judgement(vote, target, rater), vote.created_at)
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


def _judgement(vote: JudgementIn, target: _Target, rater: int) -> Judgement:
    """The row's vote in the stored pair's a/b terms (the file may name them the other way),
    its positions as stored response ids."""
    swapped = target.swapped
    flip = {"a": "b", "b": "a"} if swapped else {}
    models = ("", "") if vote.pair is None else (vote.pair.a.model, vote.pair.b.model)
    model_a, model_b = models[::-1] if swapped else models
    criteria = {
        name: _ids(value, target) if isinstance(value, list) else flip.get(value, value)
        for name, value in vote.criteria.items()
    }
    ratings = {
        str(target.order[i]): value
        for i, value in enumerate(vote.ratings or ())
        if value is not None
    }
    return Judgement(
        pair_id=target.pair_id,
        annotator_id=rater,
        choice=flip.get(vote.choice, vote.choice),
        shown_left=flip.get(vote.shown_left, vote.shown_left),
        strength=vote.strength,
        rationale=vote.rationale,
        duration_ms=vote.duration_ms,
        client_id=f"import:{target.pair_id}:{rater}",
        source=Judgement.Source.IMPORT,
        model_a=model_a,
        model_b=model_b,
        ranking=None if vote.ranking is None else _ids(vote.ranking, target),
        criteria=criteria or None,
        ratings=ratings or None,
    )


def _present(wanted: dict[tuple[int, int], Any]) -> set[tuple[int, int]]:
    """(pair, annotator) keys that already have a vote."""
    rows = Judgement.objects.filter(
        pair_id__in={p for p, _ in wanted}, annotator_id__in={a for _, a in wanted}
    ).values_list("pair_id", "annotator_id")
    return {key for key in rows if key in wanted}
