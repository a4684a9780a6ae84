"""Importing a `responses` (or `pairs`) file into a ranking project: items per prompt.

A prompt's responses make one item when they fit the project's `max_ranked`; more are split
into overlapping items (`formats.ranking_items`). An item is a Pair, so the queue, leases and
overlap treat it as one unit: its response_a and response_b are two of its responses (the
first two in file order that no other pair of the prompt holds), and RankedResponse lists all
of them in file order.

A row of the `rankings` export (with `ranking`, groups of indexes into its `responses`, and
`annotator`) also brings that vote, as an imported judgement of its rater (importing/raters.py)
on each item, restricted to the item's responses; so a `rankings` export imports back. A
`criteria` column, `{criterion name: ranking}` in the same indexes, brings the per-criterion
votes beside it.

With `labels="gold"` a row's `ranking` is the items' hidden gold ranking instead (no annotator
needed) and its `criteria` their gold per criterion (judging/gold.py says what a check asks).
Restricted to an item, a gold ranking that ties all of the item's responses checks nothing:
that item stays an ordinary one (a criterion's, that criterion has no gold there). An item's
gold comes from one place: rows of the file that give one item different gold, or a gold that
differs from the one the item already has, are conflicts, each named by its line and counted,
and nothing is imported. With `labels="ignore"` rankings and criteria are dropped.

All or nothing like every import: a first pass checks every row and names the bad lines;
only then is anything written, in one transaction. An item already in the project (the same
prompt and the same responses) is skipped, so a re-import is a no-op. Written row by row with
the ORM: ranking files hold a few responses per prompt, not the millions of pairs the bulk
path is built for.

A `pairs` file makes ranking items too (`import_ranking_pairs`): the pairs sharing a prompt
bring its candidates, and they become its items as a `responses` row of them would.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction

from annotate.formats import (
    MAX_REPORTED_ERRORS,
    FieldError,
    ImportFormatError,
    Messages,
    PairIn,
    RankingIn,
    ResponseIn,
    RowError,
    detect_format,
    parse_ranking_row,
    parse_row,
    prompt_hash,
    ranking_items,
    ranking_key,
    sha256,
)
from annotate.importing.raters import ensure_raters
from annotate.importing.reading import check_rows, read_rows
from annotate.importing.summary import ImportSummary
from annotate.judging.gold import check_gold_ranking, set_gold
from annotate.judging.shapes import Ranking, ShapeError, implied_choice, parse_ranking
from annotate.models import (
    Judgement,
    Pair,
    PairStatus,
    Project,
    Prompt,
    RankedResponse,
    Response,
    ResponseSource,
)
from annotate.signals import responses_imported

# Columns a row may carry beside a prompt and its responses: a vote, or a gold.
VOTE_COLUMNS = ("ranking", "annotator", "criteria")


@dataclass(frozen=True)
class RankedRow:
    """A row read for a ranking project: its prompt and responses, with the vote it brings
    (`item.ranking`, `item.annotator`, `criteria`) or, importing gold, its gold."""

    item: RankingIn
    criteria: dict[str, Ranking] = field(default_factory=dict)
    gold: Ranking | None = None


def import_rankings(
    project: Project,
    path: str | Path,
    *,
    file_type: str | None = None,
    labels: str = "judgements",
) -> ImportSummary:
    """Import a responses file into a ranking project; raises ImportFormatError naming lines.

    `labels` says what a row's ranking (and criteria) become: an imported vote, the items'
    gold, or nothing.
    """
    parse = row_parser(project, labels)
    rows = check_rows(path, file_type, parse)
    summary = ImportSummary(format="responses", rows=rows)
    conflicts = GoldConflicts()
    with transaction.atomic():
        for line, row in _rows(path, file_type, parse):
            _import_row(project, row, summary, line=line, conflicts=conflicts)
        conflicts.raise_any()
        if summary.responses_created:
            transaction.on_commit(lambda: responses_imported.send(sender=Project, project=project))
    return summary


def rank_responses(project: Project, item: RankingIn, summary: ImportSummary) -> None:
    """Make one prompt's ranking items from responses that come from elsewhere (a generation
    job), as a file row would; raises ImportFormatError when every two of an item's responses
    already make an item. Caller holds a transaction and announces new responses.
    """
    _import_row(project, RankedRow(item), summary, line=0, conflicts=GoldConflicts())


def row_parser(project: Project, labels: str) -> Callable[[Any], RankedRow]:
    """How this import reads a row (raising FieldError): see the module's docstring."""
    criteria = {c["name"] for c in project.criteria}

    def parse(row: Any) -> RankedRow:
        if labels == "judgements" or not isinstance(row, dict):
            item = parse_ranking_row(row)
            if row.get("criteria") is not None and item.ranking is None:
                raise FieldError("criteria", "come with a ranking (and its annotator)")
            return RankedRow(item, _criteria(row, len(item.responses), criteria, gold=False))
        item = parse_ranking_row({k: v for k, v in row.items() if k not in VOTE_COLUMNS})
        if labels != "gold" or (row.get("ranking") is None and row.get("criteria") is None):
            return RankedRow(item)
        if row.get("ranking") is None:
            raise FieldError("ranking", "is required with gold criteria: the overall gold")
        count = len(item.responses)
        if count != len(row["responses"]):
            raise FieldError("responses", "a ranked row's responses must all differ")
        gold = _ranking(row["ranking"], count, "ranking")
        _check_gold(gold, "ranking")
        return RankedRow(item, _criteria(row, count, criteria, gold=True), gold)

    return parse


