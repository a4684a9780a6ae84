"""The data browser: filtering and sorting a project's pairs, and one pair with its judgements."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.db import connection
from django.db.models import (
    Count,
    Exists,
    Expression,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    TextField,
    Value,
)
from django.db.models.functions import Cast, Coalesce, Left

from annotate.models import (
    Comparison,
    Edits,
    Judgement,
    Pair,
    PairStatus,
    Project,
    Prompt,
    RankedResponse,
    Response,
    ResponseSource,
)
from annotate.paging import Page, keyset_page
from annotate.projects.counts import current_source_models
from annotate.review.text_index import SEARCHED_CHARS
from annotate.signals import PairSort, pair_sorts

# Sort name -> the Pair field the keyset runs on (descending, then by id); "priority" is its
# PairRank's. Other apps may offer more sorts through the pair_sorts signal (rewards: the served
# model's reward margin).
SORTS = {"newest": "pk", "priority": "sort_key", "votes": "judgement_count"}
STATUSES = ("pending", "complete", "judged", "unjudged")
PAGE_SIZE = 50
# Model names feed the filter's suggestions; listing them reads every response, so it is cached.
MODEL_NAMES_SECONDS = 60


@dataclass(frozen=True)
class PairFilter:
    status: str = ""
    disagreement: bool = False
    gold: str = ""  # "yes", "no" or "" (either)
    model: str = ""
    annotator_id: int | None = None
    text: str = ""
    sort: str = "newest"


def filter_pairs(project: Project, wanted: PairFilter) -> QuerySet[Pair]:
    """The project's pairs that match every given filter."""
    pairs = Pair.objects.filter(project=project)
    if wanted.status in (PairStatus.PENDING, PairStatus.COMPLETE):
        pairs = pairs.filter(status=wanted.status)
    elif wanted.status == "judged":
        pairs = pairs.filter(judgement_count__gt=0)
    elif wanted.status == "unjudged":
        pairs = pairs.filter(judgement_count=0)
    if wanted.disagreement:
        pairs = pairs.filter(judgement_count__gte=2).filter(Exists(_other_choice()))
    if wanted.gold:
        pairs = (
            pairs.exclude(gold_label="") if wanted.gold == "yes" else pairs.filter(gold_label="")
        )
    if wanted.model:
        # Any model that wrote either text: one text may come from several models.
        wrote = ResponseSource.objects.filter(model_name=wanted.model)
        pairs = pairs.filter(
            Exists(wrote.filter(response=OuterRef("response_a")))
            | Exists(wrote.filter(response=OuterRef("response_b")))
        )
    if wanted.annotator_id is not None:
        by = Judgement.objects.filter(pair=OuterRef("pk"), annotator_id=wanted.annotator_id)
        pairs = pairs.filter(Exists(by))
    if wanted.text:
        pairs = _search(project, pairs, wanted.text)
    return pairs


def _other_choice() -> QuerySet[Judgement]:
    """A valid judgement of the pair that differs from the pair's first valid judgement."""
    first = (
        Judgement.objects.valid()
        .filter(pair=OuterRef(OuterRef("pk")))
        .order_by("pk")
        .values("choice")[:1]
    )
    return Judgement.objects.valid().filter(pair=OuterRef("pk")).exclude(choice=Subquery(first))


def _search(project: Project, pairs: QuerySet[Pair], text: str) -> QuerySet[Pair]:
    """Full-text search on Postgres (English stemming, web-search syntax); LIKE elsewhere."""
    if connection.vendor == "postgresql":
        return _full_text(project, pairs, text)
    return pairs.filter(
        Q(prompt__messages__icontains=text)
        | Q(response_a__text__icontains=text)
        | Q(response_b__text__icontains=text)
    )


# Up to this many matching prompts or responses, pairs are found by those ids (index lookups);
# past it the words are common, and testing pairs in the page's order fills a page sooner.
SEARCH_ID_LIMIT = 5000


def _full_text(project: Project, pairs: QuerySet[Pair], text: str) -> QuerySet[Pair]:
    """Rare words: the GIN indexes of the stored documents find the texts; common words: each
    pair is tested in order until a page is full, so neither parses every row's text.

    A text the worker has not indexed yet (annotate/review/text_index.py) is parsed here, found
    through the partial index of the unindexed rows, so search misses nothing meanwhile.
    """
    from django.contrib.postgres.search import SearchQuery

    query = SearchQuery(text, search_type="websearch", config="english")
    prompts = _ids_if_few(Prompt.objects.filter(project=project), _text_matches("messages", query))
    responses = _ids_if_few(
        Response.objects.filter(prompt__project=project), _text_matches("text", query)
    )
    if prompts is not None and responses is not None:
        return pairs.filter(
            Q(prompt__in=prompts) | Q(response_a__in=responses) | Q(response_b__in=responses)
        )
    return pairs.filter(
        _text_matches("prompt__messages", query)
        | _text_matches("response_a__text", query)
        | _text_matches("response_b__text", query)
    )


