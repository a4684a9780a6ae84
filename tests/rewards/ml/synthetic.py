"""A synthetic preference task with a learnable rule: the positive-toned response wins."""

from __future__ import annotations

import random

from rewards.ml.data import PreferencePair

POSITIVE = [
    "good",
    "great",
    "excellent",
    "helpful",
    "clear",
    "correct",
    "kind",
    "useful",
    "accurate",
    "polite",
]
NEGATIVE = [
    "bad",
    "awful",
    "wrong",
    "rude",
    "useless",
    "harmful",
    "unclear",
    "poor",
    "sloppy",
    "lazy",
]
NEUTRAL = [
    "cat",
    "dog",
    "sun",
    "moon",
    "tree",
    "river",
    "stone",
    "cloud",
    "apple",
    "bread",
    "music",
    "paper",
    "light",
    "water",
]


def synthetic_response(rng: random.Random, tone: list[str]) -> str:
    """A response of 3-7 neutral words with three words of one tone mixed in."""
    words = rng.sample(NEUTRAL, rng.randint(3, 7)) + rng.sample(tone, 3)
    rng.shuffle(words)
    return " ".join(words)


def synthetic_pairs(n: int, *, seed: int) -> list[PreferencePair]:
    """Pairs where the positive-toned response wins, whatever the lengths."""
    rng = random.Random(seed)
    pairs = []
    for i in range(n):
        good, bad = synthetic_response(rng, POSITIVE), synthetic_response(rng, NEGATIVE)
        prompt = f"tell me about the {rng.choice(NEUTRAL)} {i}"
        if rng.random() < 0.5:
            pairs.append(PreferencePair(prompt, good, bad, "a", id=f"s{seed}-{i}"))
        else:
            pairs.append(PreferencePair(prompt, bad, good, "b", id=f"s{seed}-{i}"))
    return pairs
