"""Import and export formats: detecting and validating formats, row parsing, streaming writers.

Nothing here touches the database. Files are read row by row in annotate/importing/reading.py;
here each row becomes pairs, and every field is checked against what its column can hold (a
model name's 200 characters, the pairs a `responses` row may make), raising FieldError named
for the field, so any file is refused by line and field rather than by a server error.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import re
import reprlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
from django.conf import settings

from annotate.importing.compression import inner_name
from annotate.safetext import find_unstorable

FORMATS = ("pairs", "responses", "trl", "hh", "judgements", "prompts")
FILE_TYPES = ("jsonl", "csv", "parquet")
LABELS = ("a", "b", "tie")
ROLES = ("system", "user", "assistant")
MAX_REPORTED_ERRORS = 50
# A row's objects and lists may nest this deep (message lists need 2; meta is free-form).
MAX_NESTING = 32
# The max_length of Response.model_name and Pair.external_id.
MAX_MODEL_NAME = 200
MAX_EXTERNAL_ID = 200
# meta is for labels and ids, but may carry a conversation's turns (meta.prompt_turns).
MAX_META_BYTES = 1024 * 1024
# Prompt.turn_count is a small integer; no conversation has this many messages.
MAX_MESSAGES = 1000

Messages = list[dict[str, str]]


@dataclass(frozen=True)
class RowError:
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}"
        return (
            f"{where}, field '{self.field}': {self.message}"
            if self.field
            else (f"{where}: {self.message}")
        )


class ImportFormatError(Exception):
    """The file is invalid; `errors` names the lines and fields (first MAX_REPORTED_ERRORS)."""

    def __init__(self, errors: list[RowError], total: int) -> None:
        self.errors = errors
        self.total = total
        shown = "\n".join(str(e) for e in errors)
        more = f"\n... and {total - len(errors)} more" if total > len(errors) else ""
        super().__init__(f"{total} invalid line(s), nothing was imported:\n{shown}{more}")


class FieldError(Exception):
    """One field of one row is invalid."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


@dataclass(frozen=True)
class ResponseIn:
    text: str
    model: str = ""


@dataclass(frozen=True)
class PairIn:
    """One pair as read from a file, before it meets the database."""

    messages: Messages
    a: ResponseIn
    b: ResponseIn
    label: str | None = None
    external_id: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    # The row it was read from (pairs format), for the fields only some projects read: a gold
    # import's per-criterion labels where the project has criteria.
    source: dict[str, Any] | None = field(default=None, compare=False, repr=False)


# ---------------------------------------------------------------- hashing


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def prompt_hash(messages: Messages) -> str:
    return sha256(json.dumps(messages, sort_keys=True, ensure_ascii=False))


def pair_key(prompt_digest: str, a_digest: str, b_digest: str) -> str:
    """Order-independent identity of a pair: the same two responses either way round."""
    return ranking_key(prompt_digest, (a_digest, b_digest))


def ranking_key(prompt_digest: str, digests: Iterable[str]) -> str:
    """Order-independent identity of a ranking item: its prompt and its responses in any order
    (of two responses, the pair's key)."""
    return sha256("|".join([prompt_digest, *sorted(digests)]))


# ---------------------------------------------------------------- files and messages


def file_type_of(name: str) -> str:
    """Guess jsonl/csv/parquet from a file name (`.gz` etc. aside); others are JSONL."""
    suffix = Path(inner_name(name)).suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    return "jsonl"


_SHOWN = reprlib.Repr()
_SHOWN.maxstring = _SHOWN.maxother = 40


def shown(value: Any) -> str:
    """A value as an error message quotes it: short, whatever its size."""
    try:
        return _SHOWN.repr(value)
    except ValueError:  # an int too long to print
        return "a number too large to show"


# ---------------------------------------------------------------- detection and parsing


def detect_format(row: Any) -> str | None:
    """Name the format a row is in, or None when it matches none."""
    if not isinstance(row, dict):
        return None
    # A vote row may also carry its pair's texts, so it is recognised first.
    if "annotator" in row and "choice" in row:
        return "judgements"
    if "responses" in row:
        return "responses"
    if "response_a" in row or "response_b" in row:
        return "pairs"
    if "chosen" in row or "rejected" in row:
        return "trl" if row.get("prompt") is not None else "hh"
    # A prompt alone, for the project's model endpoints to answer (generation/).
    if "prompt" in row:
        return "prompts"
    return None


def parse_row(fmt: str, row: Any) -> list[PairIn]:
    """Turn one row of the given format into pairs; raises FieldError on invalid input."""
    if not isinstance(row, dict):
        raise FieldError("", "expected a JSON object")
    bad = find_unstorable(row, max_depth=MAX_NESTING)
    if bad is not None:
        raise FieldError(*bad)
    parser = {"pairs": _parse_pairs, "responses": _parse_responses, "trl": _parse_trl}.get(fmt)
    return parser(row) if parser else _parse_hh(row)


