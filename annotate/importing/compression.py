"""Opening import files that may be compressed: gzip, bzip2, xz or zstd, told by magic bytes.

Real preference data ships compressed (hh-rlhf is `.jsonl.gz`). The compression is read from
the file's first bytes, so a misnamed file still opens; the extension only names the format
inside (`pairs.csv.gz` is CSV).
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
from pathlib import Path
from typing import BinaryIO

import zstandard

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


def open_binary(path: str | Path) -> BinaryIO:
    """The file's bytes, decompressed when it is compressed (a readable binary stream)."""
    kind = compression_of(path)
    if kind == "gzip":
        return gzip.open(path, "rb")
    if kind == "bzip2":
        return bz2.open(path, "rb")
    if kind == "xz":
        return lzma.open(path, "rb")
    if kind == "zstd":
        # read_across_frames: files of several frames (pzstd, zstd -B) decode whole; the reader
        # owns the file (closefd) and closes it with itself.
        raw = open(path, "rb")  # noqa: SIM115
        reader = zstandard.ZstdDecompressor().stream_reader(
            raw, read_across_frames=True, closefd=True
        )
        return io.BufferedReader(reader)
    return open(path, "rb")


def inner_name(name: str) -> str:
    """The file name without its compression suffix: `pairs.jsonl.gz` -> `pairs.jsonl`."""
    for suffix in SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name
