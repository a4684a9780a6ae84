from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotate.exporting.datasets import EXPORT_FORMATS, export_chunks
from annotate.exporting.shaped import BadExportOption
from annotate.formats import file_type_of
from annotate.models import Project


class Command(BaseCommand):
    help = (
        "Export preferences as trl, hh, judgements, rankings, kto or sft;"
        " .jsonl or .parquet by extension."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--format", required=True, choices=EXPORT_FORMATS)
        parser.add_argument("--output", help="file path (.jsonl or .parquet); stdout if omitted")
        parser.add_argument(
            "--min-agreement",
            type=float,
            default=0.0,
            help="keep pairs whose majority holds at least this share of the votes (0..1)",
        )
        parser.add_argument(
            "--exclude-flagged",
            action="store_true",
            help="leave out the judgements of annotators the quality checks flag",
        )
        parser.add_argument(
            "--criterion", default="", help="trl/hh: the preferences of this criterion"
        )
        parser.add_argument(
            "--min-chosen-rating",
            default="",
            help="trl/hh: leave out pairs whose chosen response is rated below this value of"
            " the rating scale (unrated: kept)",
        )
        parser.add_argument(
            "--with-edits",
            action="store_true",
            help="trl/hh: also each edit as chosen over every response of its pair or item",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        project = Project.objects.filter(slug=options["slug"]).first()
        if project is None:
            raise CommandError(f"no project with slug {options['slug']!r}")
        if not 0.0 <= options["min_agreement"] <= 1.0:
            raise CommandError("--min-agreement must be between 0 and 1")
        output = options["output"]
        file_type = file_type_of(output) if output else "jsonl"
        try:
            chunks = export_chunks(
                project,
                fmt=options["format"],
                file_type=file_type,
                min_agreement=options["min_agreement"],
                exclude_flagged=options["exclude_flagged"],
                criterion=options["criterion"],
                min_chosen_rating=options["min_chosen_rating"],
                with_edits=options["with_edits"],
            )
        except BadExportOption as exc:
            raise CommandError(str(exc)) from exc
        if output is None:
            for chunk in chunks:
                sys.stdout.buffer.write(chunk)
            sys.stdout.flush()
            return
        with Path(output).open("wb") as handle:
            for chunk in chunks:
                handle.write(chunk)
        self.stderr.write(f"Wrote {output}")
