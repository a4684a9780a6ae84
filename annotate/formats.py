"""Import and export formats: reading rows, detecting and validating formats, streaming writers.

Nothing here touches the database. Readers yield `(line, row)` where `line` is what a person
sees in an editor: the physical line of a JSONL file, the line of a CSV row (header is line 1),
or the 1-based row of a Parquet file.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from annotate.importing.compression import READ_ERRORS, compression_of, inner_name, open_binary
from annotate.safetext import find_unstorable

FORMATS = ("pairs", "responses", "trl", "hh", "judgements")
FILE_TYPES = ("jsonl", "csv", "parquet")
LABELS = ("a", "b", "tie")
ROLES = ("system", "user", "assistant")
MAX_REPORTED_ERRORS = 50
# A row's objects and lists may nest this deep (message lists need 2; meta is free-form).
MAX_NESTING = 32
# Python's csv module stops at 128 KiB per field; long model answers can be longer.
MAX_CSV_FIELD = 16 * 1024 * 1024

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


# ---------------------------------------------------------------- hashing


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def prompt_hash(messages: Messages) -> str:
    return sha256(json.dumps(messages, sort_keys=True, ensure_ascii=False))


def pair_key(prompt_digest: str, a_digest: str, b_digest: str) -> str:
    """Order-independent identity of a pair: the same two responses either way round."""
    first, second = sorted((a_digest, b_digest))
    return sha256(f"{prompt_digest}|{first}|{second}")


# ---------------------------------------------------------------- readers


def file_type_of(name: str) -> str:
    """Guess jsonl/csv/parquet from a file name (`.gz` etc. aside); others are JSONL."""
    suffix = Path(inner_name(name)).suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    return "jsonl"


def read_rows(path: str | Path, file_type: str | None = None) -> Iterator[tuple[int, Any]]:
    """Yield `(line, row)`; a row that cannot be decoded is yielded as a RowError.

    The file may be gzip, bzip2, xz or zstd compressed (told by its first bytes); a stream that
    breaks off is reported at the line where it did.
    """
    kind = file_type or file_type_of(str(path))
    reader = {"csv": _read_csv, "parquet": _read_parquet}.get(kind, _read_jsonl)
    line = 0
    try:
        for line, row in reader(Path(path)):
            yield line, row
    except READ_ERRORS as exc:
        yield line + 1, RowError(line + 1, "", f"cannot read the file past here ({exc})")


def _read_jsonl(path: Path) -> Iterator[tuple[int, Any]]:
    with open_binary(path) as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                yield number, orjson.loads(raw[3:] if raw.startswith(codecs.BOM_UTF8) else raw)
            except orjson.JSONDecodeError as exc:
                yield number, _strict_refusal(number, raw, exc)


def _strict_refusal(number: int, raw: bytes, exc: orjson.JSONDecodeError) -> Any:
    """A line orjson refused: the row if the lenient parser reads it (a lone surrogate escape,
    which the field checks then name), else the error in the words the importer uses."""
    try:
        text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
    except UnicodeDecodeError as bad:
        return RowError(number, "", _not_utf8(bad))
    if str(exc).startswith("depth limit exceeded"):
        return RowError(number, "", f"nested more than {MAX_NESTING} levels deep")
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        return RowError(number, "", f"invalid JSON ({exc})")


class _Undecodable(Exception):
    def __init__(self, line: int, error: UnicodeDecodeError) -> None:
        self.line = line
        self.error = error


def _not_utf8(exc: UnicodeDecodeError) -> str:
    byte = exc.object[exc.start : exc.start + 1].hex()
    return f"is not UTF-8 text (byte 0x{byte} at column {exc.start + 1}); save the file as UTF-8"


class _Utf8Lines:
    """Decode line by line, so an encoding error names its line; `line` is the last one read."""

    def __init__(self, handle: Iterable[bytes]) -> None:
        self.raw = iter(handle)
        self.line = 0

    def __iter__(self) -> _Utf8Lines:
        return self

    def __next__(self) -> str:
        raw = next(self.raw)
        self.line += 1
        try:
            return raw.decode("utf-8-sig" if self.line == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            raise _Undecodable(self.line, exc) from None


def _read_csv(path: Path) -> Iterator[tuple[int, Any]]:
    csv.field_size_limit(MAX_CSV_FIELD)
    with open_binary(path) as handle:
        lines = _Utf8Lines(handle)
        reader = csv.DictReader(lines)
        try:
            for row in reader:
                # line_num is the line the row ends on; rows with embedded newlines start earlier.
                cells = {k: (v if v != "" else None) for k, v in row.items() if k is not None}
                yield reader.line_num, decode_structured_cells(cells)
        except _Undecodable as exc:
            yield exc.line, RowError(exc.line, "", _not_utf8(exc.error))
        except csv.Error as exc:
            # The reader cannot resync after this (e.g. a field over MAX_CSV_FIELD): stop here.
            yield lines.line, RowError(lines.line, "", f"unreadable CSV ({exc})")


def _read_parquet(path: Path) -> Iterator[tuple[int, Any]]:
    if compression_of(path) is None:
        yield from _parquet_rows(pq.ParquetFile(path))
        return
    # Parquet needs to seek: a compressed one is unpacked to a temporary file first.
    with tempfile.TemporaryFile() as unpacked:
        with open_binary(path) as packed:
            shutil.copyfileobj(packed, unpacked)
        unpacked.seek(0)
        yield from _parquet_rows(pq.ParquetFile(unpacked))


def _parquet_rows(parquet: pq.ParquetFile) -> Iterator[tuple[int, Any]]:
    number = 0
    for batch in parquet.iter_batches(batch_size=2000):
        for row in batch.to_pylist():
            number += 1
            yield number, decode_structured_cells(row)


# Columns that hold messages, response lists or objects; flat files carry them as JSON text.
STRUCTURED_COLUMNS = ("prompt", "chosen", "rejected", "responses", "meta")


def decode_structured_cells(row: dict[str, Any]) -> dict[str, Any]:
    """Decode JSON text in structured columns (CSV cells, Parquet string columns).

    Only an object, or a list of objects (or of strings for `responses`), is decoded, so a
    plain-text prompt that happens to look like JSON ("[1, 2]") stays text.
    """
    for column in STRUCTURED_COLUMNS:
        value = row.get(column)
        if not isinstance(value, str) or value.strip()[:1] not in ("[", "{"):
            continue
        try:
            decoded = json.loads(value)
        except (json.JSONDecodeError, RecursionError):
            continue
        allowed = (dict, str) if column == "responses" else (dict,)
        if isinstance(decoded, dict) or (
            isinstance(decoded, list) and decoded and all(isinstance(i, allowed) for i in decoded)
        ):
            row[column] = decoded
    return row


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


def _parse_pairs(row: dict[str, Any]) -> list[PairIn]:
    meta = row.get("meta") or {}
    if not isinstance(meta, dict):
        raise FieldError("meta", "must be an object")
    # A rendered multi-turn prompt may come with its structured turns in meta.prompt_turns.
    if isinstance(meta.get("prompt_turns"), list) and meta["prompt_turns"]:
        messages = parse_prompt(meta["prompt_turns"], "meta.prompt_turns")
    else:
        messages = parse_prompt(row.get("prompt"), "prompt")
    a = ResponseIn(_text(row, "response_a"), _optional_str(row, "model_a"))
    b = ResponseIn(_text(row, "response_b"), _optional_str(row, "model_b"))
    _check_distinct(a.text, b.text)
    label = row.get("label")
    if label is not None and label not in LABELS:
        raise FieldError("label", f"must be one of a, b, tie (got {label!r})")
    return [PairIn(messages, a, b, label, _optional_str(row, "id"), meta)]


def _parse_responses(row: dict[str, Any]) -> list[PairIn]:
    messages = parse_prompt(row.get("prompt"), "prompt")
    items = row.get("responses")
    if not isinstance(items, list) or len(items) < 2:
        raise FieldError("responses", "must be a list of at least two responses")
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
            responses.append(ResponseIn(item["text"], str(item.get("model") or "")))
    if len(responses) < 2:
        raise FieldError("responses", "needs at least two different responses")
    return [
        PairIn(messages, first, second)
        for i, first in enumerate(responses)
        for second in responses[i + 1 :]
    ]


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
        messages = [_message(item, f"{name}[{i}]") for i, item in enumerate(value)]
        if messages[-1]["role"] == "assistant":
            raise FieldError(name, "must not end with an assistant message")
        return messages
    if value is None:
        raise FieldError(name, "is missing")
    raise FieldError(name, "must be a string or a non-empty list of messages")


def _message(item: Any, name: str) -> dict[str, str]:
    if not isinstance(item, dict):
        raise FieldError(name, 'must be an object {"role", "content"}')
    role, content = item.get("role"), item.get("content")
    if role not in ROLES:
        raise FieldError(f"{name}.role", f"must be one of {', '.join(ROLES)} (got {role!r})")
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


def _optional_str(row: dict[str, Any], name: str) -> str:
    value = row.get(name)
    return "" if value is None else str(value)


def _check_distinct(a: str, b: str) -> None:
    if a == b:
        raise FieldError("response_b", "is identical to the other response")


def _completion_text(value: Any, name: str) -> str:
    """TRL completions are strings or assistant message lists."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and value:
        messages = [_message(item, f"{name}[{i}]") for i, item in enumerate(value)]
        return render_turns(messages)
    raise FieldError(name, "is missing" if value is None else "must be a string or messages")


def _dialogue(value: Any, name: str) -> Messages:
    if isinstance(value, list) and value:
        return [_message(item, f"{name}[{i}]") for i, item in enumerate(value)]
    if not isinstance(value, str) or not value.strip():
        raise FieldError(name, "is missing" if value is None else "must be a dialogue string")
    turns = parse_hh_transcript(value)
    if not turns:
        raise FieldError(name, 'has no "Human:" / "Assistant:" turns')
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
