"""Rows in and out: any table as compressed JSONL for an import, and exports as files or frames."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import math
import shutil
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from prefloop_client.http import Transport

# Rows are encoded into a spooled file: in memory up to this size, then on disk.
SPOOL_BYTES = 8 * 1024 * 1024
COMPRESSIONS = ("gzip", "zstd", None)
_CHUNK_ROWS = 10_000


def _plain(value: Any) -> Any:
    """JSON for what tables hold beyond JSON: numpy scalars and arrays, times, bytes."""
    if hasattr(value, "tolist"):  # numpy arrays and scalars, pyarrow scalars
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8")
    raise TypeError(f"cannot send {type(value).__name__} as JSON")


def _missing_as_null(row: dict[str, Any]) -> dict[str, Any]:
    """A table's missing cells (NaN, pandas NA) as JSON null, which the server reads as absent."""
    out = {}
    for key, value in row.items():
        missing = isinstance(value, float) and math.isnan(value)
        if missing or type(value).__name__ in ("NAType", "NaTType"):
            value = None
        out[str(key)] = value
    return out


def iter_rows(data: Any) -> Iterator[dict[str, Any]]:
    """Rows of a list of dicts, a pandas DataFrame or a `datasets.Dataset`, one dict at a time."""
    if hasattr(data, "iloc") and hasattr(data, "columns"):  # pandas DataFrame
        for start in range(0, len(data), _CHUNK_ROWS):
            chunk = data.iloc[start : start + _CHUNK_ROWS]
            for row in chunk.to_dict("records"):
                yield _missing_as_null(row)
        return
    if hasattr(data, "features") and hasattr(data, "column_names"):  # datasets.Dataset
        for row in data:
            yield _missing_as_null(row)
        return
    if isinstance(data, dict) or not isinstance(data, Iterable):
        raise TypeError(
            "import a path, a list of dicts, a pandas DataFrame or a datasets.Dataset "
            f"(got {type(data).__name__})"
        )
    for number, row in enumerate(data, start=1):
        if not isinstance(row, dict):
            raise TypeError(f"row {number} is a {type(row).__name__}, not a dict")
        yield _missing_as_null(row)


class _Sink(Protocol):
    def write(self, data: bytes, /) -> int: ...

    def close(self) -> None: ...


def _compressor(raw: IO[bytes], compression: str | None) -> _Sink:
    if compression == "gzip":
        return gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0)
    if compression == "zstd":
        try:
            import zstandard
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("zstd needs `pip install prefloop-client[zstd]`") from exc
        return zstandard.ZstdCompressor(level=3).stream_writer(raw, closefd=False)
    if compression is None:
        return raw
    raise ValueError(f"compression must be one of gzip, zstd or None (got {compression!r})")


SUFFIX = {"gzip": ".jsonl.gz", "zstd": ".jsonl.zst", None: ".jsonl"}


def encode_jsonl(rows: Iterable[dict[str, Any]], compression: str | None = "gzip") -> IO[bytes]:
    """The rows as (compressed) JSONL in a spooled file, rewound; memory stays bounded."""
    spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115
    sink: _Sink = _compressor(spool, compression)
    for row in rows:
        line = json.dumps(row, ensure_ascii=False, default=_plain)
        sink.write(line.encode("utf-8") + b"\n")
    if sink is not spool:
        sink.close()  # flushes the compressor's end of stream; the spool stays open
    spool.seek(0)
    return spool


