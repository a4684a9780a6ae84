"""The AI judges' votes as annotate reads them: one `JudgeVotes` per judge of a project."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db.models import Count, Q

from annotate.models import Pair, Project
from annotate.signals import JudgeVotes
from generation.judges_models import Judge, JudgeDecision, JudgeVerdict, Outcome


def project_judge_votes(project: Project) -> list[JudgeVotes]:
    """Every judge of the project with its votes, its inconsistent and unparsed pairs."""
    judges = list(Judge.objects.filter(project=project).select_related("endpoint"))
    if not judges:
        return []
    decided: dict[int, dict[str, Any]] = {
        j.pk: {"votes": {}, Outcome.INCONSISTENT: set(), Outcome.UNPARSED: set()} for j in judges
    }
    rows = JudgeDecision.objects.filter(judge__in=judges).values_list(
        "judge_id", "pair_id", "outcome", "choice"
    )
    for judge_id, pair_id, outcome, choice in rows.iterator(chunk_size=5000):
        if outcome == Outcome.VOTE:
            decided[judge_id]["votes"][pair_id] = choice
        else:
            decided[judge_id][outcome].add(pair_id)
    sides = {
        row["judge_id"]: row
        for row in JudgeVerdict.objects.filter(judge__in=judges)
        .values("judge_id")
        .annotate(
            first=Count("id", filter=Q(shown="A")),
            decisive=Count("id", filter=Q(shown__in=["A", "B"])),
        )
    }
    return [
        JudgeVotes(
            rater=j.rater_id,
            name=f"{j.endpoint.name} (AI judge)",
            votes=decided[j.pk]["votes"],
            inconsistent=frozenset(decided[j.pk][Outcome.INCONSISTENT]),
            unparsed=frozenset(decided[j.pk][Outcome.UNPARSED]),
            first_shown=sides.get(j.pk, {}).get("first", 0),
            decisive_verdicts=sides.get(j.pk, {}).get("decisive", 0),
        )
        for j in judges
    ]


def judge_export_rows(project: Project) -> Iterator[dict[str, Any]]:
    """Per decided pair: its id and external id, then `judge:<name>` per judge (a, b, tie,
    inconsistent or unparsed; None where that judge has not decided it)."""
    judges = project_judge_votes(project)
    columns = []
    for j in judges:
        decided: dict[int, str] = dict(j.votes)
        decided.update(dict.fromkeys(j.inconsistent, "inconsistent"))
        decided.update(dict.fromkeys(j.unparsed, "unparsed"))
        columns.append((f"judge:{j.name.removesuffix(' (AI judge)')}", decided))
    ids = sorted({pid for _, decided in columns for pid in decided})
    for start in range(0, len(ids), 5000):
        chunk = ids[start : start + 5000]
        external = dict(Pair.objects.filter(pk__in=chunk).values_list("pk", "external_id"))
        for pid in chunk:
            row: dict[str, Any] = {"pair_id": pid, "pair_external_id": external.get(pid, "")}
            row.update({name: decided.get(pid) for name, decided in columns})
            yield row