@dataclass(frozen=True)
class PromptIn:
    """One row of the `prompts` format: a prompt with no responses yet."""

    messages: Messages
    external_id: str = ""
    meta: dict[str, Any] = field(default_factory=dict)


def parse_prompt_row(row: Any) -> PromptIn:
    """A `prompts` row: `{"prompt", "id"?, "meta"?}`; raises FieldError on invalid input."""
    if not isinstance(row, dict):
        raise FieldError("", "expected a JSON object")
    bad = find_unstorable(row, max_depth=MAX_NESTING)
    if bad is not None:
        raise FieldError(*bad)
    meta = row.get("meta") or {}
    if not isinstance(meta, dict):
        raise FieldError("meta", "must be an object")
    if meta and len(orjson.dumps(meta)) > MAX_META_BYTES:
        raise FieldError("meta", f"is larger than {MAX_META_BYTES} bytes as JSON")
    messages = parse_prompt(row.get("prompt"), "prompt")
    external_id = optional_str(row.get("id"), "id", max_length=MAX_EXTERNAL_ID)
    return PromptIn(messages, external_id, meta)


def _parse_pairs(row: dict[str, Any]) -> list[PairIn]:
    meta = row.get("meta") or {}
    if not isinstance(meta, dict):
        raise FieldError("meta", "must be an object")
    if meta and len(orjson.dumps(meta)) > MAX_META_BYTES:
        raise FieldError("meta", f"is larger than {MAX_META_BYTES} bytes as JSON")
    # A rendered multi-turn prompt may come with its structured turns in meta.prompt_turns.
    if isinstance(meta.get("prompt_turns"), list) and meta["prompt_turns"]:
        messages = parse_prompt(meta["prompt_turns"], "meta.prompt_turns")
    else:
        messages = parse_prompt(row.get("prompt"), "prompt")
    a = ResponseIn(_text(row, "response_a"), model_name(row.get("model_a"), "model_a"))
    b = ResponseIn(_text(row, "response_b"), model_name(row.get("model_b"), "model_b"))
    _check_distinct(a.text, b.text)
    label = row.get("label")
    if label is not None and label not in LABELS:
        raise FieldError("label", f"must be one of a, b, tie (got {shown(label)})")
    external_id = optional_str(row.get("id"), "id", max_length=MAX_EXTERNAL_ID)
    return [PairIn(messages, a, b, label, external_id, meta, source=row)]


def _parse_responses(row: dict[str, Any]) -> list[PairIn]:
    messages, responses = _prompt_and_responses(row)
    pairs, most = len(responses) * (len(responses) - 1) // 2, settings.IMPORT_MAX_PAIRS_PER_ROW
    if pairs > most:
        raise FieldError(
            "responses",
            f"makes {pairs} pairs (every two of {len(responses)} responses); "
            f"at most {most} (IMPORT_MAX_PAIRS_PER_ROW)",
        )
    return [
        PairIn(messages, first, second)
        for i, first in enumerate(responses)
        for second in responses[i + 1 :]
    ]


@dataclass(frozen=True)
class RankingIn:
    """One `responses` row read for a ranking project: a prompt and its distinct responses,
    with the vote of a `rankings` export row (groups of indexes into `responses`) if any."""

    messages: Messages
    responses: list[ResponseIn]
    ranking: list[list[int]] | None = None
    annotator: str = ""


# The max_length of a rater's source id (auth's first_name holds it).
MAX_ANNOTATOR = 150


def parse_ranking_row(row: Any) -> RankingIn:
    """A `responses` row for a ranking project, or a `rankings` export row (`ranking` and
    `annotator` beside them); raises FieldError on invalid input."""
    if not isinstance(row, dict):
        raise FieldError("", "expected a JSON object")
    bad = find_unstorable(row, max_depth=MAX_NESTING)
    if bad is not None:
        raise FieldError(*bad)
    if "responses" not in row:
        raise FieldError("responses", "a ranking project imports the responses format")
    messages, responses = _prompt_and_responses(row)
    if row.get("ranking") is None:
        return RankingIn(messages, responses)
    if len(responses) != len(row["responses"]):
        raise FieldError("responses", "a ranked row's responses must all differ")
    # shapes imports the models; this module stays free of them until a ranking is read.
    from annotate.judging.shapes import ShapeError, parse_ranking

    try:
        ranking = parse_ranking(row["ranking"], list(range(len(responses))))
    except ShapeError as exc:
        raise FieldError("ranking", f"{exc.message} (indexes into responses)") from exc
    annotator = row.get("annotator")
    if not isinstance(annotator, str) or not annotator.strip():
        raise FieldError("annotator", "is required with a ranking: who ranked")
    if len(annotator) > MAX_ANNOTATOR:
        raise FieldError("annotator", f"is longer than {MAX_ANNOTATOR} characters")
    return RankingIn(messages, responses, ranking, annotator)


