"""The `trl` and `kto` exports, loaded with `datasets`, train TRL's RewardTrainer and KTOTrainer
as they are: a few steps on tiny random-init models built locally (no downloads)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from annotate.importing.pipeline import import_file
from annotate.models import Project
from annotate.projects.members import set_member
from tests.conftest import client_for, streamed
from tests.factories import make_project, write_jsonl

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

# Words of the tiny tokenizer's vocabulary (rewards/ml/testing.py), so texts are not all unknown.
TOPICS = ("cat", "dog", "sun", "moon", "tree", "river", "stone", "cloud")
STEPS = 2


def _project(admin: Any, annotator: Any, tmp_path: Path) -> Project:
    """Eight pairs judged through the API with a graded strength and a rating of each response:
    strength 1, 2, 3 in turn; the chosen response rated 5 and the other 1 on a 1-5 scale."""
    project = make_project("trainers", admin=admin, ask_strength=True, rating_scale=[1, 2, 3, 4, 5])
    set_member(project, username=annotator.username, role="annotator")
    rows = [
        {
            "id": topic,
            "prompt": f"tell me about the {topic}",
            "response_a": f"a clear and helpful answer about the {topic}",
            "response_b": f"a rude and wrong answer about the {topic}",
        }
        for topic in TOPICS
    ]
    import_file(project, write_jsonl(tmp_path / "pairs.jsonl", rows))
    lease = client_for(annotator).post(f"/api/projects/{project.slug}/next").json()
    done = 0
    while lease:
        side = "left" if "clear" in lease["left"]["text"] else "right"
        other = "right" if side == "left" else "left"
        body = {
            "choice": side,
            "strength": 1 + done % 3,
            "ratings": {side: 5, other: 1},
            "client_id": f"trainers-{done}",
        }
        url = f"/api/assignments/{lease['assignment']}/judgement?next=1"
        response = client_for(annotator).post(url, body, format="json")
        assert response.status_code == 201, response.json()
        lease = response.json()["next"]
        done += 1
    assert done == len(TOPICS)
    return project


def _export_file(admin: Any, project: Project, tmp_path: Path, fmt: str, file: str) -> Path:
    url = f"/api/projects/{project.slug}/export"
    response = client_for(admin).get(url, {"format": fmt, "file": file})
    assert response.status_code == 200, response.content
    path = tmp_path / f"{fmt}.{file}"
    path.write_bytes(streamed(response))
    return path


def _load(path: Path, cache: Path) -> Any:
    """The export as `datasets` loads a local file: the json or parquet builder."""
    from datasets import load_dataset

    builder = "json" if path.suffix == ".jsonl" else "parquet"
    return load_dataset(builder, data_files=str(path), split="train", cache_dir=str(cache))


def _strength_of(project: Project) -> dict[str, int]:
    """Each prompt's recorded strength."""
    from annotate.models import Judgement

    votes = Judgement.objects.filter(pair__project=project)
    return {j.pair.prompt.messages[-1]["content"]: j.strength for j in votes.select_related("pair")}


def _has_margin_column(dataset: Any) -> bool:
    """Whether the `trl` export carries TRL's optional `margin` column."""
    return "margin" in dataset.column_names


def _tiny_llama(tmp_path: Path) -> str:
    """A random-init 2-layer Llama and its word-level tokenizer, written locally."""
    from rewards.ml.testing import build_tiny_llama

    return build_tiny_llama(tmp_path / "tiny-llama")


def _quiet(output_dir: Path) -> dict[str, Any]:
    """Trainer settings shared by both runs: a few CPU steps, nothing saved or reported."""
    return {
        "output_dir": str(output_dir),
        "per_device_train_batch_size": 4,
        "max_steps": STEPS,
        "max_length": 64,
        "use_cpu": True,
        "gradient_checkpointing": False,
        "save_strategy": "no",
        "report_to": [],
        "logging_steps": 1,
        "disable_tqdm": True,
        "seed": 0,
    }


def _losses(trainer: Any) -> list[float]:
    return [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]


