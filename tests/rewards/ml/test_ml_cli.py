"""`python -m rewards.ml train|eval|score` on JSONL files."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from rewards.ml.__main__ import build_parser, main
from rewards.ml.config import TrainConfig
from rewards.ml.data import read_pairs_jsonl
from tests.rewards.ml.synthetic import synthetic_pairs


def write_pairs(path: Path, n: int, seed: int) -> Path:
    """Synthetic pairs in the shared JSONL format."""
    rows = [
        {"id": p.id, "prompt": p.prompt, "response_a": p.a, "response_b": p.b, "label": p.label}
        for p in synthetic_pairs(n, seed=seed)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_it_trains_evaluates_and_scores_from_the_command_line(
    tiny_backbone: str, cache_dir: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # given train and test files
    train_file = write_pairs(tmp_path / "train.jsonl", 120, seed=12)
    test_file = write_pairs(tmp_path / "test.jsonl", 40, seed=13)
    common = ["--cache-dir", cache_dir, "--device", "cpu"]
    model = str(tmp_path / "model")

    # when trained, evaluated and scored
    train_args = ["--data", str(train_file), "--out", model, "--backbone", tiny_backbone]
    main(["train", *train_args, "--members", "3", "--max-length", "32", *common])
    capsys.readouterr()
    main(["eval", "--model", model, "--data", str(test_file), *common])
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    scores_file = tmp_path / "scores.jsonl"
    score_args = ["--data", str(test_file), "--out", str(scores_file)]
    main(["score", "--model", model, *score_args, "--acquisition", "uncertainty", *common])

    # then eval prints the metrics last and score writes one row per pair
    assert set(metrics) == {"accuracy", "log_loss", "ece", "n"}
    assert metrics["n"] == 40 and metrics["accuracy"] > 0.75
    rows = [json.loads(line) for line in scores_file.read_text().splitlines()]
    assert [r["id"] for r in rows] == [f"s13-{i}" for i in range(40)]
    assert set(rows[0]) == {"id", "p_a", "std", "priority"}
    assert all(0 <= r["p_a"] <= 1 for r in rows)


def test_it_rejects_an_unknown_mode(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["train", "--data", "x", "--out", "y", "--mode", "lora"])
    assert "invalid choice" in capsys.readouterr().err


def test_its_training_options_are_the_train_config_fields_with_their_defaults() -> None:
    # given every TrainConfig field but the two options all subcommands share
    fields = [f for f in dataclasses.fields(TrainConfig) if f.name not in ("cache_dir", "device")]

    # when the train command is parsed with no options, then with a few
    plain = build_parser().parse_args(["train", "--data", "d", "--out", "o"])
    tuned = build_parser().parse_args(
        ["train", "--data", "d", "--out", "o", "--head-hidden", "16", "--no-length-feature"]
    )

    # then each field has a flag whose default is the dataclass default
    assert {f.name: getattr(plain, f.name) for f in fields} == {f.name: f.default for f in fields}
    assert (tuned.head_hidden, tuned.length_feature) == (16, False)


def test_it_refuses_unlabelled_rows_for_training_and_names_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # given a file whose second row has no label
    path = tmp_path / "pairs.jsonl"
    rows = [
        {"prompt": "p", "response_a": "x", "response_b": "y", "label": "a"},
        {"prompt": "q", "response_a": "x", "response_b": "y"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))

    # when it is used for training
    code = main(["train", "--data", str(path), "--out", str(tmp_path / "m")])

    # then nothing trains and the error says where the label is missing
    assert code == 2
    assert "line 2: no label" in capsys.readouterr().err
    assert [p.label for p in read_pairs_jsonl(path, labelled=False)] == ["a", "tie"]


def test_a_finetune_without_gpus_trains_with_one_process_per_visible_gpu(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # given a machine that shows two GPUs, and both training paths replaced by recorders
    import torch

    from rewards.ml import __main__ as cli
    from rewards.ml import train as train_module
    from rewards.ml.launch import processes_for

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    launched: list[str] = []
    done = SimpleNamespace(out_dir=tmp_path, seconds=0.0, metrics={}, baseline={})

    def several(config: TrainConfig, *args: object) -> SimpleNamespace:
        launched.append(f"{processes_for(config)} processes")
        return done

    def one(*args: object, **kwargs: object) -> SimpleNamespace:
        launched.append("this process")
        return done

    monkeypatch.setattr(cli, "train_processes", several)
    monkeypatch.setattr(train_module, "train", one)
    data = str(write_pairs(tmp_path / "train.jsonl", 12, seed=1))
    finetune = ["train", "--data", data, "--out", str(tmp_path / "m"), "--mode", "finetune"]

    # when a fine-tune starts with no --gpus, then with --gpus 1, then on the CPU
    main(finetune)
    main([*finetune, "--gpus", "1"])
    main([*finetune, "--device", "cpu"])

    # then only the first trains with one process per visible GPU
    assert launched == ["2 processes", "this process", "this process"]
    capsys.readouterr()