def ranking_items(count: int, most: int) -> list[range]:
    """How `count` responses of one prompt become ranking items of at most `most` each.

    All of them when they fit; otherwise windows of `most` responses in file order, each
    starting on the last response of the one before (so a prompt's rankings are linked
    through shared responses), the last window ending on the last response and holding
    `most` too. 12 responses ranked 5 at a time: 0-4, 4-8 and 7-11.
    """
    if count <= most:
        return [range(count)]
    starts: list[int] = []
    start = 0
    while start + most < count:
        starts.append(start)
        start += most - 1
    starts.append(count - most)
    return [range(s, s + most) for s in starts]


def _prompt_and_responses(row: dict[str, Any]) -> tuple[Messages, list[ResponseIn]]:
    messages = parse_prompt(row.get("prompt"), "prompt")
    items = row.get("responses")
    if not isinstance(items, list) or len(items) < 2:
        raise FieldError("responses", "must be a list of at least two responses")
    most = settings.IMPORT_MAX_RESPONSES_PER_PROMPT
    if len(items) > most:
        raise FieldError(
            "responses",
            f"has {len(items)} responses; at most {most} (IMPORT_MAX_RESPONSES_PER_PROMPT)",
        )
    responses: list[ResponseIn] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        name = f"responses[{index}]"
        if isinstance(item, str):
            item = {"text": item}
        if not isinstance(item, dict) or not isinstance(item.get("text"), str):
            raise FieldError(name, 'must be a string or {"text", "model"?}')
        if item["text"] not in seen:
            seen.add(item["text"])
            model = model_name(item.get("model"), f"{name}.model")
            responses.append(ResponseIn(item["text"], model))
    if len(responses) < 2:
        raise FieldError("responses", "needs at least two different responses")
    return messages, responses


def _parse_trl(row: dict[str, Any]) -> list[PairIn]:
    messages = parse_prompt(row.get("prompt"), "prompt")
    chosen = _completion_text(row.get("chosen"), "chosen")
    rejected = _completion_text(row.get("rejected"), "rejected")
    _check_distinct(chosen, rejected)
    return [PairIn(messages, ResponseIn(chosen), ResponseIn(rejected), "a")]


def _parse_hh(row: dict[str, Any]) -> list[PairIn]:
    chosen = _dialogue(row.get("chosen"), "chosen")
    rejected = _dialogue(row.get("rejected"), "rejected")
    shared = 0
    while shared < min(len(chosen), len(rejected)) and chosen[shared] == rejected[shared]:
        shared += 1
    # The prompt ends on the last shared user turn; everything after it is the response.
    while shared > 0 and chosen[shared - 1]["role"] != "user":
        shared -= 1
    if shared == 0:
        raise FieldError("chosen", "chosen and rejected share no leading user turn")
    prompt = chosen[:shared]
    a, b = render_turns(chosen[shared:]), render_turns(rejected[shared:])
    _check_distinct(a, b)
    return [PairIn(prompt, ResponseIn(a), ResponseIn(b), "a")]


def parse_prompt(value: Any, name: str) -> Messages:
    """A prompt is a non-empty string or a list of {"role", "content"} messages."""
    if isinstance(value, str):
        if not value.strip():
            raise FieldError(name, "is empty")
        return [{"role": "user", "content": value}]
    if isinstance(value, list) and value:
        messages = _messages(value, name)
        if messages[-1]["role"] == "assistant":
            raise FieldError(name, "must not end with an assistant message")
        return messages
    if value is None:
        raise FieldError(name, "is missing")
    raise FieldError(name, "must be a string or a non-empty list of messages")


def _messages(value: list[Any], name: str) -> Messages:
    if len(value) > MAX_MESSAGES:
        raise FieldError(name, f"has {len(value)} messages; at most {MAX_MESSAGES}")
    return [_message(item, f"{name}[{i}]") for i, item in enumerate(value)]


def _message(item: Any, name: str) -> dict[str, str]:
    if not isinstance(item, dict):
        raise FieldError(name, 'must be an object {"role", "content"}')
    role, content = item.get("role"), item.get("content")
    if role not in ROLES:
        raise FieldError(f"{name}.role", f"must be one of {', '.join(ROLES)} (got {shown(role)})")
    if not isinstance(content, str):
        raise FieldError(f"{name}.content", "must be a string")
    return {"role": role, "content": content}


def _text(row: dict[str, Any], name: str) -> str:
    value = row.get(name)
    if value is None:
        raise FieldError(name, "is missing")
    if not isinstance(value, str):
        raise FieldError(name, "must be a string")
    return value


