"""Samples become responses and pairs, written by the import's bulk writer.

Each stored sample is a response to its prompt named by its endpoint (a `ResponseSource`); the
job's rule says which two responses of a prompt make a pair: every two, each against the
reference endpoint's, or k drawn at random (seeded by the job and prompt, so a rerun draws the
same). In a ranking project the rule does not apply: each prompt's responses become ranking
items the way a `responses` import makes them (`importing.rankings`). Content hashes make a
second pairing of the same samples add nothing, and the new responses are announced like an
import's, so the model side embeds them ahead.
"""

from __future__ import annotations

import itertools
import random
from collections import defaultdict

from django.db import transaction

from annotate.formats import ImportFormatError, PairIn, RankingIn, ResponseIn, sha256
from annotate.importing.bulk import BulkImport
from annotate.importing.rankings import rank_responses
from annotate.importing.summary import ImportSummary
from annotate.models import Comparison, Project, Prompt, Response
from annotate.signals import responses_imported
from generation.models import GenerationJob, Pairing, Sample, SampleStatus

Candidate = tuple[str, str]  # (text, endpoint name)


def pair_samples(job: GenerationJob) -> int:
    """Write the job's done samples as responses and pairs (ranking items in a ranking
    project); returns the pairs created.

    Caller holds a transaction.
    """
    from generation.jobs import job_samples

    samples = (
        job_samples(job)
        .filter(status=SampleStatus.DONE)
        .select_related("endpoint")
        .order_by("prompt_id", "endpoint__name", "index")
    )
    by_prompt: dict[int, list[Sample]] = defaultdict(list)
    for sample in samples:
        by_prompt[sample.prompt_id].append(sample)
    prompts = Prompt.objects.in_bulk(list(by_prompt))
    if job.project.comparison == Comparison.RANKING:
        counts = _rank(job.project, by_prompt, prompts)
    else:
        counts = _pair(job, by_prompt, prompts)
    _link_responses(by_prompt)
    if counts.get("responses_created"):
        project = job.project
        transaction.on_commit(lambda: responses_imported.send(sender=Project, project=project))
    return counts.get("pairs_created", 0)


def _pair(
    job: GenerationJob, by_prompt: dict[int, list[Sample]], prompts: dict[int, Prompt]
) -> dict[str, int]:
    reference = job.reference_endpoint.name if job.reference_endpoint else ""
    with BulkImport(job.project, labels="ignore") as bulk:
        for prompt_id, rows in by_prompt.items():
            prompt = prompts[prompt_id]
            candidates = _distinct([(s.text, s.endpoint.name) for s in rows])
            pairs = _choose(job, prompt_id, candidates, reference)
            bulk.add(
                [
                    PairIn(
                        prompt.messages,
                        ResponseIn(a[0], a[1]),
                        ResponseIn(b[0], b[1]),
                        external_id=prompt.external_id,
                        meta=prompt.meta,
                    )
                    for a, b in pairs
                ]
            )
        return bulk.write()


def _rank(
    project: Project, by_prompt: dict[int, list[Sample]], prompts: dict[int, Prompt]
) -> dict[str, int]:
    """Each prompt's distinct texts as ranking items, split by `max_ranked` like an import's."""
    summary = ImportSummary(format="generation")
    for prompt_id, rows in by_prompt.items():
        candidates = _distinct([(s.text, s.endpoint.name) for s in rows])
        if len(candidates) < 2:
            continue
        item = RankingIn(prompts[prompt_id].messages, [ResponseIn(t, n) for t, n in candidates])
        try:
            rank_responses(project, item, summary)
        except ImportFormatError:
            # Every two of these responses are already an item's pair: they add no comparison.
            continue
    return {"responses_created": summary.responses_created, "pairs_created": summary.pairs_created}


def _distinct(candidates: list[Candidate]) -> list[Candidate]:
    """One candidate per text (the first endpoint that wrote it); empty texts make no pair."""
    seen: set[str] = set()
    kept = []
    for text, name in candidates:
        if text.strip() and text not in seen:
            seen.add(text)
            kept.append((text, name))
    return kept


def _choose(
    job: GenerationJob, prompt_id: int, candidates: list[Candidate], reference: str
) -> list[tuple[Candidate, Candidate]]:
    every = list(itertools.combinations(candidates, 2))
    if job.pairing == Pairing.REFERENCE:
        return [(a, b) for a, b in every if (a[1] == reference) != (b[1] == reference)]
    if job.pairing == Pairing.RANDOM:
        draw = random.Random(f"{job.pk}:{prompt_id}")
        return draw.sample(every, min(job.pairs_per_prompt, len(every)))
    return every


def _link_responses(by_prompt: dict[int, list[Sample]]) -> None:
    """Point each sample at the response its text became."""
    responses = {
        (r.prompt_id, r.content_hash): r.pk
        for r in Response.objects.filter(prompt_id__in=list(by_prompt)).only(
            "pk", "prompt_id", "content_hash"
        )
    }
    changed = []
    for prompt_id, rows in by_prompt.items():
        for sample in rows:
            response_id = responses.get((prompt_id, sha256(sample.text)))
            if response_id is not None and sample.response_id != response_id:
                sample.response_id = response_id
                changed.append(sample)
    Sample.objects.bulk_update(changed, ["response"], batch_size=1000)
