"""The pages of a Parquet file, read from their headers before pyarrow decodes any of them.

A page is what a Parquet reader unpacks at once, and its header says to how many bytes, so a
page that would take gigabytes (one enormous cell, or a compression bomb inside the file) is
refused before it is read. The headers also bound how large one row can be, which sizes the
batches pyarrow decodes (annotate/importing/reading.py). Where a column's pages lie comes from
the file's metadata, as it does for pyarrow; what they unpack to comes from the page headers,
not the metadata's totals, because the headers are what pyarrow allocates by. Headers are
Thrift compact protocol (parquet-format, `parquet.thrift` PageHeader); only sizes and value
counts are read.
"""

from __future__ import annotations

from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

# PageHeader fields: sizes, then the data page (v1, v2) and dictionary page headers, whose
# field 1 is their number of values.
_UNPACKED, _PACKED, _DATA, _DICTIONARY, _DATA_V2 = 2, 3, 5, 7, 8
# Page codecs pyarrow can unpack on its own (Parquet's LZ4 is Hadoop's framing, not LZ4's).
_CODECS = {
    "SNAPPY": "snappy",
    "GZIP": "gzip",
    "BROTLI": "brotli",
    "ZSTD": "zstd",
    "LZ4_RAW": "lz4_raw",
}
# Writers keep page headers to a few hundred bytes (statistics are cut at 4 KiB); one larger
# than this is refused rather than parsed at length.
MAX_HEADER_BYTES = 1024 * 1024


class ParquetPageError(Exception):
    """A page unpacks past the limit or cannot be read; `row` is its row group's first row."""

    def __init__(self, row: int, column: str, message: str) -> None:
        self.row = row
        self.column = column
        self.message = message
        super().__init__(f"row {row}, column {column}: {message}")


