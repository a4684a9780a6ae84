"""What a database can store: the quick answer and the walk agree on every kind of value."""

from __future__ import annotations

from typing import Any

import pytest

from annotate.safetext import find_unstorable


def nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("value", "found"),
    [
        ({"messages": [{"role": "user", "content": "Hi"}], "meta": {"k": 1}}, None),
        # text that only looks like an escape, and numbers JSON cannot hold, are still storable
        ({"text": "a literal \\u0000 in code"}, None),
        ({"n": 10**30, "f": 1.5, "none": None}, None),
        (nested(32), None),
        ({"a": {"b": "x\x00y"}}, ("a.b", "contains a NUL character")),
        ({"a": ["ok", "\ud800"]}, ("a[1]", "contains a lone surrogate")),
        ({"k\x00": 1}, ("", "has a key that contains a NUL character")),
        (nested(33), ("[0]" * 32, "is nested more than 32 levels deep")),
    ],
)
def test_the_first_unstorable_part_of_a_value_is_named(value: Any, found: Any) -> None:
    assert find_unstorable(value, max_depth=32) == found
