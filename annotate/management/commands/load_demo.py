from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from annotate.importing.pipeline import import_file
from annotate.models import Pair, Project, Role
from annotate.projects.lifecycle import create_project
from annotate.projects.members import set_member

DEMO_DIR = Path(__file__).resolve().parents[2] / "demo"
GUIDELINES = """\
Compare the two responses to the instruction.

* **Better** means more helpful, correct and complete for *this* instruction.
* Length is not quality: a short correct answer beats a long wrong one.
* Choose **tie** when neither is clearly better, **both bad** when neither is acceptable.
"""
# Local demo credentials, printed on first start; the demo exists only on an empty database.
USERS = {"admin": ("admin", "prefloop-admin"), "annotator": ("annotator", "prefloop-annotator")}
# Every GOLD_EVERY-th pending pair keeps its label as a hidden gold check.
GOLD_EVERY = 8


def distinct_records(path: Path) -> list[dict[str, Any]]:
    """The file's records, one per pair: PandaLM repeats some pairs, and a pair is imported once
    (under the id of its first record)."""
    seen: set[tuple[str, frozenset[str]]] = set()
    records = []
    for line in path.read_text().splitlines():
        record = json.loads(line)
        key = (
            json.dumps(record["prompt"]),
            frozenset((record["response_a"], record["response_b"])),
        )
        if key not in seen:
            seen.add(key)
            records.append(record)
    return records


def demo_vote_rows(path: Path) -> list[dict[str, str]]:
    """The three PandaLM annotators' votes (`meta.votes`, in annotator order) as judgement rows."""
    rows = []
    for record in distinct_records(path):
        for number, choice in enumerate(record["meta"]["votes"], start=1):
            rows.append(
                {
                    "pair_external_id": record["id"],
                    "annotator": f"pandalm-annotator-{number}",
                    "choice": choice,
                }
            )
    return rows


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
                gold_rate=0.1,
            )
            set_member(project, username=USERS["annotator"][0], role=Role.ANNOTATOR)
            labelled = self._import_labelled(project)
            pending = import_file(project, DEMO_DIR / "pandalm-pending.jsonl", labels="ignore")
            gold = self._mark_gold(project)
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo project 'demo': {labelled} pairs with three PandaLM annotators' votes, "
                f"{pending.pairs_created} pending pairs ({gold} of them hidden gold checks)."
            )
        )
        for role, (username, password) in USERS.items():
            self.stdout.write(f"  {role:<10} username: {username:<10} password: {password}")

    def _import_labelled(self, project: Project) -> int:
        """The labelled pairs, then each of their three recorded votes by its annotator."""
        path = DEMO_DIR / "pandalm-labelled.jsonl"
        pairs = import_file(project, path, labels="ignore")
        with tempfile.TemporaryDirectory() as folder:
            votes = Path(folder) / "votes.jsonl"
            votes.write_text("".join(json.dumps(r) + "\n" for r in demo_vote_rows(path)))
            import_file(project, votes)
        return pairs.pairs_created + pairs.pairs_existing

    def _mark_gold(self, project: Project) -> int:
        """Keep the label of every GOLD_EVERY-th pending pair as its hidden gold label."""
        records = [json.loads(line) for line in (DEMO_DIR / "pandalm-pending.jsonl").open()]
        labels = {r["id"]: r["label"] for r in records[::GOLD_EVERY]}
        pairs = list(Pair.objects.filter(project=project, external_id__in=labels))
        for pair in pairs:
            pair.gold_label = labels[pair.external_id]
        Pair.objects.bulk_update(pairs, ["gold_label"])
        return len(pairs)

    def _user(self, username: str, password: str, *, superuser: bool) -> Any:
        User = get_user_model()
        user = User.objects.filter(username=username).first()
        if user is None:
            create = User.objects.create_superuser if superuser else User.objects.create_user
            user = create(username=username, password=password)
        return user
