"""Training pair ids: which item (Pair) a training pair came from, and which two responses.

A pairwise item trains as itself: its id is the pair's id, `"17"`. A ranking item trains as
its implied pairs: `"17:40-42"` is item 17's response 40 (the pair's a) against response 42
(its b). Ids from elsewhere (a pairs file's own ids, say) name no item: both readers answer None.
"""

from __future__ import annotations

import re

_ID = re.compile(r"^([0-9]+)(?::([0-9]+)-([0-9]+))?$")


def implied_pair_id(pair_id: int, a: int, b: int) -> str:
    """The id of a ranking item's implied pair of responses a and b."""
    return f"{pair_id}:{a}-{b}"


def item_of(training_id: str | None) -> int | None:
    """The pair id of the item a training pair came from; None when it names none."""
    found = _ID.match(training_id or "")
    return int(found[1]) if found else None


def responses_of(training_id: str | None) -> tuple[int, int] | None:
    """The (a, b) response ids an implied pair's id names; None for a whole pair's id."""
    found = _ID.match(training_id or "")
    return (int(found[2]), int(found[3])) if found and found[2] else None
