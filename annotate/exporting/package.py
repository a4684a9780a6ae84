"""An export as a dataset folder (data file plus its `README.md` card), or that folder archived.

The folder is what `datasets.load_dataset(folder)` reads: `data/train.jsonl` (or `.parquet`)
and the card that names it (annotate/exporting/card.py). Archives (zip, tar.gz) hold the folder
under its name; they are built in a temporary directory, since the card counts the rows.
"""

from __future__ import annotations

import tarfile
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from django.http import FileResponse
from django.utils import timezone

from annotate.exporting.card import card_facts, dataset_card
from annotate.exporting.datasets import export_rows, export_schema
from annotate.formats import jsonl_chunks, parquet_chunks
from annotate.models import Project

PACKAGES = ("zip", "tar")
CONTENT_TYPES = {"zip": "application/zip", "tar": "application/gzip"}


class _Counted:
    """The rows, counted as they stream past."""

    def __init__(self, rows: Iterable[dict[str, Any]]) -> None:
        self.rows = rows
        self.count = 0

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for row in self.rows:
            self.count += 1
            yield row


def write_dataset_folder(
    project: Project,
    folder: Path,
    *,
    format: str,
    file: str = "jsonl",
    min_agreement: float = 0.0,
    exclude_flagged: bool = False,
    license: str = "unknown",
    criterion: str = "",
    min_chosen_rating: str = "",
    with_edits: bool = False,
) -> Path:
    """Write the export and its card into `folder` (made if missing); return the folder."""
    rows, schema_name = export_rows(
        project,
        fmt=format,
        min_agreement=min_agreement,
        exclude_flagged=exclude_flagged,
        criterion=criterion,
        min_chosen_rating=min_chosen_rating,
        with_edits=with_edits,
    )
    counted = _Counted(rows)
    data_path = f"data/train.{file}"
    target = folder / data_path
    target.parent.mkdir(parents=True, exist_ok=True)
    schema = export_schema(project, schema_name)
    chunks = parquet_chunks(counted, schema) if file == "parquet" else jsonl_chunks(counted)
    with target.open("wb") as out:
        for chunk in chunks:
            out.write(chunk)
    options: dict[str, Any] = {
        "min_agreement": min_agreement,
        "exclude_flagged": exclude_flagged,
        "file": file,
    }
    if criterion:
        options["criterion"] = criterion
    if min_chosen_rating:
        options["min_chosen_rating"] = min_chosen_rating
    if with_edits:
        options["with_edits"] = True
    card = dataset_card(
        project,
        fmt=format,
        data_path=data_path,
        schema=schema,
        facts=card_facts(
            project,
            rows=counted.count,
            data_bytes=target.stat().st_size,
            created_at=timezone.now(),
        ),
        license=license,
        options=options,
    )
    (folder / "README.md").write_text(card, encoding="utf-8")
    return folder


def package_response(project: Project, *, package: str, **export: Any) -> FileResponse:
    """The dataset folder as a zip or tar.gz download (page and API)."""
    if package not in PACKAGES:
        raise ValueError(f"unknown package {package!r}; use zip or tar")
    name = f"{project.slug}-{export['format']}"
    with tempfile.TemporaryDirectory(prefix="prefloop-export-") as tmp:
        folder = write_dataset_folder(project, Path(tmp) / name, **export)
        archive = Path(tmp) / (f"{name}.zip" if package == "zip" else f"{name}.tar.gz")
        if package == "zip":
            with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as out:
                for path in sorted(folder.rglob("*")):
                    if path.is_file():
                        out.write(path, path.relative_to(folder.parent).as_posix())
        else:
            with tarfile.open(archive, "w:gz") as out:
                out.add(folder, arcname=name)
        # Open before the directory goes: the open file outlives its name until it is sent.
        handle = archive.open("rb")
    return FileResponse(
        handle, as_attachment=True, filename=archive.name, content_type=CONTENT_TYPES[package]
    )