def _criteria(
    row: dict[str, Any], count: int, names: set[str], *, gold: bool
) -> dict[str, Ranking]:
    """The row's `criteria`: {criterion name: ranking of indexes into responses}."""
    value = row.get("criteria")
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise FieldError("criteria", "must be an object of {criterion name: ranking}")
    votes: dict[str, Ranking] = {}
    for name, vote in value.items():
        if name not in names:
            raise FieldError("criteria", f"{name!r} is not a criterion of this project")
        if vote is None:
            continue
        votes[name] = _ranking(vote, count, f"criteria.{name}")
        if gold:
            _check_gold(votes[name], f"criteria.{name}")
    return votes


def _ranking(value: Any, count: int, name: str) -> Ranking:
    try:
        return parse_ranking(value, list(range(count)), field=name)
    except ShapeError as exc:
        raise FieldError(name, f"{exc.message} (indexes into responses)") from exc


def _check_gold(ranking: Ranking, name: str) -> None:
    try:
        check_gold_ranking(ranking, field=name)
    except ShapeError as exc:
        raise FieldError(exc.field, exc.message) from exc


def _rows(
    path: str | Path, file_type: str | None, parse: Callable[[Any], RankedRow]
) -> Iterator[tuple[int, RankedRow]]:
    for line, row in read_rows(path, file_type):
        yield line, parse(row)


def _import_row(
    project: Project,
    row: RankedRow,
    summary: ImportSummary,
    *,
    line: int,
    conflicts: GoldConflicts,
) -> None:
    item = row.item
    prompt = _prompt(project, item.messages, summary)
    responses = [_response(prompt.pk, r, summary) for r in item.responses]
    for window in ranking_items(len(responses), project.max_ranked):
        pair = _ranking_item(project, prompt, [responses[i] for i in window], summary, line=line)
        criteria = {name: _within(vote, responses, window) for name, vote in row.criteria.items()}
        if item.ranking is not None:
            ranking = _within(item.ranking, responses, window)
            _vote(project, pair, ranking, criteria, item.annotator, summary)
        if row.gold is not None:
            gold = _within(row.gold, responses, window)
            if len(gold) > 1:  # an item whose responses the gold ties all is no check
                kept = {name: vote for name, vote in criteria.items() if len(vote) > 1}
                conflicts.give(pair, gold, kept, line=line)


