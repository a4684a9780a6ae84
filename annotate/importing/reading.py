"""Reading import files row by row (JSONL, CSV, Parquet), each within bounds, by line.

Readers yield `(line, row)` where `line` is what a person sees in an editor: the physical line
of a JSONL file, the line of a CSV row (header is line 1), or the 1-based row of a Parquet file.
What a row may cost is bounded by settings: a line's or row's bytes (IMPORT_MAX_LINE_BYTES),
what a compressed file unpacks to (IMPORT_MAX_DECOMPRESSED_BYTES), a Parquet page
(IMPORT_MAX_PARQUET_PAGE_BYTES); a row past a bound, or one that cannot be decoded, is yielded
as a RowError naming its line. Nothing here touches the database.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import math
import shutil
import tempfile
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from django.conf import settings

from annotate.formats import (
    MAX_NESTING,
    MAX_REPORTED_ERRORS,
    FieldError,
    ImportFormatError,
    RowError,
    file_type_of,
    shown,
)
from annotate.importing.compression import (
    READ_ERRORS,
    DecompressedTooLarge,
    bounded_lines,
    compression_of,
    open_binary,
)
from annotate.importing.parquet_pages import ParquetPageError, batch_rows

# What pyarrow decodes at once (a batch of rows), sized from the file's page headers.
PARQUET_BATCH_BYTES = 64 * 1024 * 1024


def read_rows(path: str | Path, file_type: str | None = None) -> Generator[tuple[int, Any]]:
    """Yield `(line, row)`; a row that cannot be decoded is yielded as a RowError.

    The file may be gzip, bzip2, xz or zstd compressed (told by its first bytes); a stream that
    breaks off, or unpacks past IMPORT_MAX_DECOMPRESSED_BYTES, is reported at the line where it
    did.
    """
    kind = file_type or file_type_of(str(path))
    reader = {"csv": _read_csv, "parquet": _read_parquet}.get(kind, _read_jsonl)
    line = 0
    try:
        for line, row in reader(Path(path)):
            yield line, row
    except _BrokenOff as exc:
        yield exc.line, RowError(exc.line, "", _broken_off(exc.error))
    except (DecompressedTooLarge, *READ_ERRORS) as exc:
        yield line + 1, RowError(line + 1, "", _broken_off(exc))


class _BrokenOff(Exception):
    """The stream stopped (cut off, corrupt, unpacked past the limit) while reading `line`."""

    def __init__(self, line: int, error: Exception) -> None:
        self.line = line
        self.error = error


Parsed = TypeVar("Parsed")


def check_rows(
    path: str | Path,
    file_type: str | None,
    parse: Callable[[Any], Parsed],
    on_valid: Callable[[Parsed], None] | None = None,
) -> int:
    """Parse every row and return the row count, or raise ImportFormatError naming bad lines.

    `on_valid` sees each good row's value until a line fails (nothing is written after that).
    """
    errors: list[RowError] = []
    total = rows = 0
    for line, row in read_rows(path, file_type):
        rows += 1
        error = row if isinstance(row, RowError) else None
        if error is None:
            try:
                value = parse(row)
            except FieldError as exc:
                error = RowError(line, exc.field, exc.message)
            else:
                if on_valid is not None and not total:
                    on_valid(value)
        if error is not None:
            total += 1
            if len(errors) < MAX_REPORTED_ERRORS:
                errors.append(error)
    if rows == 0:
        raise ImportFormatError([RowError(0, "", "the file has no rows")], 1)
    if total:
        raise ImportFormatError(errors, total)
    return rows


def _broken_off(error: Exception) -> str:
    if isinstance(error, DecompressedTooLarge):
        return str(error)
    return f"cannot read the file past here ({error})"


def too_long(limit: int) -> str:
    return f"longer than {limit} bytes (IMPORT_MAX_LINE_BYTES)"


def _read_jsonl(path: Path) -> Iterator[tuple[int, Any]]:
    limit = settings.IMPORT_MAX_LINE_BYTES
    number = 0
    with open_binary(path) as handle:
        try:
            for number, raw in enumerate(bounded_lines(handle, limit), start=1):
                if raw is None:
                    yield number, RowError(number, "", too_long(limit))
                    continue
                if number == 1 and raw.startswith(codecs.BOM_UTF8):
                    raw = raw[3:]
                if not raw or raw.isspace():
                    continue
                try:
                    yield number, orjson.loads(raw)
                except orjson.JSONDecodeError as exc:
                    yield number, _strict_refusal(number, raw, exc)
        except (DecompressedTooLarge, *READ_ERRORS) as exc:
            # Blank lines yield nothing, so the reader says which line it was on.
            raise _BrokenOff(number + 1, exc) from exc


def _strict_refusal(number: int, raw: bytes, exc: orjson.JSONDecodeError) -> Any:
    """A line orjson refused: the row if the lenient parser reads it (a lone surrogate escape,
    which the field checks then name), else the error in the words the importer uses."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as undecodable:
        return RowError(number, "", _not_utf8(undecodable))
    if str(exc).startswith("depth limit exceeded"):
        return RowError(number, "", f"nested more than {MAX_NESTING} levels deep")
    try:
        row = lenient_json(text)
    except (ValueError, RecursionError):
        return RowError(number, "", f"invalid JSON ({exc})")
    bad = _bad_number(row)
    return row if bad is None else RowError(number, bad[0], bad[1])


