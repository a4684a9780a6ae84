from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotate.formats import FORMATS, ImportFormatError
from annotate.importing.pipeline import LABEL_MODES, import_file
from annotate.models import Project


class Command(BaseCommand):
    help = "Import pairs (pairs, responses, trl or hh format; JSONL, CSV or Parquet)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("file")
        parser.add_argument("--format", default="auto", choices=["auto", *FORMATS])
        parser.add_argument(
            "--labels",
            default="judgements",
            choices=LABEL_MODES,
            help="what a row's label becomes: imported judgements (default), the pair's "
            "hidden gold label, or nothing",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        project = Project.objects.filter(slug=options["slug"]).first()
        if project is None:
            raise CommandError(f"no project with slug {options['slug']!r}")
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"no such file: {path}")
        try:
            summary = import_file(
                project,
                path,
                fmt=options["format"],
                labels=options["labels"],
                progress=_progress if sys.stderr.isatty() else None,
            )
        except ImportFormatError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(summary.describe())


def _progress(fraction: float) -> None:
    sys.stderr.write(f"\rimporting... {fraction:6.1%}")
    if fraction >= 1:
        sys.stderr.write("\n")
