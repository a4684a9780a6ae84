"""Judgements as training pairs: majority per pair and a validation split stable by pair id.

A pairwise item trains as one pair, labelled by the majority of its votes (ties kept). A
ranking item trains as its implied pairs: each vote (a ranking) says of every two of the
item's responses which is better, or that they tie; the majority per response pair decides
it, and only decisive ones train (ties and split votes are left out), as in the `trl`
export. All pairs of one item share its side of the split, which is keyed by the item's id.

The votes are the overall preference, or one criterion's (`criterion`): a criterion vote that
review invalidated does not count. A pair's `strength` (for the margin loss) is the mean,
rounded, of the strengths recorded by the votes that agree with its label; None without any.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from dataclasses import dataclass
from itertools import combinations
from typing import Any

from django.conf import settings
from django.db.models import Max, QuerySet

from annotate.models import Choice, Comparison, Judgement, Pair, Project, RankedResponse, Response
from annotate.quality.measures import majority, training_judgements
from annotate.signals import judge_votes
from rewards.ml.data import PreferencePair
from rewards.pair_ids import implied_pair_id

# A vote on an item: a choice (a/b/tie/both_bad) or a ranking, with its strength (1-3) if any.
Vote = tuple[Any, int | None]
# An item: its prompt messages, response ids in item order, its pair's (a, b) and the texts.
Item = tuple[Any, list[int], tuple[int, int], dict[int, str]]
# Items whose texts are read together.
BATCH = 500


@dataclass(frozen=True)
class Snapshot:
    train: list[PreferencePair]
    validation: list[PreferencePair]
    judgements: int
    last_judgement_id: int
    criterion: str = ""  # the criterion whose votes it holds; "" the overall preference


def aggregate_label(choices: list[str]) -> str | None:
    """Majority of a pair's judgements, ties kept; both_bad votes and unresolved splits: None."""
    return majority(Counter(c for c in choices if c != Choice.BOTH_BAD))[0]


def aggregate_strength(strengths: list[int | None]) -> int | None:
    """The mean of the recorded strengths, rounded half up; None when none was recorded."""
    recorded = [s for s in strengths if s is not None]
    return int(sum(recorded) / len(recorded) + 0.5) if recorded else None