class Export:
    """A dataset the server streams: saved to a file, or read as pandas or `datasets`.

    Nothing is downloaded until one of `save`, `to_pandas`, `to_datasets` or `rows` is called.
    """

    def __init__(self, transport: Transport, path: str, params: dict[str, Any]) -> None:
        self._transport = transport
        self._path = path
        self.params = params

    def _params(self, file: str | None) -> dict[str, Any]:
        params = dict(self.params)
        if file is not None and "file" not in params:
            params["file"] = file
        return params

    def _fetch(self, target: Path, params: dict[str, Any]) -> Path:
        response = self._transport.request("GET", self._path, params=params, stream=True)
        try:
            with target.open("wb") as out:
                for chunk in response.iter_bytes():
                    out.write(chunk)
        finally:
            response.close()
        return target

    def save(self, path: str | Path) -> Path:
        """Stream the export into `path` (Parquet for a .parquet name unless `file` is set)."""
        target = Path(path)
        kind = "parquet" if target.suffix in (".parquet", ".pq") else None
        return self._fetch(target, self._params(kind))

    def save_dataset(self, folder: str | Path) -> Path:
        """The dataset folder: its data file and the `README.md` card (license, splits,
        features, counts) that `datasets.load_dataset(folder)` reads as it is."""
        target = Path(folder)
        with tempfile.TemporaryDirectory() as directory:
            archive = self._fetch(Path(directory) / "export.zip", {**self.params, "package": "zip"})
            unpacked = Path(directory) / "unpacked"
            with zipfile.ZipFile(archive) as bundle:
                for member in bundle.namelist():
                    # Only names inside the folder: an archive cannot write elsewhere.
                    if member.startswith("/") or ".." in Path(member).parts:
                        raise ValueError(f"unexpected path in the export archive: {member}")
                bundle.extractall(unpacked)
            cards = sorted(unpacked.rglob("README.md"), key=lambda p: len(p.parts))
            if not cards:
                raise ValueError("the export archive holds no README.md dataset card")
            shutil.copytree(cards[0].parent, target, dirs_exist_ok=True)
        return target

    def _download(self, directory: str) -> tuple[Path, str]:
        file = self.params.get("file", "parquet")
        path = Path(directory) / f"export.{file}"
        return self._fetch(path, {**self.params, "file": file}), file

    def to_pandas(self) -> Any:
        """The export as a pandas DataFrame (fetched as Parquet unless `file` was given)."""
        import pandas as pd  # optional: `pip install prefloop-client[pandas]`

        with tempfile.TemporaryDirectory() as directory:
            path, file = self._download(directory)
            if file == "parquet":
                return pd.read_parquet(path)
            return pd.read_json(path, lines=True)

    def to_datasets(self) -> Any:
        """The export as a `datasets.Dataset` (its train split), read from the dataset folder
        with its card, held in memory (nothing is left in the Hugging Face cache)."""
        import datasets  # optional: `pip install prefloop-client[datasets]`

        with tempfile.TemporaryDirectory() as directory:
            folder = self.save_dataset(Path(directory) / "dataset")
            return datasets.load_dataset(
                str(folder),
                split="train",
                keep_in_memory=True,
                cache_dir=str(Path(directory) / "cache"),
            )

    def push_to_hub(self, repo_id: str, **options: Any) -> str:
        """Upload the dataset folder (data and card) to a Hugging Face Hub dataset repository.

        Needs `huggingface_hub` (it comes with `datasets`) and a Hub token (`token=` or the
        logged-in one); options go to `HfApi.upload_folder`. Returns the commit URL.
        """
        from huggingface_hub import HfApi

        api = HfApi(token=options.pop("token", None))
        api.create_repo(
            repo_id, repo_type="dataset", private=options.pop("private", None), exist_ok=True
        )
        with tempfile.TemporaryDirectory() as directory:
            folder = self.save_dataset(Path(directory) / "dataset")
            commit = api.upload_folder(
                repo_id=repo_id, repo_type="dataset", folder_path=str(folder), **options
            )
        return str(commit)

    def rows(self) -> Iterator[dict[str, Any]]:
        """The rows of a JSONL export, one dict at a time, as they stream in."""
        params = {**self.params, "file": "jsonl"}
        response = self._transport.request("GET", self._path, params=params, stream=True)
        try:
            for line in response.iter_lines():
                if line.strip():
                    yield json.loads(line)
        finally:
            response.close()
