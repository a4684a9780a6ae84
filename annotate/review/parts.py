"""The parts of a judgement review may invalidate on their own, and what of a judgement counts.

`part` names: "" the whole judgement (a ranking is one), "criterion:NAME" one criterion's
vote, "edit" the judgement's edit. Readers of criterion votes (exports, stats) take them
through `counted_criteria`, so an invalidated vote counts nowhere while the rest does.
"""

from __future__ import annotations

from typing import Any

WHOLE = ""
EDIT = "edit"
CRITERION = "criterion:"


def criterion_part(name: str) -> str:
    """The `part` that names one criterion's vote."""
    return CRITERION + name


def counted_criteria(criteria: Any, invalid: Any) -> dict[str, Any]:
    """A judgement's criterion votes ({name: vote}) less those review invalidated."""
    if not criteria:
        return {}
    left_out = set(invalid or ())
    return {name: vote for name, vote in criteria.items() if name not in left_out}