class _BadNumber:
    """A number JSON text may hold but no column can: NaN, infinite, or too large a float."""

    def __init__(self, text: str) -> None:
        self.text = text


def _json_int(text: str) -> Any:
    # Like orjson: an integer beyond 64 bits becomes a float (never int() of 5000 digits).
    return int(text) if len(text) < 20 else _json_float(text)


def _json_float(text: str) -> Any:
    number = float(text)
    return number if math.isfinite(number) else _BadNumber(text)


def lenient_json(text: str) -> Any:
    """Decode JSON that orjson refused: lone surrogates pass (checked later by field), and
    a number no column holds becomes a _BadNumber that `_bad_number` names."""
    return json.loads(text, parse_int=_json_int, parse_float=_json_float, parse_constant=_BadNumber)


def _bad_number(value: Any, path: str = "") -> tuple[str, str] | None:
    """The (field, message) of the first _BadNumber in a decoded value, or None."""
    stack: list[tuple[str, Any]] = [(path, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, _BadNumber):
            return where, f"must be a finite number (got {shown(item.text)})"
        if isinstance(item, dict | list):
            children = item.items() if isinstance(item, dict) else enumerate(item)
            for key, child in children:
                if isinstance(key, int):
                    stack.append((f"{where}[{key}]", child))
                else:
                    stack.append((f"{where}.{key}" if where else key, child))
    return None


class _Undecodable(Exception):
    def __init__(self, line: int, error: UnicodeDecodeError) -> None:
        self.line = line
        self.error = error


class _RowTooLong(Exception):
    def __init__(self, line: int) -> None:
        self.line = line


def _not_utf8(exc: UnicodeDecodeError) -> str:
    byte = exc.object[exc.start : exc.start + 1].hex()
    return f"is not UTF-8 text (byte 0x{byte} at column {exc.start + 1}); save the file as UTF-8"


class _Utf8Lines:
    """Decode line by line, so an encoding error names its line; `line` is the last one read.

    The caller resets `row_bytes` after each row: a CSV row over `max_bytes`, on one line or
    several, raises _RowTooLong before it is held.
    """

    def __init__(self, handle: io.BufferedReader, max_bytes: int) -> None:
        self.raw = bounded_lines(handle, max_bytes)
        self.max_bytes = max_bytes
        self.line = 0
        self.row_bytes = 0

    def __iter__(self) -> _Utf8Lines:
        return self

    def __next__(self) -> str:
        try:
            raw = next(self.raw)
        except (DecompressedTooLarge, *READ_ERRORS) as exc:
            raise _BrokenOff(self.line + 1, exc) from exc
        self.line += 1
        if raw is None or self.row_bytes + len(raw) > self.max_bytes:
            raise _RowTooLong(self.line)
        self.row_bytes += len(raw) + 1
        try:
            return raw.decode("utf-8-sig" if self.line == 1 else "utf-8") + "\n"
        except UnicodeDecodeError as exc:
            raise _Undecodable(self.line, exc) from None


def _read_csv(path: Path) -> Iterator[tuple[int, Any]]:
    limit = settings.IMPORT_MAX_LINE_BYTES
    # Python's csv module stops at 128 KiB per field; long model answers can be longer. A
    # field is part of its row, which _Utf8Lines bounds in bytes before the csv module sees it.
    csv.field_size_limit(limit)
    with open_binary(path) as handle:
        lines = _Utf8Lines(handle, limit)
        reader = csv.DictReader(lines)
        try:
            reader.fieldnames  # noqa: B018 (reads the header, so its bytes count apart)
            lines.row_bytes = 0
            for row in reader:
                lines.row_bytes = 0
                # line_num is the line the row ends on; rows with embedded newlines start earlier.
                cells = {k: (v if v != "" else None) for k, v in row.items() if k is not None}
                try:
                    yield reader.line_num, decode_structured_cells(cells)
                except FieldError as exc:
                    yield reader.line_num, RowError(reader.line_num, exc.field, exc.message)
        except _Undecodable as exc:
            yield exc.line, RowError(exc.line, "", _not_utf8(exc.error))
        except _RowTooLong as exc:
            # The reader cannot resync inside a row: stop here.
            yield exc.line, RowError(exc.line, "", too_long(limit))
        except csv.Error as exc:
            yield lines.line, RowError(lines.line, "", f"unreadable CSV ({exc})")


def _read_parquet(path: Path) -> Iterator[tuple[int, Any]]:
    if compression_of(path) is None:
        with open(path, "rb") as handle:  # for the page headers; pyarrow opens its own
            yield from _parquet_rows(path, handle)
        return
    # Parquet needs to seek: a compressed one is unpacked to a temporary file first (no larger
    # than IMPORT_MAX_DECOMPRESSED_BYTES).
    with tempfile.TemporaryFile() as unpacked:
        with open_binary(path) as packed:
            shutil.copyfileobj(packed, unpacked)
        unpacked.seek(0)
        yield from _parquet_rows(unpacked, unpacked)


def _parquet_rows(source: Path | BinaryIO, handle: BinaryIO) -> Iterator[tuple[int, Any]]:
    """Rows a batch at a time; no page is decoded before its header is checked."""
    try:
        # Not pre-buffered: pyarrow would read a whole row group's columns first.
        parquet = pq.ParquetFile(source, buffer_size=1 << 20, pre_buffer=False)
        plan = batch_rows(
            handle,
            parquet.metadata,
            max_page_bytes=settings.IMPORT_MAX_PARQUET_PAGE_BYTES,
            batch_bytes=PARQUET_BATCH_BYTES,
            most=2000,
        )
    except ParquetPageError as exc:
        yield exc.row, RowError(exc.row, exc.column, exc.message)
        return
    except pa.ArrowException as exc:
        yield 1, RowError(1, "", f"not a readable Parquet file ({str(exc)[:200]})")
        return
    number = 0
    try:
        for group, rows in enumerate(plan):
            for batch in parquet.iter_batches(batch_size=rows, row_groups=[group]):
                long_cells = _long_cells(batch, settings.IMPORT_MAX_LINE_BYTES)
                for index, row in enumerate(batch.to_pylist()):
                    line = number + 1 + index
                    yield line, _parquet_row(line, row, long_cells.get(index))
                number += batch.num_rows
    except (pa.ArrowException, ValueError, OverflowError) as exc:
        # A page that does not decode, a date no Python date holds: nothing after it is read.
        message = f"cannot read the file past here ({str(exc)[:200]})"
        yield number + 1, RowError(number + 1, "", message)


def _long_cells(batch: pa.RecordBatch, limit: int) -> dict[int, str]:
    """Row index -> the first text column whose cell is longer than `limit` bytes."""
    found: dict[int, str] = {}
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
            continue
        lengths = pc.binary_length(column)
        if (pc.max(lengths).as_py() or 0) > limit:
            for index, length in enumerate(lengths.to_pylist()):
                if length is not None and length > limit:
                    found.setdefault(index, name)
    return found


def _parquet_row(line: int, row: dict[str, Any], long_column: str | None) -> Any:
    if long_column is not None:
        return RowError(line, long_column, too_long(settings.IMPORT_MAX_LINE_BYTES))
    try:
        return decode_structured_cells(row)
    except FieldError as exc:
        return RowError(line, exc.field, exc.message)


# Columns that hold messages, response lists or objects; flat files carry them as JSON text.
STRUCTURED_COLUMNS = ("prompt", "chosen", "rejected", "responses", "meta")


def decode_structured_cells(row: dict[str, Any]) -> dict[str, Any]:
    """Decode JSON text in structured columns (CSV cells, Parquet string columns).

    Only an object, or a list of objects (or of strings for `responses`), is decoded, so a
    plain-text prompt that happens to look like JSON ("[1, 2]") stays text. Raises FieldError
    for a number no column can hold (`1e999`).
    """
    for column in STRUCTURED_COLUMNS:
        value = row.get(column)
        if not isinstance(value, str) or value.lstrip()[:1] not in ("[", "{"):
            continue
        lenient = False
        try:
            decoded = orjson.loads(value)
        except orjson.JSONDecodeError:
            try:
                decoded, lenient = lenient_json(value), True
            except (ValueError, RecursionError):
                continue
        allowed = (dict, str) if column == "responses" else (dict,)
        if isinstance(decoded, dict) or (
            isinstance(decoded, list) and decoded and all(isinstance(i, allowed) for i in decoded)
        ):
            if lenient and (bad := _bad_number(decoded, column)) is not None:
                raise FieldError(*bad)
            row[column] = decoded
    _decode_vote_cells(row)
    return row


def _decode_vote_cells(row: dict[str, Any]) -> None:
    """Decode the list columns of a vote (`ranking`, `ratings`, a `criterion_NAME` ranking) and
    the `criteria` object, which a CSV cell or Parquet string carries as JSON text."""
    for column, value in row.items():
        vote = column in ("ranking", "ratings", "criteria") or column.startswith("criterion_")
        if not vote or not isinstance(value, str) or value.lstrip()[:1] not in ("[", "{"):
            continue
        try:
            decoded = orjson.loads(value)
        except orjson.JSONDecodeError:
            continue  # left as text: the column's own check names it
        if isinstance(decoded, dict if column == "criteria" else list):
            row[column] = decoded
