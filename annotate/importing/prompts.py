"""Importing prompts alone (the `prompts` format), for the project's model endpoints to answer.

All or nothing like every import: a first pass checks every row and names the bad lines; only
then are the prompts written, in one transaction. A prompt already in the project (same
messages) is skipped, so a re-import is a no-op.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from django.db import transaction

from annotate.formats import (
    PromptIn,
    parse_prompt_row,
    prompt_hash,
)
from annotate.importing.reading import check_rows, read_rows
from annotate.importing.summary import ImportSummary
from annotate.models import Project, Prompt

BATCH_SIZE = 1000


def import_prompts(
    project: Project, path: str | Path, *, file_type: str | None = None
) -> ImportSummary:
    """Import a prompts file whole or not at all; raises ImportFormatError naming lines."""
    rows = check_rows(path, file_type, parse_prompt_row)
    summary = ImportSummary(format="prompts", rows=rows)
    seen: set[str] = set()
    with transaction.atomic():
        before = Prompt.objects.filter(project=project).count()
        batch: list[Prompt] = []
        for item in _prompts(path, file_type):
            digest = prompt_hash(item.messages)
            if digest in seen:
                continue
            seen.add(digest)
            batch.append(_prompt(project, item, digest))
            if len(batch) >= BATCH_SIZE:
                Prompt.objects.bulk_create(batch, ignore_conflicts=True)
                batch.clear()
        Prompt.objects.bulk_create(batch, ignore_conflicts=True)
        summary.prompts_created = Prompt.objects.filter(project=project).count() - before
    summary.prompts_existing = len(seen) - summary.prompts_created
    return summary


def _prompt(project: Project, item: PromptIn, digest: str) -> Prompt:
    turns = sum(1 for m in item.messages if m["role"] == "user")
    return Prompt(
        project=project,
        messages=item.messages,
        turn_count=turns,
        content_hash=digest,
        external_id=item.external_id,
        meta=item.meta,
    )


def _prompts(path: str | Path, file_type: str | None) -> Iterator[PromptIn]:
    for _line, row in read_rows(path, file_type):
        yield parse_prompt_row(row)
