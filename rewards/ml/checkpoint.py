"""Self-describing checkpoints: everything needed to rebuild a scorer sits in one folder."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from safetensors.torch import load_file, save_file

from rewards.ml.backbone import load_backbone
from rewards.ml.cache import EmbeddingCache
from rewards.ml.config import TrainConfig
from rewards.ml.heads import HeadEnsemble
from rewards.ml.lora import describe_lora, is_lora, load_adapter, merged, save_adapter
from rewards.ml.score import RewardScorer

FORMAT = "prefloop-reward-model"
FORMAT_VERSION = 1
META_FILE = "model.json"
HEADS_FILE = "heads.safetensors"
BACKBONE_DIR = "backbone"


def describe(scorer: RewardScorer, config: TrainConfig, **extra: Any) -> dict[str, Any]:
    """The metadata block written next to the weights (`lora`: the adapter, or None)."""
    model = scorer.backbone.model
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "mode": scorer.mode,
        "seed": config.seed,
        "config": config.to_dict(),
        "backbone": scorer.backbone.describe(),
        "heads": scorer.heads.config(),
        "lora": describe_lora(model) if is_lora(model) else None,
        **extra,
    }


def write_checkpoint(scorer: RewardScorer, out_dir: str | Path) -> Path:
    """Write weights and `scorer.meta`.

    A LoRA run writes its adapter only (the base model is named by path and hash in the
    metadata); a full fine-tune saves the whole backbone beside the heads.
    """
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in scorer.heads.state_dict().items()}
    save_file(state, str(folder / HEADS_FILE))
    if scorer.mode == "finetune" and is_lora(scorer.backbone.model):
        save_adapter(scorer.backbone.model, folder)
    elif scorer.mode == "finetune":
        scorer.backbone.model.save_pretrained(folder / BACKBONE_DIR)
        scorer.backbone.formatter.tokenizer.save_pretrained(folder / BACKBONE_DIR)
    text = json.dumps(scorer.meta, indent=2, ensure_ascii=False, default=float)
    (folder / META_FILE).write_text(text + "\n", encoding="utf-8")
    return folder


def read_metadata(folder: str | Path) -> dict[str, Any]:
    """The metadata block of the checkpoint in `folder` (what `describe` wrote).

    The one reader of a checkpoint's description; ValueError when `folder` holds none.
    """
    path = Path(folder) / META_FILE
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError) as exc:
        raise ValueError(f"{folder} holds no {FORMAT} checkpoint") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"{folder} is not a {FORMAT} checkpoint")
    return meta


def read_checkpoint(
    folder: Path, *, cache_dir: str | None = None, device: str = "auto"
) -> RewardScorer:
    """Rebuild the scorer written by `write_checkpoint`."""
    meta = read_metadata(folder)
    config = TrainConfig.from_dict(meta["config"])
    described = meta["backbone"]
    adapted = meta.get("lora") is not None
    finetuned = meta["mode"] == "finetune" and not adapted
    name = str(folder / BACKBONE_DIR) if finetuned else described["name"]
    backbone = load_backbone(
        name,
        max_length=described["formatting"]["max_length"],
        pooling=described["pooling"],
        device=device,
        reuse=not (finetuned or adapted),
    )
    if not finetuned and backbone.fingerprint != described["fingerprint"]:
        raise ValueError(f"backbone {name!r} changed since {folder} was trained; retrain")
    if adapted:
        backbone.model = load_adapter(backbone.model, folder)
    heads = HeadEnsemble(**meta["heads"])
    heads.load_state_dict(load_file(str(folder / HEADS_FILE)))
    heads.to(backbone.device).eval()
    cache = (
        None
        if finetuned or adapted
        else EmbeddingCache(cache_dir or config.cache_dir, backbone.namespace)
    )
    return RewardScorer(meta["mode"], backbone, heads, cache, meta)


def export_merged(folder: str | Path, out_dir: str | Path) -> Path:
    """Write a plain checkpoint: the adapter folded into a full backbone folder, same heads.

    `out_dir/backbone` is then an ordinary transformers model (AutoModel.from_pretrained) and
    `out_dir` loads like any full fine-tune; rewards match the adapter checkpoint's.
    """
    if read_metadata(folder).get("lora") is None:
        raise ValueError(f"{folder} holds no LoRA adapter; its backbone is already plain")
    scorer = read_checkpoint(Path(folder), device="cpu")
    scorer.backbone.model = merged(scorer.backbone.model)
    meta = dict(scorer.meta)
    meta["lora"] = None
    meta["merged_from"] = {"lora": scorer.meta.get("lora"), "base": meta["backbone"]["name"]}
    scorer.meta = meta
    scorer.mode = "finetune"
    return write_checkpoint(scorer, out_dir)
