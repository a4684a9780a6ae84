"""What a database can store: no NUL characters, no lone surrogates, bounded nesting.

PostgreSQL refuses NUL in text and jsonb, and no database encodes a lone UTF-16 surrogate (JSON
lets a client send `"\\ud800"`), so both are refused at the edge, by line and field, not by a
500 on INSERT. Deep nesting is refused because encoding it again (jsonb, json.dumps) recurses.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def string_problem(text: str) -> str | None:
    """Why a string cannot be stored, or None."""
    found = _UNSTORABLE.search(text)
    if found is None:
        return None
    return "contains a NUL character" if found.group() == "\x00" else "contains a lone surrogate"


def find_unstorable(value: Any, *, max_depth: int, path: str = "") -> tuple[str, str] | None:
    """The first (path, problem) in a decoded JSON value, or None when all of it is storable.

    Walks with an explicit stack: the values checked are the deep ones recursion would choke on.
    """
    if _plainly_storable(value, max_depth):
        return None
    stack: list[tuple[str, Any, int]] = [(path, value, 0)]
    while stack:
        where, item, depth = stack.pop()
        if isinstance(item, str):
            if (problem := string_problem(item)) is not None:
                return where, problem
        elif isinstance(item, (dict, list)):
            if depth >= max_depth:
                return where, f"is nested more than {max_depth} levels deep"
            children = item.items() if isinstance(item, dict) else enumerate(item)
            for key, child in children:
                if isinstance(key, str) and (problem := string_problem(key)) is not None:
                    return where, f"has a key that {problem}"
                name = f"{where}[{key}]" if isinstance(key, int) else _join(where, key)
                stack.append((name, child, depth + 1))
    return None


def _plainly_storable(value: Any, max_depth: int) -> bool:
    """True for the usual value, in one C call instead of a walk: orjson refuses lone surrogates
    (and keys that are not strings, and nesting past 254) and writes NUL as an escape, and a value
    with fewer brackets than `max_depth` cannot nest as deep. False means "walk to find out"."""
    try:
        encoded = orjson.dumps(value)
    except TypeError:  # orjson.JSONEncodeError is one
        return False
    return b"\\u0000" not in encoded and encoded.count(b"[") + encoded.count(b"{") < max_depth


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key
