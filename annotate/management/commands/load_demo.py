from __future__ import annotations

from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from annotate.importing import import_file
from annotate.models import Project, Role
from annotate.projects import create_project, set_member

DEMO_DIR = Path(__file__).resolve().parents[2] / "demo"
GUIDELINES = """\
Compare the two responses to the instruction.

* **Better** means more helpful, correct and complete for *this* instruction.
* Length is not quality: a short correct answer beats a long wrong one.
* Choose **tie** when neither is clearly better, **both bad** when neither is acceptable.
"""
# Local demo credentials, printed on first start; the demo exists only on an empty database.
USERS = {"admin": ("admin", "prefloop-admin"), "annotator": ("annotator", "prefloop-annotator")}


class Command(BaseCommand):
    help = "Create demo users and the demo project (PandaLM sample) when they don't exist."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--if-empty", action="store_true", help="do nothing if any user exists")

    def handle(self, *args: Any, **options: Any) -> None:
        User = get_user_model()
        if options["if_empty"] and User.objects.exists():
            self.stdout.write("Database already has users; demo not loaded.")
            return
        with transaction.atomic():
            admin = self._user(*USERS["admin"], superuser=True)
            self._user(*USERS["annotator"], superuser=False)
            project = Project.objects.filter(slug="demo").first() or create_project(
                slug="demo",
                name="Demo: PandaLM instructions",
                admin=admin,
                guidelines=GUIDELINES,
                retrain_every=20,
            )
            set_member(project, username=USERS["annotator"][0], role=Role.ANNOTATOR)
            labelled = import_file(project, DEMO_DIR / "pandalm-labelled.jsonl")
            pending = import_file(project, DEMO_DIR / "pandalm-pending.jsonl", labels="gold")
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo project 'demo': {labelled.pairs_created} labelled pairs, "
                f"{pending.pairs_created} pending pairs."
            )
        )
        for role, (username, password) in USERS.items():
            self.stdout.write(f"  {role:<10} username: {username:<10} password: {password}")

    def _user(self, username: str, password: str, *, superuser: bool) -> Any:
        User = get_user_model()
        user = User.objects.filter(username=username).first()
        if user is None:
            create = User.objects.create_superuser if superuser else User.objects.create_user
            user = create(username=username, password=password)
        return user