def batch_rows(
    handle: BinaryIO,
    metadata: pq.FileMetaData,
    *,
    max_page_bytes: int,
    batch_bytes: int,
    most: int,
) -> list[int]:
    """Rows per decoded batch for each row group, so that a batch holds about `batch_bytes`.

    A row is costed at each column's most bytes per value in any one page (a dictionary: its
    longest entry), so a batch holds at most `batch_bytes` plus, per column, the two pages it
    starts and ends in. Raises ParquetPageError for a page over `max_page_bytes`.
    """
    plan = []
    first_row = 1
    for index in range(metadata.num_row_groups):
        group = metadata.row_group(index)
        row_bytes = 0
        for position in range(group.num_columns):
            column = group.column(position)
            per_value = _largest_value(handle, column, first_row, max_page_bytes)
            # A list column has several values a row; its metadata says how many on average.
            fanout = -(-column.num_values // max(group.num_rows, 1))
            row_bytes += per_value * max(fanout, 1)
        plan.append(max(1, min(most, batch_bytes // max(row_bytes, 1))))
        first_row += group.num_rows
    return plan


def _largest_value(handle: BinaryIO, column: Any, first_row: int, max_page_bytes: int) -> int:
    """The most bytes one value of this column chunk can unpack to, read from its pages."""
    start = column.data_page_offset
    if column.has_dictionary_page and 0 < (column.dictionary_page_offset or 0) < start:
        start = column.dictionary_page_offset
    end = start + column.total_compressed_size
    largest = 0
    while start < end:
        header, length = _page_header(handle, start, end, first_row, column.path_in_schema)
        unpacked, packed = header.get(_UNPACKED), header.get(_PACKED)
        if not (isinstance(unpacked, int) and isinstance(packed, int)) or min(unpacked, packed) < 0:
            raise ParquetPageError(first_row, column.path_in_schema, "a page header is invalid")
        if max(unpacked, packed) > max_page_bytes:  # packed: what is read to unpack it
            raise ParquetPageError(
                first_row,
                column.path_in_schema,
                f"a page unpacks to {max(unpacked, packed)} bytes, more than {max_page_bytes} "
                "(IMPORT_MAX_PARQUET_PAGE_BYTES)",
            )
        values = (header.get(_DATA) or header.get(_DICTIONARY) or header.get(_DATA_V2) or {}).get(1)
        count = values if isinstance(values, int) and values > 0 else 1
        if _DICTIONARY in header:
            # Every row of the chunk may repeat the dictionary's largest entry.
            entry = _largest_entry(handle, column, start + length, packed, unpacked, count)
            largest = max(largest, entry)
        else:
            largest = max(largest, -(-unpacked // count))
        start += length + packed
    return largest


def _largest_entry(
    handle: BinaryIO, column: Any, start: int, packed: int, unpacked: int, count: int
) -> int:
    """The longest entry of a dictionary page (the whole page when it cannot be unpacked)."""
    if column.physical_type != "BYTE_ARRAY":
        return -(-unpacked // count)  # fixed-width entries
    handle.seek(start)
    data = handle.read(packed)
    try:
        if column.compression != "UNCOMPRESSED":
            codec = pa.Codec(_CODECS[column.compression])
            data = codec.decompress(data, decompressed_size=unpacked, asbytes=True)
    except (KeyError, pa.ArrowException):
        return unpacked
    # PLAIN byte arrays: a 4-byte little-endian length, then the bytes, entry after entry.
    largest = position = 0
    for _ in range(count):
        size = int.from_bytes(data[position : position + 4], "little")
        largest = max(largest, size)
        position += 4 + size
        if position > len(data):
            return unpacked
    return largest


def _page_header(
    handle: BinaryIO, start: int, end: int, first_row: int, column: str
) -> tuple[dict[int, Any], int]:
    """The page header at `start` and its length in bytes (most are under 100 bytes)."""
    want = 256
    while True:
        handle.seek(start)
        data = handle.read(min(want, end - start))
        reader = _Compact(data)
        try:
            return reader.struct(0), reader.pos
        except _Short:
            if len(data) < want or want >= MAX_HEADER_BYTES:
                raise ParquetPageError(first_row, column, "a page header is cut off") from None
            want *= 16
        except ValueError as exc:
            raise ParquetPageError(first_row, column, f"a page header is invalid ({exc})") from None


class _Short(Exception):
    """The header continues past the bytes read so far."""


class _Compact:
    """Just enough of Thrift's compact protocol to read a struct's integers and sub-structs."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def _byte(self) -> int:
        if self.pos >= len(self.data):
            raise _Short
        self.pos += 1
        return self.data[self.pos - 1]

    def _skip(self, count: int) -> None:
        if self.pos + count > len(self.data):
            raise _Short
        self.pos += count

    def _varint(self) -> int:
        result = shift = 0
        while (byte := self._byte()) & 0x80:
            result |= (byte & 0x7F) << shift
            shift += 7
            if shift > 63:
                raise ValueError("varint longer than 64 bits")
        return result | (byte << shift)

    def _int(self) -> int:
        value = self._varint()
        return (value >> 1) ^ -(value & 1)

    def struct(self, depth: int) -> dict[int, Any]:
        fields: dict[int, Any] = {}
        field = 0
        while (head := self._byte()) != 0:
            field = field + (head >> 4) if head >> 4 else self._int()
            fields[field] = self._value(head & 0x0F, depth)
        return fields

    def _value(self, kind: int, depth: int) -> Any:
        if depth > 8:
            raise ValueError("nested too deep")
        if kind in (1, 2):  # a boolean field: its value is its type
            return kind == 1
        if kind in (4, 5, 6):
            return self._int()
        if kind == 12:
            return self.struct(depth + 1)
        self._skip_value(kind, depth)
        return None

    def _skip_value(self, kind: int, depth: int) -> None:
        """Skip a value; every element takes at least one byte, so hostile counts end soon."""
        if kind == 3:
            self._skip(1)
        elif kind == 7:
            self._skip(8)
        elif kind == 8:
            self._skip(self._varint())
        elif kind in (9, 10):
            head = self._byte()
            count = self._varint() if head >> 4 == 15 else head >> 4
            for _ in range(count):
                self._element(head & 0x0F, depth)
        elif kind == 11:
            count = self._varint()
            types = self._byte() if count else 0
            for _ in range(count):
                self._element(types >> 4, depth)
                self._element(types & 0x0F, depth)
        else:
            raise ValueError(f"unknown field type {kind}")

    def _element(self, kind: int, depth: int) -> None:
        if kind in (1, 2):  # booleans in a list or map take one byte each
            self._skip(1)
        else:
            self._value(kind, depth + 1)
