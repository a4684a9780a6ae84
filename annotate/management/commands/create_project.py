from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotate.models import Project
from annotate.projects.lifecycle import create_project


class Command(BaseCommand):
    help = "Create a project, optionally with a first admin."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--name", default="")
        parser.add_argument("--admin", help="username of the project's first admin")
        parser.add_argument("--judgements-per-pair", type=int, default=1)
        parser.add_argument(
            "--max-judgements-per-pair",
            type=int,
            help="adaptive overlap: more votes, up to this many, while they disagree",
        )
        parser.add_argument(
            "--gold-rate", type=float, default=0.0, help="share of leases that are gold checks"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        slug = options["slug"]
        if Project.objects.filter(slug=slug).exists():
            raise CommandError(f"a project with slug {slug!r} already exists")
        if options["judgements_per_pair"] < 1:
            raise CommandError("--judgements-per-pair must be at least 1")
        if not 0.0 <= options["gold_rate"] <= 1.0:
            raise CommandError("--gold-rate must be between 0 and 1")
        admin = None
        if options["admin"]:
            admin = get_user_model().objects.filter(username=options["admin"]).first()
            if admin is None:
                raise CommandError(f"no user named {options['admin']!r}")
        project = create_project(
            slug=slug,
            name=options["name"],
            admin=admin,
            judgements_per_pair=options["judgements_per_pair"],
            max_judgements_per_pair=options["max_judgements_per_pair"],
            gold_rate=options["gold_rate"],
        )
        self.stdout.write(self.style.SUCCESS(f"Created project {project.slug} ({project.name})"))
