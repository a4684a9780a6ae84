"""Opening import files that may be compressed: gzip, bzip2, xz or zstd, told by magic bytes.

Real preference data ships compressed (hh-rlhf is `.jsonl.gz`). The compression is read from
the file's first bytes, so a misnamed file still opens; the extension only names the format
inside (`pairs.csv.gz` is CSV). A compressed stream stops at IMPORT_MAX_DECOMPRESSED_BYTES, and
lines are read in bounded chunks, so no file (a bomb of one endless line) costs unbounded memory.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import zstandard
from django.conf import settings

# Leading bytes of each container, per its specification.
MAGIC = {
    "gzip": b"\x1f\x8b",
    "bzip2": b"BZh",
    "xz": b"\xfd7zXZ\x00",
    "zstd": b"\x28\xb5\x2f\xfd",
}
SUFFIXES = (".gz", ".bz2", ".xz", ".zst")
# What a corrupt or truncated stream raises while it is read (gzip's BadGzipFile and bz2's
# "Invalid data stream" are OSErrors).
READ_ERRORS = (EOFError, OSError, lzma.LZMAError, zstandard.ZstdError)


def compression_of(path: str | Path) -> str | None:
    """ "gzip", "bzip2", "xz" or "zstd" from the file's first bytes; None when uncompressed."""
    with open(path, "rb") as handle:
        head = handle.read(6)
    return next((name for name, magic in MAGIC.items() if head.startswith(magic)), None)


class DecompressedTooLarge(Exception):
    """A compressed file unpacks to more than settings.IMPORT_MAX_DECOMPRESSED_BYTES."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(
            f"the file unpacks to more than {limit} bytes (IMPORT_MAX_DECOMPRESSED_BYTES)"
        )


def open_binary(path: str | Path) -> io.BufferedReader:
    """The file's bytes, decompressed when it is compressed (a readable binary stream).

    A compressed stream raises DecompressedTooLarge once it has unpacked past the limit.
    """
    kind = compression_of(path)
    if kind is None:
        return open(path, "rb")
    capped = _Capped(_unpacking(path, kind), settings.IMPORT_MAX_DECOMPRESSED_BYTES)
    return io.BufferedReader(capped)


def _unpacking(path: str | Path, kind: str) -> Any:
    if kind == "gzip":
        return gzip.open(path, "rb")
    if kind == "bzip2":
        return bz2.open(path, "rb")
    if kind == "xz":
        return lzma.open(path, "rb")
    # read_across_frames: files of several frames (pzstd, zstd -B) decode whole; the reader
    # owns the file (closefd) and closes it with itself.
    raw = open(path, "rb")  # noqa: SIM115
    return zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True, closefd=True)


class _Capped(io.RawIOBase):
    """A stream that raises DecompressedTooLarge once more than `limit` bytes came through."""

    def __init__(self, inner: Any, limit: int) -> None:
        self.inner = inner
        self.limit = limit
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        # One step of the decompressor (read1), so what came before a broken end is delivered;
        # so are the bytes up to the limit, and the read after them raises.
        data = self.inner.read1(len(buffer)) if self.count <= self.limit else b""
        if self.count + len(data) > self.limit:
            data = data[: max(self.limit - self.count, 0)]
            self.count = self.limit + 1
            if not data:
                raise DecompressedTooLarge(self.limit)
        else:
            self.count += len(data)
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self.inner.close()
        super().close()


def bounded_lines(handle: io.BufferedReader, max_bytes: int) -> Iterator[bytes | None]:
    """Each line of the stream without its newline; None for a line longer than `max_bytes`.

    Reads in chunks no larger than `max_bytes`, so a line without end is skipped as it streams
    by instead of being held whole (what iterating a file, or readline(), would do). One read
    of the stream per chunk (read1): a stream that breaks off still gives the lines before.
    """
    size = min(1 << 20, max_bytes)
    pending: list[bytes] = []  # the start of a line that continues in the next chunk
    pending_bytes = 0
    while chunk := handle.read1(size):
        pieces = chunk.split(b"\n")
        if len(pieces) == 1:
            pending_bytes += len(chunk)
            if pending_bytes <= max_bytes:
                pending.append(chunk)
            else:
                pending.clear()
            continue
        # Lines inside one chunk are shorter than the chunk; only a line crossing chunks can
        # be too long.
        pending_bytes += len(pieces[0])
        if pending_bytes > max_bytes:
            yield None
        else:
            pending.append(pieces[0])
            yield b"".join(pending) if len(pending) > 1 else pieces[0]
        yield from pieces[1:-1]
        pending = [pieces[-1]]
        pending_bytes = len(pieces[-1])
    if pending_bytes > max_bytes:
        yield None
    elif pending_bytes:
        yield b"".join(pending)


def inner_name(name: str) -> str:
    """The file name without its compression suffix: `pairs.jsonl.gz` -> `pairs.jsonl`."""
    for suffix in SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name