def _ids_if_few(rows: QuerySet[Any], matches: Q) -> list[int] | None:
    ids = list(rows.filter(matches).values_list("pk", flat=True)[: SEARCH_ID_LIMIT + 1])
    return ids if len(ids) <= SEARCH_ID_LIMIT else None


def _text_matches(field: str, query: Any) -> Q:
    """The text in `field` (a prompt's messages or a response's text) matches `query`: by its
    stored document, or, while it has none, by parsing the text."""
    from django.contrib.postgres.search import SearchVector, SearchVectorExact
    from django.db.models.lookups import IsNull

    document = _SearchDocument(field)
    source = Cast(field, TextField()) if field.endswith("messages") else F(field)
    # As text_index stores it: the first SEARCHED_CHARS characters.
    parsed = SearchVector(Left(source, SEARCHED_CHARS), config="english")
    return Q(SearchVectorExact(document, query)) | Q(
        IsNull(document, True), SearchVectorExact(parsed, query)
    )


class _SearchDocument(Expression):
    """The `search_document` column (migration 0016, not a model field) of the table that holds
    `field`, in the query's alias for that table."""

    def __init__(self, field: str) -> None:
        from django.contrib.postgres.search import SearchVectorField

        super().__init__(output_field=SearchVectorField())
        self.column: Any = F(field)

    def get_source_expressions(self) -> list[Any]:
        return [self.column]

    def set_source_expressions(self, exprs: Sequence[Any]) -> None:
        (self.column,) = exprs

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        # A resolved reference is a Col; its alias is the joined or subquery table's name.
        table = compiler.quote_name_unless_alias(self.column.alias)
        return f"{table}.search_document", []


def extra_sorts(project: Project) -> dict[str, PairSort]:
    """Sorts other apps offer for this project right now, by name."""
    # django-stubs types a receiver's reply as `str | None`; ours return a PairSort or None.
    replies: Sequence[tuple[Any, object]] = pair_sorts.send(sender=Pair, project=project)
    offered = [sort for _, sort in replies]
    return {sort.name: sort for sort in offered if isinstance(sort, PairSort)}


def browse_pairs(
    project: Project,
    wanted: PairFilter,
    *,
    after: tuple[Any, int] | None = None,
    extra: dict[str, PairSort] | None = None,
) -> Page:
    """One page of matching pairs for the table; response texts are not loaded.

    `extra` holds the sorts from extra_sorts(); a sort named there is used for the order.
    Each row has `ranked_count` (a ranking item's responses; None on a pairwise project) and
    `edit_count` (its judgements with an edit; None where the project takes no edits).
    """
    pairs = (
        _with_shape_counts(project, filter_pairs(project, wanted))
        .select_related("prompt", "response_a", "response_b", "rank")
        .only(
            "status",
            "rank__priority",
            "judgement_count",
            "gold_label",
            "external_id",
            "prompt__messages",
            "response_a__model_name",
            "response_b__model_name",
        )
    )
    if extra and wanted.sort in extra:
        sort = extra[wanted.sort]
        return keyset_page(
            sort.annotate(pairs),
            key="sort_key",
            descending=sort.descending,
            after=after,
            size=PAGE_SIZE,
        )
    if wanted.sort == "priority":
        # Filtered on the rank's own project column, so its index serves the order.
        pairs = pairs.filter(rank__project_id=project.pk).annotate(sort_key=F("rank__priority"))
    return keyset_page(pairs, key=SORTS[wanted.sort], after=after, size=PAGE_SIZE)


def _count_of(rows: QuerySet[Any]) -> Coalesce:
    """A correlated count of `rows` (filtered on the outer pair), 0 when there are none."""
    counted = rows.order_by().values("pair_id").annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def _with_shape_counts(project: Project, pairs: QuerySet[Pair]) -> QuerySet[Pair]:
    """The browser's counts of what a judgement holds beyond a choice, in the page's query."""
    ranked = project.comparison == Comparison.RANKING
    edits = project.edits != Edits.OFF
    return pairs.annotate(
        ranked_count=(
            _count_of(RankedResponse.objects.filter(pair=OuterRef("pk")))
            if ranked
            else Value(None, output_field=IntegerField())
        ),
        edit_count=(
            _count_of(Judgement.objects.filter(pair=OuterRef("pk"), edit__isnull=False))
            if edits
            else Value(None, output_field=IntegerField())
        ),
    )


def model_names(project: Project) -> list[str]:
    """The responses' source models in this project, for the filter's suggestions: a large
    project's as its counts' worker stored them, never a scan of its sources in a request."""
    names = cache.get_or_set(
        f"model-names:{project.pk}", lambda: current_source_models(project), MODEL_NAMES_SECONDS
    )
    assert names is not None  # on a miss get_or_set returns what load() made
    return names


def pair_judgements(pair: Pair) -> list[Judgement]:
    """Every judgement of the pair, invalid ones included, oldest first."""
    return list(
        pair.judgements.select_related("invalidated_by", "edit__parent")
        .prefetch_related("reviews__by")
        .order_by("pk")
    )
