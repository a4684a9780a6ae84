"""Importing a `responses` file into a ranking project: one ranking item per prompt.

A prompt's responses make one item when they fit the project's `max_ranked`; more are split
into overlapping items (`formats.ranking_items`). An item is a Pair, so the queue, leases and
overlap treat it as one unit: its response_a and response_b are two of its responses (the
first two in file order that no other pair of the prompt holds), and RankedResponse lists all
of them in file order.

A row of the `rankings` export (with `ranking`, groups of indexes into its `responses`, and
`annotator`) also brings that vote, as an imported judgement of its rater (importing/raters.py)
on each item, restricted to the item's responses; so a `rankings` export imports back.

All or nothing like every import: a first pass checks every row and names the bad lines;
only then is anything written, in one transaction. An item already in the project (the same
prompt and the same responses) is skipped, so a re-import is a no-op. Written row by row with
the ORM: ranking files hold a few responses per prompt, not the millions of pairs the bulk
path is built for.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import combinations
from pathlib import Path

from django.db import transaction

from annotate.formats import (
    ImportFormatError,
    RankingIn,
    ResponseIn,
    RowError,
    parse_ranking_row,
    prompt_hash,
    ranking_items,
    ranking_key,
    sha256,
)
from annotate.importing.raters import ensure_raters
from annotate.importing.reading import check_rows, read_rows
from annotate.importing.summary import ImportSummary
from annotate.judging.shapes import Ranking, implied_choice
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


def import_rankings(
    project: Project, path: str | Path, *, file_type: str | None = None
) -> ImportSummary:
    """Import a responses file into a ranking project; raises ImportFormatError naming lines."""
    rows = check_rows(path, file_type, parse_ranking_row)
    summary = ImportSummary(format="responses", rows=rows)
    with transaction.atomic():
        for line, item in _items(path, file_type):
            _import_row(project, item, summary, line=line)
        if summary.responses_created:
            transaction.on_commit(lambda: responses_imported.send(sender=Project, project=project))
    return summary


def rank_responses(project: Project, item: RankingIn, summary: ImportSummary) -> None:
    """Make one prompt's ranking items from responses that come from elsewhere (a generation
    job), as a file row would; raises ImportFormatError when every two of an item's responses
    already make an item. Caller holds a transaction and announces new responses.
    """
    _import_row(project, item, summary, line=0)


def _items(path: str | Path, file_type: str | None) -> Iterator[tuple[int, RankingIn]]:
    for line, row in read_rows(path, file_type):
        yield line, parse_ranking_row(row)


def _import_row(project: Project, item: RankingIn, summary: ImportSummary, *, line: int) -> None:
    prompt = _prompt(project, item, summary)
    responses = [_response(prompt, r, summary) for r in item.responses]
    for window in ranking_items(len(responses), project.max_ranked):
        pair = _ranking_item(project, prompt, [responses[i] for i in window], summary, line=line)
        if item.ranking is not None:
            ranking = [[responses[i].pk for i in group if i in window] for group in item.ranking]
            _vote(project, pair, [sorted(g) for g in ranking if g], item.annotator, summary)


def _vote(
    project: Project, pair: Pair, ranking: Ranking, annotator: str, summary: ImportSummary
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
        client_id=f"import:{pair.pk}:{rater}",
        source=Judgement.Source.IMPORT,
    )
    summary.judgements_created += 1
    pair.judgement_count = Judgement.objects.valid().filter(pair=pair).count()
    if pair.judgement_count >= project.judgements_per_pair:
        pair.status = PairStatus.COMPLETE
    pair.save(update_fields=["judgement_count", "status"])


def _prompt(project: Project, item: RankingIn, summary: ImportSummary) -> Prompt:
    prompt, created = Prompt.objects.get_or_create(
        project=project,
        content_hash=prompt_hash(item.messages),
        defaults={
            "messages": item.messages,
            "turn_count": sum(1 for m in item.messages if m["role"] == "user"),
        },
    )
    if created:
        summary.prompts_created += 1
    else:
        summary.prompts_existing += 1
    return prompt


def _response(prompt: Prompt, item: ResponseIn, summary: ImportSummary) -> Response:
    response, created = Response.objects.get_or_create(
        prompt=prompt,
        content_hash=sha256(item.text),
        defaults={"text": item.text, "model_name": item.model},
    )
    if created:
        summary.responses_created += 1
    else:
        summary.responses_existing += 1
    if item.model:
        _, added = ResponseSource.objects.get_or_create(response=response, model_name=item.model)
        summary.sources_created += int(added)
    return response


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