def optional_str(value: Any, name: str, *, max_length: int) -> str:
    """An optional short text (an id, a name): "" when missing; a number is taken as its text."""
    if value is None:
        return ""
    if isinstance(value, str):
        text = value
    elif _short_number(value):
        text = str(value)
    else:
        raise FieldError(name, "must be a string")
    if len(text) > max_length:
        raise FieldError(name, f"is longer than {max_length} characters")
    return text


def _short_number(value: Any) -> bool:
    """An id written as a number: a 64-bit integer (not a bool) or a finite float."""
    if type(value) is int:
        return value.bit_length() <= 64
    return type(value) is float and math.isfinite(value)


def model_name(value: Any, name: str) -> str:
    return optional_str(value, name, max_length=MAX_MODEL_NAME)


def _check_distinct(a: str, b: str) -> None:
    if a == b:
        raise FieldError("response_b", "is identical to the other response")


def _completion_text(value: Any, name: str) -> str:
    """TRL completions are strings or assistant message lists."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and value:
        return render_turns(_messages(value, name))
    raise FieldError(name, "is missing" if value is None else "must be a string or messages")


def _dialogue(value: Any, name: str) -> Messages:
    if isinstance(value, list) and value:
        return _messages(value, name)
    if not isinstance(value, str) or not value.strip():
        raise FieldError(name, "is missing" if value is None else "must be a dialogue string")
    turns = parse_hh_transcript(value)
    if not turns:
        raise FieldError(name, 'has no "Human:" / "Assistant:" turns')
    if len(turns) > MAX_MESSAGES:
        raise FieldError(name, f"has {len(turns)} turns; at most {MAX_MESSAGES}")
    return turns


_HH_TURN = re.compile(r"(?:^|\n\n)(Human|Assistant): ?")


def parse_hh_transcript(text: str) -> Messages:
    """Split an HH-RLHF transcript ("\\n\\nHuman: ...\\n\\nAssistant: ...") into messages."""
    parts = _HH_TURN.split(text)
    turns = []
    for speaker, content in zip(parts[1::2], parts[2::2], strict=True):
        role = "user" if speaker == "Human" else "assistant"
        turns.append({"role": role, "content": content})
    return turns


def render_hh_transcript(messages: Messages) -> str:
    """Render messages in HH-RLHF's "\\n\\nHuman: ... \\n\\nAssistant: ..." layout."""
    speaker = {"user": "Human", "assistant": "Assistant", "system": "Human"}
    return "".join(f"\n\n{speaker[m['role']]}: {m['content']}" for m in messages)


def render_turns(messages: Messages) -> str:
    """A response of one assistant turn is its text; longer tails keep their speakers."""
    if len(messages) == 1 and messages[0]["role"] == "assistant":
        return messages[0]["content"]
    return render_hh_transcript(messages).lstrip("\n")


# ---------------------------------------------------------------- writers


def jsonl_chunks(rows: Iterable[dict[str, Any]], rows_per_chunk: int = 2000) -> Iterator[bytes]:
    """Encode rows as UTF-8 JSONL (orjson), a few thousand rows per yielded chunk."""
    buffer: list[bytes] = []
    for row in rows:
        buffer.append(orjson.dumps(row))
        if len(buffer) >= rows_per_chunk:
            buffer.append(b"")
            yield b"\n".join(buffer)
            buffer.clear()
    if buffer:
        buffer.append(b"")
        yield b"\n".join(buffer)


class _ChunkSink(io.RawIOBase):
    """A write-only stream whose written bytes are collected and drained by the caller."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.chunks.append(bytes(data))
        return len(data)

    def drain(self) -> bytes:
        data = b"".join(self.chunks)
        self.chunks.clear()
        return data


def parquet_chunks(
    rows: Iterable[dict[str, Any]], schema: pa.Schema, rows_per_group: int = 5000
) -> Iterator[bytes]:
    """Encode rows as a Parquet file, one row group at a time, without holding the file."""
    sink = _ChunkSink()
    writer = pq.ParquetWriter(sink, schema)
    buffer: list[dict[str, Any]] = []
    for row in rows:
        buffer.append(row)
        if len(buffer) >= rows_per_group:
            writer.write_batch(_record_batch(buffer, schema))
            buffer.clear()
            yield sink.drain()
    if buffer:
        writer.write_batch(_record_batch(buffer, schema))
    writer.close()
    yield sink.drain()


def _record_batch(rows: list[dict[str, Any]], schema: pa.Schema) -> pa.RecordBatch:
    """Rows to one record batch, column by column (quicker than row by row in pyarrow)."""
    columns = {name: [row[name] for row in rows] for name in schema.names}
    return pa.RecordBatch.from_pydict(columns, schema=schema)
