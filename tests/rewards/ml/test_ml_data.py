"""Reading the shared pairs format, splitting by prompt, bucketing and padding."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rewards.ml.data import (
    DataError,
    PreferencePair,
    fingerprint,
    length_bucketed_batches,
    pad_batch,
    read_pairs_jsonl,
    split_by_prompt,
)


def test_it_reads_the_shared_pairs_format(tmp_path: Path) -> None:
    # given two records in the pairs format, one with a message-list prompt
    rows = [
        {"id": "x-1", "prompt": "Hi", "response_a": "Hello", "response_b": "Go", "label": "a"},
        {
            "id": "x-2",
            "prompt": [{"role": "user", "content": "Hi"}],
            "response_a": "A",
            "response_b": "B",
            "label": "tie",
            "model_a": "m1",
            "meta": {"swapped": True},
        },
    ]
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + "\n")

    # when read
    pairs = read_pairs_jsonl(path)

    # then
    assert pairs[0] == PreferencePair("Hi", "Hello", "Go", "a", id="x-1")
    assert pairs[1].prompt == [{"role": "user", "content": "Hi"}]
    assert [p.target for p in pairs] == [1.0, 0.5]


def test_it_rejects_unknown_labels() -> None:
    with pytest.raises(ValueError, match="label"):
        PreferencePair("p", "a", "b", "both_bad")


def test_it_never_splits_a_prompt_across_train_and_held_out() -> None:
    # given several pairs per prompt
    pairs = [PreferencePair(f"p{i % 7}", f"a{i}", f"b{i}", "a") for i in range(70)]

    # when split
    train, held = split_by_prompt(pairs, 0.3, seed=0)

    # then
    assert {p.prompt for p in train}.isdisjoint({p.prompt for p in held})
    assert len(train) + len(held) == 70
    assert len({p.prompt for p in held}) == 2


def test_it_batches_similar_lengths_and_covers_every_index() -> None:
    # given mixed lengths
    lengths = [(i * 37) % 100 for i in range(400)]

    # when bucketed
    batches = list(length_bucketed_batches(lengths, 16, seed=0, bucket_factor=25))

    # then each index appears once and batches are tight
    assert sorted(i for b in batches for i in b) == list(range(400))
    spreads = [max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches]
    assert max(spreads) <= 8


def test_it_pads_to_the_longest_sequence() -> None:
    ids, mask = pad_batch([[5, 6, 7], [8]], pad_id=0)
    assert ids == [[5, 6, 7], [8, 0, 0]]
    assert mask == [[1, 1, 1], [1, 0, 0]]


def test_it_fingerprints_data_content() -> None:
    pairs = [PreferencePair("p", "a", "b", "a")]
    assert fingerprint(pairs) == fingerprint(list(pairs))
    assert fingerprint(pairs) != fingerprint([PreferencePair("p", "a", "b", "b")])


def test_it_names_the_line_that_is_not_an_object(tmp_path: Path) -> None:
    path = tmp_path / "pairs.jsonl"
    path.write_text("[1, 2]\n")
    with pytest.raises(DataError, match="line 1: expected a JSON object, not list"):
        read_pairs_jsonl(path)
