"""`manage.py judge SLUG --endpoint NAME [--scope both] [--wait]`: run an AI judge."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotate.models import Project
from generation.judges import JudgeInputError, make_judge, run_judge, start_judge_run
from generation.judges_models import JudgeRun, JudgeScope
from generation.models import ModelEndpoint


class Command(BaseCommand):
    help = "Have an endpoint judge the project's pairs, each twice with the sides swapped."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--endpoint", required=True, help="the endpoint that judges")
        parser.add_argument("--scope", choices=JudgeScope.values, default=JudgeScope.BOTH)
        parser.add_argument(
            "--wait", action="store_true", help="run here until done, instead of on the workers"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        project = Project.objects.filter(slug=options["slug"], deleted_at__isnull=True).first()
        if project is None:
            raise CommandError(f"no project {options['slug']!r}")
        endpoint = ModelEndpoint.objects.filter(project=project, name=options["endpoint"]).first()
        if endpoint is None:
            raise CommandError(f"--endpoint: no endpoint {options['endpoint']!r} in {project.slug}")
        judge = make_judge(endpoint)
        try:
            run = start_judge_run(
                judge, None, scope=options["scope"], on_workers=not options["wait"]
            )
        except JudgeInputError as error:
            raise CommandError(f"{error.field}: {error}") from None
        if not options["wait"]:
            self.stdout.write(f"judge run {run.pk} queued: {run.total} pairs")
            return
        while run_judge(run.pk):
            run.refresh_from_db()
            self.stdout.write(f"{run.done} of {run.total} pairs")
        run = JudgeRun.objects.get(pk=run.pk)
        self.stdout.write(
            f"judge run {run.pk} {run.status}: {run.done} pairs, {run.votes} votes, "
            f"{run.inconsistent} inconsistent, {run.unparsed} unparsed, {run.failed} failed calls"
        )
