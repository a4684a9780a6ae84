"""Retrain options for decoders and LoRA, and an honest estimate of each mode before a run."""

from __future__ import annotations

from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from annotate.models import Project
from rewards.models import RewardModel, TrainingRun
from tests.conftest import client_for
from tests.factories import make_pairs

pytestmark = pytest.mark.django_db

LORA = {
    "mode": "finetune",
    "lora_rank": 8,
    "lora_alpha": 16,
    "lora_dropout": 0.05,
    "lora_targets": "q_proj,v_proj",
    "gpus": 2,
    "max_tokens_per_batch": 4096,
}


def measured_version(project: Project, mode: str, *, judgements: int, seconds: float) -> None:
    """A past version whose speed the estimates read (judgements trained on in `seconds`)."""
    speed = {"pairs_per_s": 3.5, "tokens_per_s": 410.0, "mfu": None, "device": "cpu"}
    RewardModel.objects.create(
        project=project,
        version=RewardModel.objects.filter(project=project).count() + 1,
        mode=mode,
        backbone="tiny",
        judgements=judgements,
        training_seconds=seconds,
        metrics={"accuracy": 0.7, "throughput": {**speed, "processes": 1}},
    )


def test_the_retrain_api_takes_the_lora_and_gpu_options(
    admin: Any, project: Project, django_capture_on_commit_callbacks: Any
) -> None:
    # when an admin asks for a LoRA run over two GPUs
    with django_capture_on_commit_callbacks():
        answer = client_for(admin).post(
            f"/api/projects/{project.slug}/retrain", LORA, format="json"
        )

    # then the run carries every option, and the answer says the mode is not measured yet
    assert answer.status_code == 202, answer.json()
    run = TrainingRun.objects.get(pk=answer.json()["id"])
    assert {k: run.options[k] for k in LORA if k != "mode"} == {
        k: v for k, v in LORA.items() if k != "mode"
    }
    assert "not measured" in answer.json()["estimate"]


@pytest.mark.parametrize(
    ("field", "value"),
    [("lora_rank", -1), ("lora_targets", "q_proj; rm -rf"), ("gpus", 0), ("lora_dropout", 2)],
)
def test_bad_options_are_refused_naming_the_field(
    admin: Any, project: Project, field: str, value: Any
) -> None:
    answer = client_for(admin).post(
        f"/api/projects/{project.slug}/retrain", {**LORA, field: value}, format="json"
    )
    assert answer.status_code == 400
    assert field in answer.json()
    assert not TrainingRun.objects.exists()


def test_a_run_estimated_at_hours_asks_for_confirmation(
    admin: Any, project: Project, tmp_path: Path, django_capture_on_commit_callbacks: Any
) -> None:
    # given finetune versions that trained at 0.001 judgements/s, and 30 new judged pairs
    measured_version(project, "finetune", judgements=36, seconds=36000)
    make_pairs(project, tmp_path, 30)
    url = f"/api/projects/{project.slug}/retrain"

    # when asked without confirmation, then with it
    refused = client_for(admin).post(url, {"mode": "finetune"}, format="json")
    with django_capture_on_commit_callbacks():
        accepted = client_for(admin).post(url, {"mode": "finetune", "confirm": True}, format="json")

    # then the first is refused with the estimate, the second starts and repeats it
    assert refused.status_code == 400
    assert "about" in refused.json()["confirm"][0] and "h for" in refused.json()["confirm"][0]
    assert accepted.status_code == 202
    assert "0.001 judgements/s" in accepted.json()["estimate"]


def test_the_models_page_asks_for_the_same_confirmation(
    admin: Any, project: Project, tmp_path: Path, django_capture_on_commit_callbacks: Any
) -> None:
    # given the same slow finetune history
    measured_version(project, "finetune", judgements=36, seconds=36000)
    make_pairs(project, tmp_path, 30)
    client = Client()
    client.force_login(admin)
    url = f"/projects/{project.slug}/models/retrain"

    # when the form is sent without the box ticked, then with it
    refused = client.post(url, {"mode": "finetune"}, follow=True)
    assert not TrainingRun.objects.exists()
    with django_capture_on_commit_callbacks():
        client.post(url, {"mode": "finetune", "confirm": "true"})

    # then the first says why nothing started, the second starts a run
    assert "Not started:" in refused.content.decode()
    assert TrainingRun.objects.count() == 1


def test_the_models_page_shows_each_modes_cost_and_each_versions_speed(
    admin: Any, project: Project
) -> None:
    # given a measured heads version
    measured_version(project, "heads", judgements=100, seconds=4)

    # when the admin opens the models page
    client = Client()
    client.force_login(admin)
    page = client.get(f"/projects/{project.slug}/models").content.decode()

    # then the estimate per mode and the version's speed are on it
    assert "heads: about 0 s for 0 judgements on cpu (25 judgements/s" in page
    assert "finetune: not measured on these workers yet" in page
    assert "3.5 pairs/s" in page and "410 tokens/s" in page and "MFU n/a (cpu)" in page


def test_the_retrain_command_passes_options_and_needs_yes_for_a_long_run(
    project: Project, tmp_path: Path, django_capture_on_commit_callbacks: Any
) -> None:
    # given a slow finetune history
    measured_version(project, "finetune", judgements=36, seconds=36000)
    make_pairs(project, tmp_path, 30)

    # when the command is run without --yes, then with it
    with pytest.raises(CommandError, match="--yes"):
        call_command("retrain", project.slug, "--mode", "finetune", stdout=StringIO())
    out = StringIO()
    with django_capture_on_commit_callbacks():
        call_command(
            "retrain", project.slug, "--mode", "finetune", "--lora-rank", "4", "--gpus", "1",
            "--max-tokens-per-batch", "2048", "--yes", stdout=out,
        )  # fmt: skip

    # then the run is queued with the options and the estimate is printed
    run = TrainingRun.objects.get()
    assert run.options == {"lora_rank": 4, "gpus": 1, "max_tokens_per_batch": 2048}
    assert "Estimate: finetune: about" in out.getvalue()
