"""Retrain options for decoders and LoRA, and an honest estimate of each mode before a run."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from annotate.models import Project
from rewards.costs import PACKAGED_BACKBONE, check_cost, mode_cost
from rewards.models import RewardModel, TrainingRun
from tests.annotate.statistics_support import fetched
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
    "sharding": "fsdp",
    "max_tokens_per_batch": 4096,
}


def measured_version(
    project: Project,
    mode: str,
    *,
    judgements: int,
    seconds: float,
    backbone: str = PACKAGED_BACKBONE,
    config: dict[str, Any] | None = None,
    **speed: Any,
) -> None:
    """A past version whose speed the estimates read (judgements trained on in `seconds`,
    with the options in `config`; TrainConfig's defaults where it is left out)."""
    measured = {"pairs_per_s": 3.5, "tokens_per_s": 410.0, "mfu": None, "device": "cpu"}
    RewardModel.objects.create(
        project=project,
        version=RewardModel.objects.filter(project=project).count() + 1,
        mode=mode,
        backbone=backbone,
        judgements=judgements,
        training_seconds=seconds,
        config=config or {},
        metrics={"accuracy": 0.7, "throughput": {**measured, "processes": 1, **speed}},
    )


def write_backbone_config(folder: Path, **shape: Any) -> str:
    """A backbone folder with only its config.json (all the estimate reads)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(shape))
    return str(folder)


def test_the_retrain_api_takes_the_lora_and_gpu_options(
    admin: Any, project: Project, django_capture_on_commit_callbacks: Any
) -> None:
    # when an admin asks for a LoRA run over two GPUs
    with django_capture_on_commit_callbacks():
        answer = client_for(admin).post(
            f"/api/projects/{project.slug}/retrain", {**LORA, "confirm": True}, format="json"
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
    [
        ("lora_rank", -1),
        ("lora_targets", "q_proj; rm -rf"),
        ("gpus", 0),
        ("lora_dropout", 2),
        ("sharding", "zero3"),
    ],
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


def test_the_retrain_api_takes_the_run_options_inside_options(
    admin: Any, project: Project, django_capture_on_commit_callbacks: Any
) -> None:
    # given the LoRA options and a token length as one `options` object
    options = {**{k: v for k, v in LORA.items() if k != "mode"}, "max_length": 512}

    # when an admin asks for a finetune with them
    with django_capture_on_commit_callbacks():
        answer = client_for(admin).post(
            f"/api/projects/{project.slug}/retrain",
            {"mode": "finetune", "options": options, "confirm": True},
            format="json",
        )

    # then the run carries each of them, as if they had been given at the top level
    assert answer.status_code == 202, answer.json()
    assert TrainingRun.objects.get(pk=answer.json()["id"]).options == options


def test_unknown_keys_in_options_are_refused_naming_them(admin: Any, project: Project) -> None:
    answer = client_for(admin).post(
        f"/api/projects/{project.slug}/retrain",
        {"mode": "finetune", "options": {"lora_rank": 4, "lora_rnak": 8, "flash": True}},
        format="json",
    )
    assert answer.status_code == 400
    assert set(answer.json()["options"]) == {"flash", "lora_rnak"}
    assert "not a run option" in answer.json()["options"]["lora_rnak"][0]
    assert not TrainingRun.objects.exists()


def test_an_option_given_twice_with_different_values_is_refused(
    admin: Any, project: Project
) -> None:
    answer = client_for(admin).post(
        f"/api/projects/{project.slug}/retrain",
        {"mode": "finetune", "lora_rank": 4, "options": {"lora_rank": 8}},
        format="json",
    )
    assert answer.status_code == 400
    assert "lora_rank" in answer.json()
    assert not TrainingRun.objects.exists()


@pytest.mark.parametrize("where", ["top", "options"])
@pytest.mark.parametrize("value", [8, 40_000, "long"])
def test_a_bad_max_length_is_refused_naming_it(
    admin: Any, project: Project, where: str, value: Any
) -> None:
    body: dict[str, Any] = {"mode": "finetune"}
    if where == "top":
        body["max_length"] = value
    else:
        body["options"] = {"max_length": value}
    answer = client_for(admin).post(f"/api/projects/{project.slug}/retrain", body, format="json")
    assert answer.status_code == 400
    errors = answer.json() if where == "top" else answer.json()["options"]
    assert "max_length" in errors
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
    page = fetched(client, f"/projects/{project.slug}/models").content.decode()

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
            "--max-tokens-per-batch", "2048", "--max-length", "384", "--yes", stdout=out,
        )  # fmt: skip

    # then the run is queued with the options and the estimate is printed
    run = TrainingRun.objects.get()
    assert run.options == {
        "lora_rank": 4,
        "gpus": 1,
        "max_tokens_per_batch": 2048,
        "max_length": 384,
    }
    assert "Estimate: finetune: about" in out.getvalue()


def test_an_unmeasured_finetune_on_workers_without_a_gpu_asks_first(
    admin: Any, project: Project, settings: Any
) -> None:
    # given no finetune version yet and runs sent to the default (CPU) workers
    settings.REWARDS_QUEUE = "default"

    # when a finetune is asked for without confirmation
    answer = client_for(admin).post(
        f"/api/projects/{project.slug}/retrain", {"mode": "finetune"}, format="json"
    )

    # then it is refused, saying it is unmeasured and why it may be long
    assert answer.status_code == 400
    message = answer.json()["confirm"][0]
    assert "not measured" in message and "no GPU" in message
    assert not TrainingRun.objects.exists()


def test_an_unmeasured_finetune_starts_when_past_runs_had_a_gpu(project: Project) -> None:
    # given a finetune of another backbone that ran on a GPU
    measured_version(
        project, "finetune", judgements=40, seconds=4, backbone="/other", device="H100"
    )

    # when a finetune of the default backbone is estimated
    cost = check_cost(project, "finetune", confirm=False)

    # then it is not measured, and starts without asking
    assert cost.seconds is None and not cost.needs_confirmation


def test_an_unmeasured_large_backbone_asks_first_even_for_heads(
    project: Project, tmp_path: Path
) -> None:
    # given a backbone folder with Qwen2.5-1.5B's shapes
    qwen = write_backbone_config(
        tmp_path / "qwen",
        architectures=["Qwen2ForCausalLM"],
        hidden_size=1536,
        num_hidden_layers=28,
        intermediate_size=8960,
        num_attention_heads=12,
        num_key_value_heads=2,
        vocab_size=151936,
    )

    # when a heads run on it is estimated with no version of it measured
    cost = mode_cost(project, "heads", {"backbone": qwen})

    # then its size makes it ask first
    assert cost.needs_confirmation
    assert "about 1.5 B parameters" in cost.summary


def test_the_estimate_reads_only_versions_trained_the_same_way(
    project: Project, tmp_path: Path
) -> None:
    # given a small decoder, and fast LoRA and slow full finetunes of it on one GPU and on two
    decoder = write_backbone_config(
        tmp_path / "decoder", architectures=["LlamaForCausalLM"], hidden_size=64,
        num_hidden_layers=2,
    )  # fmt: skip
    measured_version(
        project, "finetune", judgements=100, seconds=10, backbone=decoder, lora=True, device="L4"
    )
    measured_version(
        project, "finetune", judgements=100, seconds=1000, backbone=decoder, lora=False,
        device="L4",
    )  # fmt: skip
    measured_version(
        project, "finetune", judgements=100, seconds=5, backbone=decoder, lora=True, device="L4",
        processes=2,
    )  # fmt: skip
    measured_version(project, "finetune", judgements=100, seconds=1, lora=False)  # MiniLM

    # when runs of it are estimated: by default (LoRA for a decoder), in full, over two GPUs
    default = mode_cost(project, "finetune", {"backbone": decoder})
    full = mode_cost(project, "finetune", {"backbone": decoder, "lora_rank": 0})
    two = mode_cost(project, "finetune", {"backbone": decoder, "gpus": 2})
    one = mode_cost(project, "finetune", {"backbone": decoder, "gpus": 1})

    # then each reads its own kind only: the newest kind first, the full run apart
    assert (default.judgements_per_s, default.measured_versions) == (20.0, 1)  # two GPUs: newest
    assert full.judgements_per_s == 0.1
    assert two.judgements_per_s == 20.0 and one.judgements_per_s == 10.0
    assert "on L4" in one.summary


def test_the_packaged_backbone_name_matches_the_one_versions_record() -> None:
    from rewards.ml.backbone import DEFAULT_BACKBONE

    assert PACKAGED_BACKBONE == DEFAULT_BACKBONE
