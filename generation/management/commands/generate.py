"""`manage.py generate SLUG --endpoints A,B --samples N [--wait]`: start a generation job."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotate.models import Project
from generation.jobs import GenerationInputError, run_job, start_generation
from generation.models import GenerationJob, GenerationStatus, ModelEndpoint, Pairing


class Command(BaseCommand):
    help = "Ask model endpoints for N samples of each prompt, on the workers (here with --wait)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--endpoints", required=True, help="endpoint names, comma-separated")
        parser.add_argument(
            "--samples", type=int, default=2, help="samples per prompt and endpoint"
        )
        parser.add_argument("--pairing", default=Pairing.ALL, choices=Pairing.values)
        parser.add_argument("--reference", default="", help="the reference pairing's endpoint")
        parser.add_argument("--pairs-per-prompt", type=int, default=1, help="k of --pairing random")
        parser.add_argument(
            "--wait", action="store_true", help="run here until done, instead of on the workers"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        project = Project.objects.filter(slug=options["slug"], deleted_at__isnull=True).first()
        if project is None:
            raise CommandError(f"no project with slug {options['slug']!r}")
        names = [n.strip() for n in options["endpoints"].split(",") if n.strip()]
        found = {e.name: e for e in ModelEndpoint.objects.filter(project=project, name__in=names)}
        missing = [n for n in names if n not in found]
        if missing:
            raise CommandError(f"no endpoint named {', '.join(missing)} in {project.slug}")
        if not 1 <= options["samples"] <= 64:
            raise CommandError("--samples must be between 1 and 64")
        try:
            job = start_generation(
                project,
                None,
                endpoints=[found[n] for n in names],
                samples=options["samples"],
                pairing=options["pairing"],
                reference=found.get(options["reference"]),
                pairs_per_prompt=options["pairs_per_prompt"],
                on_workers=not options["wait"],
            )
        except GenerationInputError as error:
            raise CommandError(f"{error.field}: {error}") from None
        if not options["wait"]:
            self.stdout.write(f"generation job {job.pk} queued")
            return
        self._run(job)

    def _run(self, job: GenerationJob) -> None:
        """Work on the job in this process until no sample is left (no task was sent)."""
        while run_job(job.pk):
            job.refresh_from_db()
            self.stdout.write(f"{job.done} of {job.total} samples stored")
        job.refresh_from_db()
        self.stdout.write(
            f"job {job.pk} {job.status}: {job.done} of {job.total} samples stored, "
            f"{job.failed} failed, {job.pairs_created} pairs made"
        )
        if job.status != GenerationStatus.SUCCEEDED:
            raise CommandError(f"job {job.pk} ended {job.status}")