def _within(ranking: Ranking, responses: list[Response], window: range) -> Ranking:
    """A ranking of indexes into the row's responses, restricted to one item, in ids."""
    groups = [[responses[i].pk for i in group if i in window] for group in ranking]
    return [sorted(g) for g in groups if g]


class GoldConflicts:
    """The gold rows give items, checked against each other and the items' own gold."""

    def __init__(self) -> None:
        self.given: dict[int, tuple[int, Ranking, dict[str, Ranking]]] = {}
        self.errors: list[RowError] = []
        self.total = 0

    def give(
        self, pair: Pair, ranking: Ranking, criteria: dict[str, Ranking], *, line: int
    ) -> None:
        """Set the item's gold, or count the line a conflict."""
        earlier = self.given.get(pair.pk)
        if earlier is not None:
            first, was_ranking, was_criteria = earlier
            if was_ranking != ranking:
                self._conflict(line, "ranking", f"line {first} gives this item another gold")
            elif any(was_criteria.get(n, v) != v for n, v in criteria.items()):
                self._conflict(line, "criteria", f"line {first} gives this item other gold")
            return
        self.given[pair.pk] = (line, ranking, criteria)
        shown = pair.get_gold_label_display()
        said = implied_choice(ranking, pair.response_a_id, pair.response_b_id)
        if pair.gold_ranking is not None and pair.gold_ranking != ranking:
            self._conflict(line, "ranking", "the item already has a different gold ranking")
        elif pair.gold_ranking is None and pair.gold_label and pair.gold_label != said:
            self._conflict(line, "ranking", f"the item's gold label is already {shown!r}")
        elif any((pair.gold_criteria or {}).get(n, v) != v for n, v in criteria.items()):
            self._conflict(line, "criteria", "the item already has a different gold for it")
        else:
            changed = set_gold(
                pair, ranking=ranking, criteria={**(pair.gold_criteria or {}), **criteria}
            )
            if changed:
                pair.save(update_fields=changed)

    def _conflict(self, line: int, name: str, message: str) -> None:
        self.total += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(RowError(line, name, message))

    def raise_any(self) -> None:
        """Refuse the import (its transaction rolls back) when any line conflicted."""
        if self.total:
            raise ImportFormatError(self.errors, self.total)


def _vote(
    project: Project,
    pair: Pair,
    ranking: Ranking,
    criteria: dict[str, Ranking],
    annotator: str,
    summary: ImportSummary,
) -> None:
    """The row's ranking as its rater's imported judgement of the item (once per rater)."""
    rater = ensure_raters(project, [annotator])[annotator]
    if Judgement.objects.filter(pair=pair, annotator_id=rater).exists():
        summary.judgements_existing += 1
        return
    Judgement.objects.create(
        pair=pair,
        annotator_id=rater,
        choice=implied_choice(ranking, pair.response_a_id, pair.response_b_id),
        ranking=ranking,
        criteria=criteria or None,
        client_id=f"import:{pair.pk}:{rater}",
        source=Judgement.Source.IMPORT,
    )
    summary.judgements_created += 1
    pair.judgement_count = Judgement.objects.valid().filter(pair=pair).count()
    if pair.judgement_count >= project.judgements_per_pair:
        pair.status = PairStatus.COMPLETE
    pair.save(update_fields=["judgement_count", "status"])


def _prompt(project: Project, messages: Messages, summary: ImportSummary) -> Prompt:
    prompt, created = Prompt.objects.get_or_create(
        project=project,
        content_hash=prompt_hash(messages),
        defaults={
            "messages": messages,
            "turn_count": sum(1 for m in messages if m["role"] == "user"),
        },
    )
    if created:
        summary.prompts_created += 1
    else:
        summary.prompts_existing += 1
    return prompt


