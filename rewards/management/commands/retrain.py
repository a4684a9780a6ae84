from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from annotate.models import Project
from annotate.views.parsing import describe
from rewards.api.serializers import RetrainInputSerializer, RunOptionFields
from rewards.costs import NeedsConfirmation, check_cost
from rewards.models import Mode, TrainingRun
from rewards.runs import request_retrain

# Run options the command passes on: the retrain API's `options` keys.
RUN_OPTION_NAMES = tuple(RunOptionFields().fields)


class Command(BaseCommand):
    help = "Queue a reward-model retrain for a project; --wait follows it to the end."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        trained = [Mode.HEADS.value, Mode.FINETUNE.value]  # external models are uploaded
        parser.add_argument("--mode", choices=trained, default=Mode.HEADS.value)
        parser.add_argument("--wait", action="store_true", help="follow the run; fail if it does")
        parser.add_argument("--timeout", type=float, default=3600, help="seconds to wait")
        parser.add_argument("--yes", action="store_true", help="start even if estimated long")
        parser.add_argument("--backbone", help="local model folder or hub name")
        parser.add_argument("--epochs", type=int)
        parser.add_argument("--members", type=int)
        parser.add_argument("--max-length", type=int, help="tokens per prompt+response input")
        parser.add_argument("--lora-rank", type=int, help="LoRA rank; 0 fine-tunes in full")
        parser.add_argument("--lora-alpha", type=int)
        parser.add_argument("--lora-dropout", type=float)
        parser.add_argument("--lora-targets", help="comma-separated module names")
        parser.add_argument("--gpus", type=int, help="training processes (one per GPU)")
        parser.add_argument(
            "--sharding", choices=["ddp", "fsdp"], help="fsdp shards weights over the GPUs"
        )
        parser.add_argument("--max-tokens-per-batch", type=int, help="padded tokens per device")
        parser.add_argument(
            "--margin-per-strength", type=float, help="loss margin per strength point (1-3)"
        )
        parser.add_argument(
            "--criterion", help="train on this criterion's votes instead of the overall preference"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        project = Project.objects.filter(slug=options["slug"]).first()
        if project is None:
            raise CommandError(f"no project with slug {options['slug']!r}")
        values = {k: options[k] for k in RUN_OPTION_NAMES if options.get(k) is not None}
        checked = RetrainInputSerializer(
            data={**values, "mode": options["mode"], "confirm": options["yes"]},
            context={"project": project},
        )
        if not checked.is_valid():
            raise CommandError(describe(checked.errors))
        values = dict(checked.validated_data)
        mode, confirm = values.pop("mode"), values.pop("confirm")
        try:
            cost = check_cost(project, mode, confirm=confirm, options=values)
        except NeedsConfirmation as exc:
            raise CommandError(f"{exc} (--yes)") from None
        self.stdout.write(f"Estimate: {cost.summary}")
        run, created = request_retrain(project, mode=options["mode"], options=values)
        verb = "Queued" if created else "Following the already live"
        self.stdout.write(f"{verb} run {run.pk} ({run.mode}) for {project.slug}")
        if options["wait"]:
            self._follow(run.pk, options["timeout"])

    def _follow(self, run_id: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with tqdm(total=100, unit="%", desc="training", file=self.stderr) as bar:
            while time.monotonic() < deadline:
                run = TrainingRun.objects.select_related("model").get(pk=run_id)
                bar.n = round(run.progress * 100)
                bar.set_postfix_str(run.message[:60] or run.status)
                bar.refresh()
                if not run.is_live:
                    break
                time.sleep(1)
        if run.is_live:
            raise CommandError(f"run {run_id} still {run.status} after {timeout:.0f} s")
        if run.status != TrainingRun.Status.SUCCEEDED:
            raise CommandError(f"run {run_id} {run.status}: {run.error}")
        model = run.model  # None once the model is deleted (the foreign key is SET_NULL)
        version = f"v{model.version}" if model else "its model since deleted"
        accuracy = model.metrics.get("accuracy") if model else None
        self.stdout.write(
            self.style.SUCCESS(
                f"Run {run_id} succeeded: {version}, validation accuracy "
                f"{accuracy if accuracy is None else round(accuracy, 3)}; {run.message}"
            )
        )
