"""LoRA through PEFT: wrap a backbone, save only the adapter, load it back, merge for export."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from rewards.ml.config import LLAMA_TARGETS, TrainConfig

ADAPTER_DIR = "adapter"


def default_targets(model: torch.nn.Module) -> list[str] | None:
    """The Llama-style projections the model has; None lets PEFT pick by architecture."""
    names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    found = [target for target in LLAMA_TARGETS if target in names]
    return found or None


def apply_lora(model: Any, config: TrainConfig, rank: int) -> Any:
    """The backbone as a PEFT model whose only trainable weights are the LoRA matrices."""
    from peft import LoraConfig, get_peft_model

    targets = config.target_modules or default_targets(model)
    lora = LoraConfig(
        r=rank,
        lora_alpha=config.lora_alpha if config.lora_alpha is not None else 2 * rank,
        lora_dropout=config.lora_dropout,
        target_modules=targets,
        bias="none",
    )
    model.requires_grad_(False)
    try:
        return get_peft_model(model, lora)
    except ValueError as exc:  # unknown target names, or an architecture PEFT has no default for
        raise ValueError(f"LoRA cannot wrap this backbone: {exc}") from exc


def describe_lora(model: Any) -> dict[str, Any]:
    """What a checkpoint records about the adapter (rank, alpha, dropout, targets)."""
    lora = model.peft_config["default"]
    return {
        "rank": int(lora.r),
        "alpha": float(lora.lora_alpha),
        "dropout": float(lora.lora_dropout),
        "targets": sorted(lora.target_modules),
        "trainable_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
    }


def is_lora(model: Any) -> bool:
    """True for a PEFT-wrapped backbone."""
    return hasattr(model, "peft_config")


def save_adapter(model: Any, folder: Path) -> None:
    """Write the adapter weights and their config only (megabytes, not the base model)."""
    model.save_pretrained(folder / ADAPTER_DIR)


def load_adapter(base: Any, folder: Path) -> Any:
    """Put a saved adapter on a freshly loaded base model, frozen, for scoring."""
    from peft import PeftModel

    model = PeftModel.from_pretrained(base, folder / ADAPTER_DIR, is_trainable=False)
    return model.eval()


def merged(model: Any) -> Any:
    """The plain transformers model with the adapter folded into its weights."""
    return model.merge_and_unload() if is_lora(model) else model