def validation_rank(pair_id: int) -> float:
    """A fixed pseudo-random number in [0, 1) per pair: the split does not move between runs."""
    digest = hashlib.sha256(f"validation:{pair_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def snapshot_project(project: Project, *, criterion: str = "") -> Snapshot:
    """Every judged item of the project (human and imported) as labelled training pairs.

    Gold checks never train; flagged annotators are left out when the project says so, and
    AI judges' votes (overall pairwise votes) count only for a pairwise project's overall
    preference, and only where the project counts them.
    """
    last_id = Judgement.objects.filter(pair__project=project).aggregate(m=Max("id"))["m"] or 0
    selection = training_judgements(project, exclude_flagged=project.exclude_flagged_from_training)
    selection = selection.filter(pk__lte=last_id)
    votes = item_votes(project, selection, criterion)
    if project.comparison == Comparison.RANKING:
        by_item = _ranking_pairs(votes)
    else:
        by_item = _pairwise_pairs(votes)
    validation_ids = _validation_ids(sorted(by_item))
    return Snapshot(
        train=[p for pid, pairs in by_item.items() if pid not in validation_ids for p in pairs],
        validation=[p for pid, pairs in by_item.items() if pid in validation_ids for p in pairs],
        judgements=sum(len(v) for v in votes.values()),
        last_judgement_id=last_id,
        criterion=criterion,
    )


def item_votes(
    project: Project, selection: QuerySet[Judgement], criterion: str
) -> dict[int, list[Vote]]:
    """Each item's votes on the preference asked for, by pair id."""
    votes: dict[int, list[Vote]] = {}
    if criterion:
        rows = selection.filter(criteria__isnull=False).values_list(
            "pair_id", "criteria", "invalid_criteria"
        )
        for pair_id, criteria, invalid in rows.iterator(chunk_size=5000):
            vote = (criteria or {}).get(criterion)
            # strength grades the overall choice only: a criterion's vote has none
            if vote is not None and criterion not in (invalid or []):
                votes.setdefault(pair_id, []).append((vote, None))
        return votes
    if project.comparison == Comparison.RANKING:
        ranked = selection.values_list("pair_id", "choice", "ranking", "strength")
        for pair_id, choice, ranking, strength in ranked.iterator(chunk_size=5000):
            votes.setdefault(pair_id, []).append((choice if ranking is None else ranking, strength))
        return votes
    for pair_id, choice, strength in selection.values_list(
        "pair_id", "choice", "strength"
    ).iterator(chunk_size=5000):
        votes.setdefault(pair_id, []).append((choice, strength))
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
                votes.setdefault(pair_id, []).append((choice, None))
    return votes


def _pairwise_pairs(votes: dict[int, list[Vote]]) -> dict[int, list[PreferencePair]]:
    """One pair per decided item, labelled by its majority (ties kept)."""
    decided: dict[int, tuple[str, int | None]] = {}
    for pair_id, its_votes in votes.items():
        choices = [c for c, _ in its_votes if isinstance(c, str)]
        label = aggregate_label(choices)
        if label:
            agreeing = [s for c, s in its_votes if c == label] if label != Choice.TIE else []
            decided[pair_id] = (label, aggregate_strength(agreeing))
    pairs: dict[int, list[PreferencePair]] = {}
    for pid, messages, a, b in (
        Pair.objects.filter(pk__in=list(decided))
        .order_by("pk")
        .values_list("pk", "prompt__messages", "response_a__text", "response_b__text")
        .iterator(chunk_size=2000)
    ):
        label, strength = decided[pid]
        pairs[pid] = [
            PreferencePair(prompt=messages, a=a, b=b, label=label, strength=strength, id=str(pid))
        ]
    return pairs


def _ranking_pairs(votes: dict[int, list[Vote]]) -> dict[int, list[PreferencePair]]:
    """Each ranking item's decisive implied pairs, by item."""
    pairs: dict[int, list[PreferencePair]] = {}
    ids = sorted(votes)
    for start in range(0, len(ids), BATCH):
        for pid, item in load_items(ids[start : start + BATCH]).items():
            if found := implied_pairs(pid, item, votes[pid]):
                pairs[pid] = found
    return pairs


def implied_pairs(pid: int, item: Item, votes: list[Vote]) -> list[PreferencePair]:
    """Every two responses of the item its votes decide (a: the earlier in the item's order)."""
    messages, members, sides, texts = item
    tallies: dict[tuple[int, int], list[Vote]] = defaultdict(list)
    for vote, strength in votes:
        place = _places(vote, *sides)
        for x, y in combinations(members, 2):
            if x in place and y in place:
                tallies[x, y].append((_said(place[x], place[y]), strength))
    found = []
    for (x, y), said in tallies.items():
        label = majority(Counter(s for s, _ in said))[0]
        if label in ("a", "b"):  # decisive: a tie or a split trains nothing
            strength = aggregate_strength([s for v, s in said if v == label])
            found.append(
                PreferencePair(
                    prompt=messages,
                    a=texts[x],
                    b=texts[y],
                    label=label,
                    strength=strength,
                    id=implied_pair_id(pid, x, y),
                )
            )
    return found


def _said(x: int, y: int) -> str:
    """What two places say of the first response against the second."""
    if x == y:
        return "tie"
    return "a" if x < y else "b"


def _places(vote: Any, a: int, b: int) -> dict[int, int]:
    """{response id: its group's index} of a ranking, or of a pairwise choice on a and b."""
    if isinstance(vote, list):
        return {rid: index for index, group in enumerate(vote) for rid in group}
    return {Choice.A: {a: 0, b: 1}, Choice.B: {a: 1, b: 0}, Choice.TIE: {a: 0, b: 0}}.get(vote, {})


def load_items(pair_ids: list[int]) -> dict[int, Item]:
    """Per item: its prompt messages, response ids in item order, (a, b) and texts."""
    found: dict[int, Item] = {}
    for pk, messages, a, b in Pair.objects.filter(pk__in=pair_ids).values_list(
        "pk", "prompt__messages", "response_a_id", "response_b_id"
    ):
        found[pk] = (messages, [], (a, b), {})
    for pair_id, rid in (
        RankedResponse.objects.filter(pair_id__in=pair_ids)
        .order_by("pair_id", "position")
        .values_list("pair_id", "response_id")
    ):
        found[pair_id][1].append(rid)
    for _, members, sides, _ in found.values():
        if not members:  # an item without ranked responses is its pair
            members.extend(sides)
    wanted = {rid for _, members, _, _ in found.values() for rid in members}
    texts = dict(Response.objects.filter(pk__in=wanted).values_list("pk", "text"))
    for _, members, _, item_texts in found.values():
        item_texts.update((rid, texts[rid]) for rid in members)
    return found


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
