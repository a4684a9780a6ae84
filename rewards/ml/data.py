"""Preference pairs as plain dataclasses: reading, splitting, batching, padding."""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Prompt = str | list[dict[str, str]]
LABELS = ("a", "b", "tie")


@dataclass(frozen=True)
class PreferencePair:
    """One judged comparison of two responses to the same prompt, in canonical a/b terms."""

    prompt: Prompt
    a: str
    b: str
    label: str
    weight: float = 1.0
    strength: int | None = None
    id: str | None = None

    def __post_init__(self) -> None:
        if self.label not in LABELS:
            raise ValueError(f"label must be one of {LABELS}, not {self.label!r}")

    @property
    def target(self) -> float:
        """P(a beats b) the loss aims at: 1, 0, or 0.5 for a tie."""
        return {"a": 1.0, "b": 0.0, "tie": 0.5}[self.label]


def prompt_key(prompt: Prompt) -> str:
    """Stable text form of a prompt, for hashing and grouping."""
    if isinstance(prompt, str):
        return prompt
    return json.dumps(prompt, ensure_ascii=False, sort_keys=True)


class DataError(ValueError):
    """A pairs file that cannot be used as asked (names the file and line)."""


def pair_from_record(record: dict[str, Any], *, labelled: bool = True) -> PreferencePair:
    """Build a pair from one JSONL record of the pairs format.

    A record without a label is refused when `labelled` (training, evaluation); otherwise
    (scoring) its label is a placeholder "tie" that nothing reads.
    """
    label = record.get("label")
    if not label:
        if labelled:
            raise DataError("no label (a, b or tie); training and evaluation need one per pair")
        label = "tie"
    strength = record.get("strength")
    return PreferencePair(
        prompt=record["prompt"],
        a=record["response_a"],
        b=record["response_b"],
        label=label,
        weight=float(record.get("weight", 1.0)),
        strength=int(strength) if strength is not None else None,
        id=str(record["id"]) if record.get("id") is not None else None,
    )


def read_pairs_jsonl(path: str | Path, *, labelled: bool = True) -> list[PreferencePair]:
    """Read pairs (`prompt`, `response_a`, `response_b`, `label`, `id`) from a JSONL file.

    Unlabelled rows are refused unless `labelled` is False; errors name the line.
    """
    pairs = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                if not isinstance(record, dict):
                    raise DataError(f"expected a JSON object, not {type(record).__name__}")
                pairs.append(pair_from_record(record, labelled=labelled))
            except (ValueError, KeyError, TypeError) as exc:
                detail = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
                raise DataError(f"{path}, line {number}: {detail}") from exc
    return pairs


def fingerprint(pairs: Sequence[PreferencePair]) -> str:
    """Order-sensitive hash of the training data, recorded in the checkpoint."""
    digest = hashlib.sha256()
    for pair in pairs:
        row = [prompt_key(pair.prompt), pair.a, pair.b, pair.label, pair.weight, pair.strength]
        digest.update(json.dumps(row, ensure_ascii=False).encode())
    return digest.hexdigest()[:16]


def split_by_prompt(
    pairs: Sequence[PreferencePair], fraction: float, *, seed: int = 0
) -> tuple[list[PreferencePair], list[PreferencePair]]:
    """Split into (train, held-out) so that no prompt lands on both sides."""
    prompts = sorted({prompt_key(p.prompt) for p in pairs})
    random.Random(seed).shuffle(prompts)
    n_held = round(len(prompts) * fraction)
    # Keep at least one prompt on each side when there are two or more.
    if fraction > 0 and len(prompts) > 1:
        n_held = min(max(n_held, 1), len(prompts) - 1)
    held = set(prompts[:n_held])
    train = [p for p in pairs if prompt_key(p.prompt) not in held]
    return train, [p for p in pairs if prompt_key(p.prompt) in held]


def length_bucketed_batches(
    lengths: Sequence[int],
    batch_size: int,
    *,
    seed: int,
    groups: Sequence[int] | None = None,
    bucket_factor: int = 50,
    max_tokens: int | None = None,
) -> Iterator[list[int]]:
    """Yield index batches of similar length, in shuffled order, so padding stays small.

    With `groups` (e.g. a prompt id per pair), members of a group are kept together inside
    each bucket, so pairs that share responses land in one batch and each response is
    encoded once for all of them. With `max_tokens`, a batch grows while two rows per pair
    at its longest length fit in that many tokens (`batch_size` then only sizes the buckets).
    """
    rng = random.Random(seed)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    group_of = groups if groups is not None else order
    group_length: dict[int, int] = {}
    for i in order:
        group_length[group_of[i]] = max(group_length.get(group_of[i], 0), lengths[i])
    # Sort within large shuffled chunks: batches stay random across epochs, padding stays low.
    chunk = batch_size * bucket_factor
    batches = []
    for start in range(0, len(order), chunk):
        part = sorted(
            order[start : start + chunk],
            key=lambda i: (group_length[group_of[i]], group_of[i], lengths[i]),
        )
        if max_tokens is None:
            batches += [part[i : i + batch_size] for i in range(0, len(part), batch_size)]
        else:
            batches += token_budget_cuts(part, lengths, max_tokens)
    rng.shuffle(batches)
    yield from batches


def token_budget_cuts(
    order: Sequence[int], lengths: Sequence[int], max_tokens: int
) -> list[list[int]]:
    """Cut length-sorted indices into runs whose padded size, 2 x n x longest, fits max_tokens.

    A single pair longer than the budget still gets a batch of its own.
    """
    batches: list[list[int]] = []
    current: list[int] = []
    longest = 0
    for i in order:
        wider = max(longest, lengths[i])
        if current and 2 * (len(current) + 1) * wider > max_tokens:
            batches.append(current)
            current, wider = [], lengths[i]
        current.append(i)
        longest = wider
    if current:
        batches.append(current)
    return batches


def pad_batch(
    sequences: Sequence[Sequence[int]], pad_id: int
) -> tuple[list[list[int]], list[list[int]]]:
    """Right-pad token id lists to the longest one; returns (ids, attention mask)."""
    width = max(len(s) for s in sequences)
    ids = [list(s) + [pad_id] * (width - len(s)) for s in sequences]
    mask = [[1] * len(s) + [0] * (width - len(s)) for s in sequences]
    return ids, mask