def test_reward_trainer_trains_on_the_trl_export_with_its_margin(
    admin: Any, annotator: Any, tmp_path: Path
) -> None:
    import torch
    from transformers import AutoTokenizer, LlamaForSequenceClassification
    from trl import RewardConfig, RewardTrainer

    # given a project whose judgements record a graded strength, exported as trl
    project = _project(admin, annotator, tmp_path)
    strength = _strength_of(project)
    for file in ("jsonl", "parquet"):
        dataset = _load(_export_file(admin, project, tmp_path, "trl", file), tmp_path / "cache")
        # then it loads with TRL's explicit-prompt preference columns and the margin
        assert {"prompt", "chosen", "rejected"} <= set(dataset.column_names)
        assert len(dataset) == len(TOPICS)
        assert all("clear" in row["chosen"] for row in dataset)
        assert _has_margin_column(dataset), "no margin, though strength is recorded"
        margins = {row["prompt"]: row["margin"] for row in dataset}
        assert all(isinstance(m, float) and math.isfinite(m) and m >= 0 for m in margins.values())
        by_strength = {s: {margins[p] for p in strength if strength[p] == s} for s in (1, 2, 3)}
        assert (
            max(by_strength[1]) < min(by_strength[2]) <= max(by_strength[2]) < min(by_strength[3])
        ), "a stronger preference must give a larger margin"
    # when RewardTrainer trains a tiny sequence-classification model on the loaded file
    path = _tiny_llama(tmp_path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = LlamaForSequenceClassification.from_pretrained(path, num_labels=1)
    trainer = RewardTrainer(
        model=model,
        args=RewardConfig(**_quiet(tmp_path / "rm")),
        train_dataset=dataset,
        processing_class=tokenizer,
    )
    batch = next(iter(trainer.get_train_dataloader()))
    with torch.no_grad():
        with_margin = float(trainer.compute_loss(trainer.model, batch))
        without = {k: v for k, v in batch.items() if k != "margin"}
        plain = float(trainer.compute_loss(trainer.model, without))
    result = trainer.train()
    # then the margin reaches the loss, and the steps ran with a finite loss
    assert "margin" in batch and bool((batch["margin"] > 0).any())
    assert with_margin > plain  # -log sigmoid(r_chosen - r_rejected - margin) grows with margin
    assert result.global_step == STEPS
    assert len(_losses(trainer)) == STEPS
    assert all(math.isfinite(loss) for loss in _losses(trainer))


def test_kto_trainer_accepts_and_trains_on_the_kto_export(
    admin: Any, annotator: Any, tmp_path: Path
) -> None:
    from datasets import Value
    from transformers import AutoTokenizer, LlamaForCausalLM
    from trl import KTOConfig, KTOTrainer

    # given a project whose responses are rated, exported as kto
    project = _project(admin, annotator, tmp_path)
    for file in ("jsonl", "parquet"):
        dataset = _load(_export_file(admin, project, tmp_path, "kto", file), tmp_path / "cache")
        # then it has the unpaired preference columns TRL's KTO docs give, with a boolean label
        assert dataset.column_names == ["prompt", "completion", "label"]
        assert dataset.features["prompt"] == Value("string")
        assert dataset.features["completion"] == Value("string")
        assert dataset.features["label"] == Value("bool")
        assert len(dataset) == 2 * len(TOPICS)
        assert all(row["label"] == ("clear" in row["completion"]) for row in dataset)
    # when KTOTrainer prepares it and trains a tiny causal LM against a reference copy
    path = _tiny_llama(tmp_path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    trainer = KTOTrainer(
        model=LlamaForCausalLM.from_pretrained(path),
        ref_model=LlamaForCausalLM.from_pretrained(path),
        args=KTOConfig(**_quiet(tmp_path / "kto")),
        train_dataset=dataset,
        processing_class=tokenizer,
    )
    prepared: Any = trainer.train_dataset  # a datasets.Dataset after its preparation
    result = trainer.train()
    # then every row is tokenized with its label kept, and the steps ran with a finite loss
    assert {"prompt_ids", "completion_ids", "label"} <= set(prepared.column_names)
    assert len(prepared) == 2 * len(TOPICS)
    assert all(len(row["completion_ids"]) > 0 for row in prepared)
    assert sorted(prepared["label"]) == sorted(dataset["label"])
    assert result.global_step == STEPS
    assert all(math.isfinite(loss) for loss in _losses(trainer))
