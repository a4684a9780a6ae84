"""Training configuration shared by the CLI, the Celery path and the benchmarks."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

MODES = ("heads", "finetune")
# How several processes hold the model: ddp (a whole copy each) or fsdp (FSDP2 shards).
SHARDINGS = ("ddp", "fsdp")

# Epoch ceilings used when `epochs` is None: heads stop early long before 200 passes over
# cached features. TRL's RewardConfig fine-tunes for 1 epoch; we take 2 because a project here
# has hundreds to thousands of judgements, so one pass is only a few dozen optimizer steps.
DEFAULT_EPOCHS = {"heads": 200, "finetune": 2}
# Finetune: TRL RewardConfig's default; 3e-5 barely moved a 1-epoch, 128-pair CPU run.
DEFAULT_LR = {"heads": 1e-3, "finetune": 1e-4}
DEFAULT_BATCH_SIZE = {"heads": 256, "finetune": 16}
# LoRA targets for Llama, Qwen2, Mistral and Gemma blocks: every attention and MLP projection
# (QLoRA, Dettmers et al. 2023, found adapting all linear layers needed to match full tuning).
LLAMA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
DEFAULT_LORA_RANK = 16


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run; stored verbatim in the checkpoint."""

    # Parameters that control the model
    mode: str = field(default="heads", metadata={"help": "heads (frozen backbone) or finetune."})
    backbone: str | None = field(
        default=None,
        metadata={"help": "Local path or hub name; None means the packaged all-MiniLM-L6-v2."},
    )
    pooling: str = field(
        default="auto",
        metadata={"help": "mean, last or auto (mean for masked-LM encoders, last for decoders)."},
    )
    members: int = field(default=8, metadata={"help": "Ensemble size K (heads on one backbone)."})
    head_hidden: int = field(
        default=0,
        metadata={
            "help": "Hidden width of each head; 0 is linear (MLP heads over frozen MiniLM "
            "embeddings scored below linear ones on a few thousand pairs)."
        },
    )
    length_feature: bool = field(
        default=True,
        metadata={
            "help": "Add log(1 + response tokens) as a feature (on the Auto-J and PandaLM "
            "sets, response length alone predicts the preference better than frozen embeddings)."
        },
    )

    # Parameters that control the data preprocessing
    max_length: int = field(default=256, metadata={"help": "Tokens per prompt+response input."})
    val_fraction: float = field(
        default=0.1, metadata={"help": "Share of prompts held out for early stopping and metrics."}
    )
    cache_dir: str | None = field(
        default=None,
        metadata={"help": "Embedding cache; None means $REWARDS_CACHE_DIR or ~/.cache/prefloop."},
    )

    # Parameters that control the training
    epochs: int | None = field(
        default=None, metadata={"help": "Epoch ceiling; None means DEFAULT_EPOCHS[mode]."}
    )
    lr: float | None = field(
        default=None, metadata={"help": "Peak learning rate; None means DEFAULT_LR[mode]."}
    )
    weight_decay: float | None = field(
        default=None,
        metadata={
            "help": "AdamW decoupled decay; None means 50 for heads (decay <= 1 overfit 384-d "
            "embeddings; of 10/30/50/100/300, 50 scored best pooled over the Auto-J, PandaLM "
            "and HH-RLHF sets in bench/rm_quality.py; keep lr x decay < 1) and 0.01 for "
            "finetune (BERT fine-tuning default)."
        },
    )
    batch_size: int | None = field(
        default=None, metadata={"help": "Pairs per step; None means DEFAULT_BATCH_SIZE[mode]."}
    )
    grad_accum: int = field(default=1, metadata={"help": "Finetune: steps per optimizer update."})
    warmup_ratio: float = field(
        default=0.1, metadata={"help": "Finetune: linear warmup share before cosine decay."}
    )
    max_grad_norm: float = field(default=1.0, metadata={"help": "Finetune: gradient clipping."})
    gradient_checkpointing: bool = field(
        default=False, metadata={"help": "Finetune: trade compute for activation memory."}
    )
    disable_dropout: bool = field(
        default=True,
        metadata={
            "help": "Finetune: switch the backbone's dropout off, as TRL's RewardConfig does by "
            "default; it also saves time on CPU."
        },
    )
    patience: int = field(
        default=10, metadata={"help": "Heads: epochs without validation gain before stopping."}
    )
    margin_per_strength: float = field(
        default=0.0,
        metadata={
            "help": "Reward margin per strength point (1..3), as in Llama 2's margin loss; "
            "0 disables it."
        },
    )
    max_tokens_per_batch: int | None = field(
        default=None,
        metadata={
            "help": "Finetune: cut batches by padded tokens per device instead of by pairs "
            "(two responses per pair at the batch's longest length); None uses batch_size."
        },
    )

    # Parameters that control LoRA (finetune mode; PEFT)
    lora_rank: int | None = field(
        default=None,
        metadata={
            "help": "LoRA rank; 0 fine-tunes every weight. None means 16 for decoders (last-token "
            "pooling) and 0 for encoders (the packaged MiniLM is small enough to train in full)."
        },
    )
    lora_alpha: int | None = field(
        default=None,
        metadata={"help": "LoRA scaling numerator; None means 2 x rank (a common choice)."},
    )
    lora_dropout: float = field(
        default=0.0,
        metadata={
            "help": "Dropout on the LoRA input; 0 matches disable_dropout (TRL's reward default) "
            "and keeps several-process runs equal to one-process runs."
        },
    )
    lora_targets: str | None = field(
        default=None,
        metadata={
            "help": "Comma-separated module names to adapt; None means the Llama-style "
            f"projections ({','.join(LLAMA_TARGETS)}) when the backbone has them, else PEFT's "
            "default for the architecture."
        },
    )
    gpus: int | None = field(
        default=None,
        metadata={
            "help": "Processes to train with (DDP through accelerate, one per GPU; gloo on CPU); "
            "None means every visible GPU, or 1 without one."
        },
    )
    sharding: str = field(
        default="ddp",
        metadata={
            "help": "With several processes: ddp keeps a whole copy of the model, gradients and "
            "optimizer state in each; fsdp (torch FSDP2) shards them over the processes, for "
            "backbones whose training does not fit one GPU (the trained model must still fit "
            "one for evaluation and scoring)."
        },
    )

    seed: int = field(default=0, metadata={"help": "Seeds torch, numpy and the bootstrap."})
    device: str = field(default="auto", metadata={"help": "auto (cuda when present), cpu, cuda."})

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {self.mode!r}")
        if self.sharding not in SHARDINGS:
            raise ValueError(f"sharding must be one of {SHARDINGS}, not {self.sharding!r}")
        if self.members < 1:
            raise ValueError("members must be at least 1")
        # Zero would crash the run later: heads reports its last epoch, finetune divides by these.
        for name in ("epochs", "batch_size", "grad_accum", "max_tokens_per_batch", "gpus"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1")

        if self.lora_rank is not None and self.lora_rank < 0:
            raise ValueError("lora_rank must be 0 (full fine-tune) or more")
        if not 0.0 <= self.lora_dropout < 1.0:
            raise ValueError("lora_dropout must be in [0, 1)")

    def resolved_lora_rank(self, pooling: str) -> int:
        """LoRA rank after applying the default for the backbone's pooling (last: a decoder)."""
        if self.lora_rank is not None:
            return self.lora_rank
        return DEFAULT_LORA_RANK if pooling == "last" else 0

    @property
    def target_modules(self) -> list[str] | None:
        """lora_targets as a list; None leaves the choice to the backbone (see lora_targets)."""
        if not self.lora_targets:
            return None
        return [name.strip() for name in self.lora_targets.split(",") if name.strip()]

    @property
    def resolved_epochs(self) -> int:
        """Epoch ceiling after applying the mode default."""
        return self.epochs if self.epochs is not None else DEFAULT_EPOCHS[self.mode]

    @property
    def resolved_lr(self) -> float:
        """Learning rate after applying the mode default."""
        return self.lr if self.lr is not None else DEFAULT_LR[self.mode]

    @property
    def resolved_weight_decay(self) -> float:
        """Weight decay after applying the mode default."""
        if self.weight_decay is not None:
            return self.weight_decay
        return 50.0 if self.mode == "heads" else 0.01

    @property
    def resolved_batch_size(self) -> int:
        """Pairs per step after applying the mode default."""
        return self.batch_size if self.batch_size is not None else DEFAULT_BATCH_SIZE[self.mode]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict of the fields."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Rebuild from `to_dict` output, ignoring keys this version does not know."""
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})
