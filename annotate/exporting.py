"""Exporting a project's preferences as TRL, HH-RLHF or per-judgement rows, streamed.

Rows are generated page by page (keyset pagination on the primary key), so memory stays flat
whatever the size of the project.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
from django.db.models import Count, Q, QuerySet
from django.http import StreamingHttpResponse

from annotate.formats import jsonl_chunks, parquet_chunks, render_hh_transcript
from annotate.models import Judgement, Pair, Project, Prompt
from annotate.paging import keyset_pages
from annotate.quality import majority, training_judgements

EXPORT_FORMATS = ("trl", "hh", "judgements")
FILE_TYPES = ("jsonl", "parquet")

_MESSAGES = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
SCHEMAS = {
    "trl": pa.schema([("prompt", pa.string()), ("chosen", pa.string()), ("rejected", pa.string())]),
    "trl_conversational": pa.schema(
        [("prompt", _MESSAGES), ("chosen", _MESSAGES), ("rejected", _MESSAGES)]
    ),
    "hh": pa.schema([("chosen", pa.string()), ("rejected", pa.string())]),
    "judgements": pa.schema(
        [
            ("pair_id", pa.int64()),
            ("pair_external_id", pa.string()),
            ("annotator", pa.string()),
            ("source", pa.string()),
            ("choice", pa.string()),
            ("shown_left", pa.string()),
            ("strength", pa.int64()),
            ("rationale", pa.string()),
            ("duration_ms", pa.int64()),
            ("created_at", pa.string()),
        ]
    ),
}


def export_chunks(
    project: Project,
    *,
    fmt: str,
    file_type: str = "jsonl",
    min_agreement: float = 0.0,
    exclude_flagged: bool = False,
) -> Iterator[bytes]:
    """Yield the encoded export file in chunks."""
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; use one of {', '.join(EXPORT_FORMATS)}")
    if file_type not in FILE_TYPES:
        raise ValueError(f"unknown file type {file_type!r}; use jsonl or parquet")
    rows, schema_name = export_rows(
        project, fmt=fmt, min_agreement=min_agreement, exclude_flagged=exclude_flagged
    )
    if file_type == "parquet":
        return parquet_chunks(rows, SCHEMAS[schema_name])
    return jsonl_chunks(rows)


def export_response(
    project: Project,
    *,
    format: str,
    file: str = "jsonl",
    min_agreement: float = 0.0,
    exclude_flagged: bool = False,
) -> StreamingHttpResponse:
    """The streamed download (page and API): named after the project and the format."""
    chunks = export_chunks(
        project,
        fmt=format,
        file_type=file,
        min_agreement=min_agreement,
        exclude_flagged=exclude_flagged,
    )
    content_type = "application/x-ndjson" if file == "jsonl" else "application/vnd.apache.parquet"
    response = StreamingHttpResponse(chunks, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{project.slug}-{format}.{file}"'
    return response


def export_rows(
    project: Project, *, fmt: str, min_agreement: float = 0.0, exclude_flagged: bool = False
) -> tuple[Iterator[dict[str, Any]], str]:
    """Return the row iterator and the name of its schema.

    Judgements on gold pairs are never exported; `exclude_flagged` also leaves out the
    annotators the quality checks flag.
    """
    votes = training_judgements(project, exclude_flagged=exclude_flagged)
    if fmt == "judgements":
        return iter_judgement_rows(project, votes), "judgements"
    if fmt == "hh":
        return iter_hh_rows(project, min_agreement=min_agreement, votes=votes), "hh"
    conversational = uses_conversational_form(project)
    rows = iter_trl_rows(
        project, min_agreement=min_agreement, conversational=conversational, votes=votes
    )
    return rows, "trl_conversational" if conversational else "trl"


def uses_conversational_form(project: Project) -> bool:
    """TRL's message-list form is used for the whole file when any prompt is multi-turn.

    One form per file, because `datasets` needs one type per column.
    """
    return (
        Prompt.objects.filter(project=project)
        .filter(Q(turn_count__gt=1) | ~Q(messages__0__role="user"))
        .exists()
    )


def _decided_pairs(
    project: Project, min_agreement: float, selection: QuerySet[Judgement] | None
) -> Iterator[tuple[list[dict[str, str]], str, str]]:
    """Yield (prompt messages, chosen text, rejected text) for pairs decided by majority.

    Pages of pairs are read without GROUP BY (grouping by long texts is slow); their votes come
    from one small aggregate query per page.
    """
    pairs = Pair.objects.filter(project=project, judgement_count__gt=0).values_list(
        "pk", "prompt__messages", "response_a__text", "response_b__text"
    )
    judgements = training_judgements(project) if selection is None else selection
    for page in keyset_pages(pairs):
        votes: dict[int, dict[str, int]] = {}
        tallies = (
            judgements.filter(pair_id__in=[row[0] for row in page])
            .values_list("pair_id", "choice")
            .annotate(n=Count("id"))
            .order_by()
        )
        for pair_id, choice, n in tallies:
            votes.setdefault(pair_id, {})[choice] = n
        for pair_id, messages, a, b in page:
            winner, share = majority(votes.get(pair_id, {}))
            if winner in ("a", "b") and share >= min_agreement:
                yield (messages, a, b) if winner == "a" else (messages, b, a)


def iter_trl_rows(
    project: Project,
    *,
    min_agreement: float = 0.0,
    conversational: bool = False,
    votes: QuerySet[Judgement] | None = None,
) -> Iterator[dict[str, Any]]:
    """`{"prompt", "chosen", "rejected"}`: strings, or message lists when conversational."""
    for messages, chosen, rejected in _decided_pairs(project, min_agreement, votes):
        if conversational:
            yield {
                "prompt": messages,
                "chosen": [{"role": "assistant", "content": chosen}],
                "rejected": [{"role": "assistant", "content": rejected}],
            }
        else:
            yield {
                "prompt": messages[-1]["content"],
                "chosen": chosen,
                "rejected": rejected,
            }


def iter_hh_rows(
    project: Project, *, min_agreement: float = 0.0, votes: QuerySet[Judgement] | None = None
) -> Iterator[dict[str, Any]]:
    """`{"chosen", "rejected"}` as full HH-RLHF dialogues."""
    for dialogue, chosen, rejected in _decided_pairs(project, min_agreement, votes):
        yield {
            "chosen": render_hh_transcript([*dialogue, {"role": "assistant", "content": chosen}]),
            "rejected": render_hh_transcript(
                [*dialogue, {"role": "assistant", "content": rejected}]
            ),
        }


def pseudonym(project: Project, user_id: int | None) -> str:
    """A stable per-project annotator id that does not reveal the username."""
    if user_id is None:
        return ""
    digest = hashlib.sha256(f"{project.pseudonym_salt}:{user_id}".encode()).hexdigest()
    return f"annotator-{digest[:10]}"


def iter_judgement_rows(
    project: Project, votes: QuerySet[Judgement] | None = None
) -> Iterator[dict[str, Any]]:
    """One row per valid judgement, annotators pseudonymized."""
    queryset = (
        (training_judgements(project) if votes is None else votes)
        .select_related("pair")
        .only(
            "pair__external_id",
            "annotator_id",
            "source",
            "choice",
            "shown_left",
            "strength",
            "rationale",
            "duration_ms",
            "created_at",
        )
    )
    for judgement in (j for page in keyset_pages(queryset) for j in page):
        yield {
            "pair_id": judgement.pair_id,
            "pair_external_id": judgement.pair.external_id,
            "annotator": pseudonym(project, judgement.annotator_id),
            "source": judgement.source,
            "choice": judgement.choice,
            "shown_left": judgement.shown_left or None,
            "strength": judgement.strength,
            "rationale": judgement.rationale,
            "duration_ms": judgement.duration_ms,
            "created_at": judgement.created_at.isoformat(),
        }
