"""Write a stored reward-model version into a folder: its checkpoint as trained, or merged."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotate.models import Project
from rewards.models import Mode, RewardModel


class Command(BaseCommand):
    help = (
        "Write version N of a project's reward model into OUT, fetched from storage when this "
        "machine has no copy. --merged folds a LoRA adapter into its base, so OUT/backbone is a "
        "plain transformers model (AutoModel.from_pretrained) beside the reward heads."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument(
            "version", type=int, help="the version number, as the models page shows"
        )
        parser.add_argument("out", help="a folder to write (new or empty)")
        parser.add_argument(
            "--merged", action="store_true", help="fold a LoRA adapter into a full backbone"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        model = _version(options["slug"], options["version"])
        out = Path(options["out"])
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise CommandError(f"{out} exists and is not an empty folder")
        from rewards.ml.checkpoint import export_merged, read_metadata
        from rewards.worker.artifacts import local_model_dir

        try:
            folder = local_model_dir(model)
            adapted = read_metadata(folder).get("lora") is not None
        except (OSError, ValueError) as exc:
            raise CommandError(f"version {model.version} has no checkpoint here: {exc}") from exc
        if options["merged"]:
            if not adapted:
                raise CommandError(
                    f"version {model.version} has no LoRA adapter: its checkpoint is already "
                    "plain; export it without --merged"
                )
            export_merged(folder, out)
            what = "merged: OUT/backbone is a plain transformers model"
        else:
            shutil.copytree(folder, out, dirs_exist_ok=True)
            what = (
                f"as trained: a LoRA adapter over {model.backbone}, which must be there to load it"
                if adapted
                else "as trained"
            )
        self.stdout.write(f"wrote {options['slug']} version {model.version} to {out} ({what})")


def _version(slug: str, version: int) -> RewardModel:
    project = Project.objects.filter(slug=slug, deleted_at__isnull=True).first()
    if project is None:
        raise CommandError(f"no project {slug!r}")
    model = RewardModel.objects.filter(project=project, version=version).first()
    if model is None:
        known = list(
            RewardModel.objects.filter(project=project)
            .order_by("version")
            .values_list("version", flat=True)
        )
        raise CommandError(f"{slug} has no version {version} (versions: {known or 'none'})")
    if model.mode == Mode.EXTERNAL:
        raise CommandError(f"version {version} is an external model: its scores were uploaded")
    return model