def _response(prompt_id: int, item: ResponseIn, summary: ImportSummary) -> Response:
    response, created = Response.objects.get_or_create(
        prompt_id=prompt_id,
        content_hash=sha256(item.text),
        defaults={"text": item.text, "model_name": item.model},
    )
    if created:
        summary.responses_created += 1
    else:
        summary.responses_existing += 1
    _source(response.pk, item.model, summary)
    return response


def _source(response_id: int, model: str, summary: ImportSummary) -> None:
    """Record that `model` wrote the response (once per model)."""
    if model:
        _, added = ResponseSource.objects.get_or_create(response_id=response_id, model_name=model)
        summary.sources_created += int(added)


def _ranking_item(
    project: Project,
    prompt: Prompt,
    responses: list[Response],
    summary: ImportSummary,
    *,
    line: int,
) -> Pair:
    """The item of these responses, made unless the project has it already."""
    key = ranking_key(prompt.content_hash, (r.content_hash for r in responses))
    existing = Pair.objects.filter(project=project, content_key=key).first()
    if existing is not None:
        summary.pairs_existing += 1
        return existing
    taken = {
        frozenset(ab)
        for ab in Pair.objects.filter(project=project, prompt=prompt).values_list(
            "response_a_id", "response_b_id"
        )
    }
    free = [ab for ab in combinations(responses, 2) if frozenset(r.pk for r in ab) not in taken]
    if not free:  # every two of its responses already make a pair of this prompt
        error = RowError(line, "responses", "every two of these responses already make an item")
        raise ImportFormatError([error], 1)
    a, b = free[0]
    pair = Pair.objects.create(
        project=project,
        prompt=prompt,
        response_a=a,
        response_b=b,
        content_key=key,
        tiebreak=int(key[:15], 16),
    )
    RankedResponse.objects.bulk_create(
        RankedResponse(pair=pair, response=r, position=i) for i, r in enumerate(responses)
    )
    summary.pairs_created += 1
    return pair


# ---------------------------------------------------------------- pairs sharing a prompt

# A pairs row's columns that carry a vote: in a ranking project they need a `rankings` row.
PAIR_VOTE_COLUMNS = ("label", "criteria")


@dataclass
class PromptPairs:
    """One prompt's pairs, gathered from a file: its distinct responses in first-seen order
    (text digest -> response id, 0 until written) and the line of its last row."""

    last: int
    responses: dict[str, int] = field(default_factory=dict)
    prompt_id: int = 0


def import_ranking_pairs(
    project: Project,
    path: str | Path,
    *,
    file_type: str | None = None,
    labels: str = "judgements",
    fmt: str = "auto",
) -> ImportSummary:
    """Import a `pairs` file into a ranking project: the pairs sharing a prompt become that
    prompt's ranking items; raises ImportFormatError naming lines.

    A prompt's distinct responses, in the order the file first names them (with every model a
    row names as a source), make its items exactly as a `responses` row of them would: one item,
    or overlapping items past `max_ranked`, with the same keys, so a re-import is a no-op and a
    `responses` row of the same candidates finds the same items. A prompt of one pair makes an
    item of two, as a `responses` row of two does. A pair's label is a vote on two responses,
    not one rater's ranking of the item, so labelled rows are refused unless `labels` is
    "ignore" (import votes as `rankings` rows). A row's `id` and `meta` are not kept: an item
    stands for many rows.

    The file is read twice (check, then write) and never held: memory grows with its distinct
    prompts and responses (a digest and an id each, not their texts).
    """
    gathered, rows = _gather_pairs(path, file_type, labels, fmt)
    summary = ImportSummary(format="pairs", rows=rows)
    with transaction.atomic():
        for _line, pair in _pair_rows(path, file_type, labels, fmt):
            _add_pair(project, pair, gathered[prompt_hash(pair.messages)], summary)
        for group in gathered.values():
            _pairs_items(project, group, summary)
        if summary.responses_created:
            transaction.on_commit(lambda: responses_imported.send(sender=Project, project=project))
    return summary


