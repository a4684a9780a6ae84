"""Decoder backbones with LoRA: pad and chat handling, adapter checkpoints, merged export."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from transformers import AutoModel

from rewards.ml.backbone import load_backbone
from rewards.ml.checkpoint import describe, export_merged, read_metadata, write_checkpoint
from rewards.ml.config import TrainConfig
from rewards.ml.finetune import prepare_backbone
from rewards.ml.score import load, score
from rewards.ml.train import fit, train
from tests.rewards.ml.synthetic import synthetic_pairs


def llama_config(backbone: str, **overrides: Any) -> TrainConfig:
    values: dict[str, Any] = {
        "mode": "finetune",
        "backbone": backbone,
        "max_length": 32,
        "members": 4,
        "device": "cpu",
        "epochs": 3,
        "batch_size": 8,
        "lr": 3e-3,
        "warmup_ratio": 0.0,
        "val_fraction": 0.2,
    }
    return TrainConfig(**{**values, **overrides})


def test_it_pads_with_eos_pools_the_last_token_and_uses_the_chat_template(
    tiny_llama: str,
) -> None:
    # given a Llama folder whose tokenizer has no pad token
    backbone = load_backbone(tiny_llama, max_length=12, reuse=False)
    tokenizer = backbone.formatter.tokenizer

    # when a long multi-turn prompt is encoded
    prompt = [
        {"role": "user", "content": "cat " * 30},
        {"role": "assistant", "content": "dog"},
        {"role": "user", "content": "tell me why"},
    ]
    ids, n_response = backbone.formatter.encode(prompt, "good answer")

    # then padding is EOS, pooling is last-token, and the chat template lays out the turns
    assert tokenizer.pad_token == tokenizer.eos_token == "</s>"
    assert backbone.pooling == "last"
    assert backbone.formatter.template == "chat"
    # and the prompt lost its start: the last user turn and the response survive
    text = tokenizer.decode(ids)
    # (the template closes the response with EOS, the token the reward is read from)
    assert len(ids) == 12 and n_response == 3
    assert text.endswith("tell me why </s> <|assistant|> good answer </s>")


def test_lora_training_lowers_the_loss_on_separable_pairs(tiny_llama: str, tmp_path: Path) -> None:
    # given separable pairs and a LoRA run on the random Llama
    pairs = synthetic_pairs(64, seed=3)

    # when trained
    result = train(llama_config(tiny_llama, lora_rank=8), pairs, tmp_path / "m")

    # then only the adapter trained, the loss fell, and held-out accuracy beats chance
    curve = result.details["loss_curve"]
    assert np.mean(curve[-3:]) < 0.6 * np.mean(curve[:3])
    assert result.meta["lora"]["rank"] == 8
    assert "q_proj" in result.meta["lora"]["targets"]
    accuracy = result.metrics["accuracy"]
    assert accuracy is not None and accuracy > 0.7
    assert result.details["throughput"]["tokens_per_s"] > 0


@pytest.mark.parametrize("rank", [8, 0], ids=["lora", "full"])
def test_a_checkpoint_scores_exactly_as_the_model_that_wrote_it(
    tiny_llama: str, tmp_path: Path, rank: int
) -> None:
    # given a model just trained, in memory, and its rewards
    pairs = synthetic_pairs(40, seed=4)
    config = llama_config(tiny_llama, epochs=1, lora_rank=rank)
    trained, details = fit(config, pairs[:32], pairs[32:], None)
    trained.meta = describe(trained, config, training=details)
    items = [(p.prompt, p.a) for p in pairs[:12]]
    in_memory = score(trained, items)

    # when its checkpoint is written and loaded in a fresh scorer
    write_checkpoint(trained, tmp_path / "m")
    reloaded = score(tmp_path / "m", items)

    # then the rewards are identical; a LoRA folder names its base by path and hash
    np.testing.assert_array_equal(in_memory.per_member, reloaded.per_member)
    meta = read_metadata(tmp_path / "m")
    assert meta["backbone"]["name"] == tiny_llama
    assert len(meta["backbone"]["fingerprint"]) == 16
    if rank:
        assert not (tmp_path / "m" / "backbone").exists()
        assert (tmp_path / "m" / "adapter" / "adapter_model.safetensors").exists()
    else:
        assert (tmp_path / "m" / "backbone").is_dir()


def test_a_folder_stored_in_bf16_fine_tunes_float32_weights(
    tiny_llama: str, tmp_path: Path
) -> None:
    # given a decoder folder stored in bf16, as most released decoders are
    import shutil

    import torch
    from transformers import AutoModelForCausalLM

    folder = shutil.copytree(tiny_llama, tmp_path / "bf16")
    stored = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.bfloat16)
    stored.save_pretrained(folder)
    before = {k: v.float() for k, v in AutoModel.from_pretrained(folder).state_dict().items()}

    # when fully fine-tuned at a small learning rate
    config = llama_config(str(folder), epochs=1, lora_rank=0, lr=1e-5)
    assert all(p.dtype == torch.float32 for p in prepare_backbone(config).model.parameters())
    train(config, synthetic_pairs(40, seed=8), tmp_path / "m")

    # then nearly every weight moved (bf16 weights would round most small steps away)
    after = AutoModel.from_pretrained(tmp_path / "m" / "backbone").state_dict()
    changed = sum(int((after[k].float() != v).sum()) for k, v in before.items() if k in after)
    assert changed > 0.9 * sum(v.numel() for v in before.values())


def test_it_refuses_an_adapter_whose_base_model_changed(tiny_llama: str, tmp_path: Path) -> None:
    # given a LoRA model trained on a copy of the base
    import shutil

    from rewards.ml.testing import build_tiny_llama

    base = shutil.copytree(tiny_llama, tmp_path / "base")
    train(llama_config(str(base), epochs=1), synthetic_pairs(30, seed=5), tmp_path / "m")

    # when the base folder is rebuilt with other weights
    build_tiny_llama(base, seed=9)

    # then loading says so instead of scoring with the wrong base
    with pytest.raises(ValueError, match="changed since"):
        load(tmp_path / "m")


def test_merged_export_is_a_plain_model_with_the_same_rewards(
    tiny_llama: str, tmp_path: Path
) -> None:
    # given a LoRA model (trained enough for the adapter to matter)
    pairs = synthetic_pairs(40, seed=6)
    train(llama_config(tiny_llama, epochs=2), pairs, tmp_path / "m")
    items = [(p.prompt, p.b) for p in pairs[:10]]

    # when exported as a merged model
    export_merged(tmp_path / "m", tmp_path / "merged")

    # then its backbone is an ordinary transformers folder and the rewards agree
    AutoModel.from_pretrained(tmp_path / "merged" / "backbone", local_files_only=True)
    assert read_metadata(tmp_path / "merged")["lora"] is None
    np.testing.assert_allclose(
        score(tmp_path / "merged", items).per_member,
        score(tmp_path / "m", items).per_member,
        rtol=1e-4,
        atol=1e-5,
    )


def test_token_budget_batches_train_and_full_fine_tune_still_works(
    tiny_llama: str, tmp_path: Path
) -> None:
    # given a full fine-tune (rank 0) with batches cut by tokens
    config = llama_config(tiny_llama, epochs=1, lora_rank=0, max_tokens_per_batch=256)

    # when trained
    result = train(config, synthetic_pairs(40, seed=7), tmp_path / "m")

    # then batches hold about 256 / (2 x ~20 tokens) pairs, and the backbone is saved whole
    assert result.details["steps"] > 40 * 0.8 / 8
    assert result.meta["lora"] is None
    assert (tmp_path / "m" / "backbone").is_dir()


def test_the_cli_trains_lora_over_two_processes_and_exports_a_merged_model(
    tiny_llama: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # given pairs in a JSONL file
    from rewards.ml.__main__ import main
    from rewards.ml.launch import write_pairs

    write_pairs(tmp_path / "pairs.jsonl", synthetic_pairs(32, seed=8))
    common = ["--data", str(tmp_path / "pairs.jsonl"), "--backbone", tiny_llama]
    options = ["--mode", "finetune", "--lora-rank", "4", "--lora-alpha", "8"]
    sizes = ["--lora-targets", "q_proj,v_proj", "--max-length", "32", "--epochs", "1"]

    # when trained with --gpus 2 on CPU (two gloo processes) and exported merged
    argv = ["train", *common, "--out", str(tmp_path / "m"), *options, *sizes, "--gpus", "2"]
    assert main([*argv, "--device", "cpu", "--max-tokens-per-batch", "512"]) == 0
    assert (
        main(["export-merged", "--model", str(tmp_path / "m"), "--out", str(tmp_path / "x")]) == 0
    )

    # then the adapter holds the asked targets, and the merged folder is a plain model
    meta = read_metadata(tmp_path / "m")
    assert meta["lora"]["targets"] == ["q_proj", "v_proj"] and meta["lora"]["alpha"] == 8
    assert meta["training"]["processes"] == 2
    assert (tmp_path / "x" / "backbone" / "config.json").exists()
    assert '"backbone"' in capsys.readouterr().out
