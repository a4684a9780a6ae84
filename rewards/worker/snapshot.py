"""Judgements as training pairs: majority per pair and a validation split stable by pair id."""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Max

from annotate.models import Choice, Judgement, Pair, Project
from annotate.quality.measures import majority, training_judgements
from annotate.signals import judge_votes
from rewards.ml.data import PreferencePair


@dataclass(frozen=True)
class Snapshot:
    train: list[PreferencePair]
    validation: list[PreferencePair]
    judgements: int
    last_judgement_id: int


def aggregate_label(choices: list[str]) -> str | None:
    """Majority of a pair's judgements, ties kept; both_bad votes and unresolved splits: None."""
    return majority(Counter(c for c in choices if c != Choice.BOTH_BAD))[0]


def validation_rank(pair_id: int) -> float:
    """A fixed pseudo-random number in [0, 1) per pair: the split does not move between runs."""
    digest = hashlib.sha256(f"validation:{pair_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def snapshot_project(project: Project) -> Snapshot:
    """Every judged pair of the project (human and imported) as a labelled training pair.

    Gold checks never train; flagged annotators are left out when the project says so, and
    AI judges' votes are left out unless it counts them.
    """
    last_id = Judgement.objects.filter(pair__project=project).aggregate(m=Max("id"))["m"] or 0
    choices: dict[int, list[str]] = {}
    selection = training_judgements(project, exclude_flagged=project.exclude_flagged_from_training)
    rows = selection.filter(pk__lte=last_id).values_list("pair_id", "choice")
    for pair_id, choice in rows.iterator(chunk_size=5000):
        choices.setdefault(pair_id, []).append(choice)
    # AI judges' votes train only where the project counts them: each is one more vote.
    judges = judge_votes(project) if project.judge_votes_count else []
    gold = set(
        Pair.objects.filter(project=project).exclude(gold_label="").values_list("pk", flat=True)
        if judges
        else []
    )
    for judge in judges:
        for pair_id, choice in judge.votes.items():
            if pair_id not in gold:
                choices.setdefault(pair_id, []).append(choice)
    labels = {pid: label for pid, c in choices.items() if (label := aggregate_label(c))}
    pairs = {
        pid: PreferencePair(prompt=messages, a=a, b=b, label=labels[pid], id=str(pid))
        for pid, messages, a, b in Pair.objects.filter(pk__in=list(labels))
        .values_list("pk", "prompt__messages", "response_a__text", "response_b__text")
        .iterator(chunk_size=2000)
    }
    validation_ids = _validation_ids(sorted(pairs))
    return Snapshot(
        train=[p for pid, p in pairs.items() if pid not in validation_ids],
        validation=[p for pid, p in pairs.items() if pid in validation_ids],
        judgements=sum(len(c) for c in choices.values()),
        last_judgement_id=last_id,
    )


def _validation_ids(pair_ids: list[int]) -> set[int]:
    """Pairs whose rank is under max(share, floor / n).

    The threshold only falls as the project grows, so a pair a version trained on never moves
    into a later validation split: versions compared on it have not seen it.
    """
    if not pair_ids:
        return set()
    floor = min(settings.REWARDS_VALIDATION_FLOOR, len(pair_ids) // 3)
    threshold = max(settings.REWARDS_VALIDATION_SHARE, floor / len(pair_ids))
    return {pid for pid in pair_ids if validation_rank(pid) < threshold}