def _gather_pairs(
    path: str | Path, file_type: str | None, labels: str, fmt: str
) -> tuple[dict[str, PromptPairs], int]:
    """Check every row; the prompts' distinct responses and the row count, or ImportFormatError
    naming the bad lines."""
    most = settings.IMPORT_MAX_RESPONSES_PER_PROMPT
    gathered: dict[str, PromptPairs] = {}
    errors: list[RowError] = []
    total = rows = 0
    for line, row in read_rows(path, file_type):
        rows += 1
        error = row if isinstance(row, RowError) else None
        try:
            if error is None:
                pair = _pair_row(row, labels, fmt)
                group = gathered.setdefault(prompt_hash(pair.messages), PromptPairs(line))
                for name, response in (("response_a", pair.a), ("response_b", pair.b)):
                    digest = sha256(response.text)
                    if digest not in group.responses and len(group.responses) >= most:
                        raise FieldError(
                            name,
                            f"is one response too many for its prompt: at most {most} different"
                            " responses per prompt (IMPORT_MAX_RESPONSES_PER_PROMPT)",
                        )
                    group.responses.setdefault(digest, 0)
                group.last = line
        except FieldError as exc:
            error = RowError(line, exc.field, exc.message)
        if error is not None:
            total += 1
            if len(errors) < MAX_REPORTED_ERRORS:
                errors.append(error)
    if rows == 0:
        raise ImportFormatError([RowError(0, "", "the file has no rows")], 1)
    if total:
        raise ImportFormatError(errors, total)
    return gathered, rows


def _pair_rows(
    path: str | Path, file_type: str | None, labels: str, fmt: str
) -> Iterator[tuple[int, PairIn]]:
    for line, row in read_rows(path, file_type):
        yield line, _pair_row(row, labels, fmt)


def _pair_row(row: Any, labels: str, fmt: str) -> PairIn:
    """A pairs row read for a ranking project (raising FieldError)."""
    detected = fmt if fmt != "auto" else detect_format(row)
    if detected is None:
        raise FieldError("", "unrecognised row: expected prompt, response_a and response_b")
    if detected != "pairs":
        raise FieldError("", f"a {detected} row among pairs: import it in a file of its own")
    (pair,) = parse_row("pairs", row)
    if labels != "ignore":
        voted = [k for k in row if k in PAIR_VOTE_COLUMNS or k.startswith("criterion_")]
        for name in voted:
            if row[name] is not None:
                raise FieldError(
                    name,
                    "a pair's vote is not a ranking of its prompt's item: import votes as"
                    " `rankings` rows (prompt, responses, ranking, annotator), or import these"
                    " pairs with labels `ignore` (--labels ignore)",
                )
    return pair


def _add_pair(project: Project, pair: PairIn, group: PromptPairs, summary: ImportSummary) -> None:
    """Write a row's prompt and responses (each once) and the models it names."""
    if not group.prompt_id:
        group.prompt_id = _prompt(project, pair.messages, summary).pk
    for response in (pair.a, pair.b):
        digest = sha256(response.text)
        if group.responses[digest]:
            _source(group.responses[digest], response.model, summary)
        else:
            group.responses[digest] = _response(group.prompt_id, response, summary).pk
    summary.rows_gathered += 1


def _pairs_items(project: Project, group: PromptPairs, summary: ImportSummary) -> None:
    """A gathered prompt's ranking items, as a `responses` row of its responses makes them."""
    prompt = Prompt.objects.only("id", "content_hash").get(pk=group.prompt_id)
    found = Response.objects.only("id", "content_hash").in_bulk(list(group.responses.values()))
    responses = [found[pk] for pk in group.responses.values()]
    for window in ranking_items(len(responses), project.max_ranked):
        items = [responses[i] for i in window]
        _ranking_item(project, prompt, items, summary, line=group.last)
