"""Finetune mode: the backbone trains too (in full or through LoRA), under K heads.

The ensemble is K heads on one shared backbone (or one shared adapter). Members stay diverse
because each head starts from its own random init and sees its own bootstrap resample of the
pairs (Poisson-like counts per pair and head, `pairs.bootstrap_counts`); the shared weights
learn from the sum of the members' losses. Several processes split every batch (DDP).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from rewards.ml.backbone import Backbone, Progress, load_backbone, pool_hidden
from rewards.ml.config import DEFAULT_LR, TrainConfig
from rewards.ml.data import PreferencePair, length_bucketed_batches
from rewards.ml.distributed import Ranks, current_ranks
from rewards.ml.heads import HeadEnsemble, bradley_terry_loss, extra_features
from rewards.ml.lora import apply_lora, is_lora
from rewards.ml.pairs import PairTensors, bootstrap_counts, pair_tensors, unique_rows
from rewards.ml.score import RewardScorer, autocast_for
from rewards.ml.speed import non_embedding_parameters, throughput

Encoded = tuple[list[int], int]


class RewardNet(torch.nn.Module):
    """Backbone and heads as one module, so DDP averages every trainable weight's gradient."""

    def __init__(self, backbone: Backbone, heads: HeadEnsemble) -> None:
        super().__init__()
        self.model = backbone.model
        self.heads = heads
        self.pooling = backbone.pooling

    def forward(
        self, input_ids: torch.Tensor, attention: torch.Tensor, extra: torch.Tensor
    ) -> torch.Tensor:
        """[n, K] rewards for padded inputs."""
        with autocast_for(input_ids.device):
            pooled = pool_hidden(self.model, input_ids, attention, self.pooling).float()
        out: torch.Tensor = self.heads(pooled, extra)
        return out


@dataclass
class Loop:
    """What one training run carries through its steps."""

    net: torch.nn.Module
    module: torch.nn.Module
    scorer: RewardScorer
    encoded: list[Encoded]
    boot: torch.Tensor
    ranks: Ranks
    tokens: int = 0


def encode_rows(
    backbone: Backbone, pairs: Sequence[PreferencePair]
) -> tuple[dict[tuple[str, str], int], list[Encoded]]:
    """Tokenize each unique (prompt, response) once; returns the row index and the encodings."""
    rows, items = unique_rows(pairs)
    return rows, [backbone.formatter.encode(prompt, text) for prompt, text in items]


def build_heads(config: TrainConfig, backbone: Backbone, encoded: list[Encoded]) -> HeadEnsemble:
    """K fresh heads; only the length feature is standardized (the backbone's output moves)."""
    lengths = np.array([n for _, n in encoded])
    extra = extra_features(lengths, config.length_feature)
    heads = HeadEnsemble(backbone.hidden_size, config.members, config.head_hidden, extra.shape[1])
    heads.fit_scaler(torch.zeros(2, backbone.hidden_size), extra)
    heads.std.fill_(1.0)
    return heads.to(backbone.device)


def make_optimizer(
    config: TrainConfig, backbone: Backbone, heads: HeadEnsemble
) -> torch.optim.Optimizer:
    """AdamW without decay on biases and norms (BERT practice); fresh heads get a larger step."""
    decay: list[torch.nn.Parameter] = []
    no_decay: list[torch.nn.Parameter] = []
    for name, param in backbone.model.named_parameters():
        if param.requires_grad:
            (no_decay if param.ndim < 2 or "norm" in name.lower() else decay).append(param)
    wd, lr = config.resolved_weight_decay, config.resolved_lr
    groups = [
        {"params": decay, "weight_decay": wd, "lr": lr},
        {"params": no_decay, "weight_decay": 0.0, "lr": lr},
        # Randomly initialised heads learn far too slowly at a pre-trained model's rate.
        {
            "params": list(heads.parameters()),
            "weight_decay": wd,
            "lr": max(lr, DEFAULT_LR["heads"]),
        },
    ]
    return torch.optim.AdamW([g for g in groups if g["params"]])


def warmup_cosine(
    optimizer: torch.optim.Optimizer, total: int, warmup_ratio: float
) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warmup to the peak rate, then cosine decay to zero."""
    warmup = max(1, int(total * warmup_ratio))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def batch_loss(loop: Loop, net: torch.nn.Module, pairs: PairTensors, batch: list[int]) -> Any:
    """This process's share of one batch's loss; every response is encoded once.

    The loss is divided by the whole batch's weight (times the process count), so DDP's
    gradient average equals the one-process gradient of the same batch.
    """
    index = torch.tensor(batch)
    weight = loop.boot[index] * pairs.weight[index].unsqueeze(-1)
    total = weight.sum() / loop.ranks.world
    share = batch[loop.ranks.rank :: loop.ranks.world]
    scale = 1.0
    if not share:  # fewer pairs than processes: take part in the all-reduce with nothing
        share, scale = batch[:1], 0.0
    index = torch.tensor(share)
    ia, ib = pairs.a[index], pairs.b[index]
    unique, inverse = torch.cat([ia, ib]).unique(return_inverse=True)
    rows = [loop.encoded[i] for i in unique.tolist()]
    backbone = loop.scorer.backbone
    input_ids, attention = backbone.tensors([ids for ids, _ in rows])
    extra = extra_features(np.array([n for _, n in rows]), loop.scorer.heads.n_extra > 0)
    rewards = net(input_ids, attention, extra.to(backbone.device))
    loop.tokens += int(attention.sum())
    diff = rewards[inverse[: len(share)]] - rewards[inverse[len(share) :]]
    device = diff.device
    w = (loop.boot[index] * pairs.weight[index].unsqueeze(-1)).to(device) * scale
    target, margin = pairs.target[index].to(device), pairs.margin[index].to(device)
    return bradley_terry_loss(diff, target, margin, w, total.to(device))


@torch.no_grad()
def stop_loss(loop: Loop, pairs: PairTensors) -> float:
    """Mean member loss on the early-stopping pairs (all weights 1), on every process alike."""
    loop.net.eval()
    ones = torch.ones(len(pairs), loop.scorer.members)
    one_rank = Loop(loop.module, loop.module, loop.scorer, loop.encoded, ones, Ranks())
    losses = [
        float(batch_loss(one_rank, one_rank.net, pairs, list(range(s, min(s + 32, len(pairs))))))
        * min(32, len(pairs) - s)
        for s in range(0, len(pairs), 32)
    ]
    loop.net.train()
    return sum(losses) / max(len(pairs), 1)


def epoch_batches(
    train: PairTensors, encoded: list[Encoded], config: TrainConfig, epoch: int, world: int
) -> list[list[int]]:
    """This epoch's batches: similar lengths together, pairs of one prompt together.

    `max_tokens_per_batch` is per device, so a batch of `world` processes holds that many
    times the tokens.
    """
    lengths = [
        max(len(encoded[a][0]), len(encoded[b][0]))
        for a, b in zip(train.a.tolist(), train.b.tolist(), strict=True)
    ]
    budget = config.max_tokens_per_batch
    return list(
        length_bucketed_batches(
            lengths,
            config.resolved_batch_size,
            seed=config.seed * 1000 + epoch,
            groups=train.group.tolist(),
            max_tokens=budget * world if budget else None,
        )
    )


def run_epochs(
    loop: Loop,
    splits: tuple[PairTensors, PairTensors | None],
    config: TrainConfig,
    progress: Progress | None,
) -> dict[str, Any]:
    """The training loop: accumulate, clip, step, schedule; keep the best epoch's weights."""
    train, stop = splits
    world = loop.ranks.world
    epochs = [
        epoch_batches(train, loop.encoded, config, e, world) for e in range(config.resolved_epochs)
    ]
    total = sum(math.ceil(len(b) / config.grad_accum) for b in epochs)
    scorer = loop.scorer
    optimizer = make_optimizer(config, scorer.backbone, scorer.heads)
    schedule = warmup_cosine(optimizer, total, config.warmup_ratio)
    params = [p for group in optimizer.param_groups for p in group["params"]]
    best, best_state, step, curve = math.inf, None, 0, []
    train_seconds, started = 0.0, time.monotonic()
    for batches in epochs:
        loop.net.train()
        tick, pending = time.monotonic(), 0.0
        for i, batch in enumerate(batches):
            last = (i + 1) % config.grad_accum == 0 or i + 1 == len(batches)
            with loop.ranks.no_sync(loop.net, skip=not last):
                part = batch_loss(loop, loop.net, train, batch)
                (part / config.grad_accum).backward()
            pending += float(part.detach())
            if not last:
                continue
            torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            micro = i % config.grad_accum + 1
            curve.append(loop.ranks.mean(pending / micro))
            pending = 0.0
            if progress is not None and loop.ranks.is_main:
                elapsed = train_seconds + time.monotonic() - tick
                progress(step / total, curve[-1], elapsed / step * (total - step))
        train_seconds += time.monotonic() - tick
        if stop is not None and len(stop):
            current = stop_loss(loop, stop)
            loop.ranks.reshard(loop.module)
            if current < best:
                best, best_state = current, trainable_state(scorer)
    if best_state is not None:
        load_trainable_state(scorer, best_state)
    return {
        "steps": step,
        "epochs_done": config.resolved_epochs,
        "train_loss": curve[-1] if curve else 0.0,
        "stop_loss": best if best_state is not None else None,
        "loop_seconds": time.monotonic() - started,
        "train_seconds": round(train_seconds, 3),
        "loss_curve": [round(x, 6) for x in curve],
        "throughput": throughput(
            pairs=len(train) * config.resolved_epochs,
            tokens=loop.ranks.total(loop.tokens),
            seconds=train_seconds,
            n_params=non_embedding_parameters(scorer.backbone.model),
            lora=is_lora(scorer.backbone.model),
            device=scorer.backbone.device,
            processes=world,
        ),
    }


def trainable_state(scorer: RewardScorer) -> dict[str, dict[str, torch.Tensor]]:
    """Copies (on CPU) of the weights that train: the adapter or the backbone, and the heads."""
    backbone = {
        name: param.detach().to("cpu", copy=True)
        for name, param in scorer.backbone.model.named_parameters()
        if param.requires_grad
    }
    heads = {k: v.detach().to("cpu", copy=True) for k, v in scorer.heads.state_dict().items()}
    return {"backbone": backbone, "heads": heads}


def load_trainable_state(scorer: RewardScorer, state: dict[str, dict[str, torch.Tensor]]) -> None:
    """Put weights saved by `trainable_state` back."""
    scorer.backbone.model.load_state_dict(state["backbone"], strict=False)
    scorer.heads.load_state_dict(state["heads"])


def prepare_backbone(config: TrainConfig) -> Backbone:
    """Load the backbone for training: dropout off, checkpointing on if asked, LoRA if ranked."""
    backbone = load_backbone(
        config.backbone,
        max_length=config.max_length,
        pooling=config.pooling,
        device=config.device,
        trainable=True,
    )
    if config.disable_dropout:
        for module in backbone.model.modules():
            if isinstance(module, torch.nn.Dropout):
                module.p = 0.0
    if config.gradient_checkpointing:
        # Non-reentrant checkpointing also works when the embeddings are frozen (LoRA).
        backbone.model.gradient_checkpointing_enable(
            gradient_checkpointing_kwargs={"use_reentrant": False}
        )
    rank = config.resolved_lora_rank(backbone.pooling)
    if rank:
        backbone.model = apply_lora(backbone.model, config, rank)
    else:
        # A full fine-tune keeps float32 master weights (bf16 autocast still runs the matmuls
        # in bf16 on a GPU): AdamW's small steps are lost when added to bf16 weights, so a
        # folder stored in bf16, as most decoders are, would barely train.
        backbone.model.float()
    return backbone


def train_finetune(
    config: TrainConfig,
    train_pairs: Sequence[PreferencePair],
    stop_pairs: Sequence[PreferencePair],
    progress: Progress | None = None,
) -> tuple[RewardScorer, dict[str, Any]]:
    """Fine-tune the backbone with K heads; returns the scorer (in eval mode) and fit details."""
    backbone = prepare_backbone(config)
    ranks = current_ranks(backbone.device, sharding=config.sharding)
    rows, encoded = encode_rows(backbone, [*train_pairs, *stop_pairs])
    torch.manual_seed(config.seed)
    heads = build_heads(config, backbone, encoded)
    scorer = RewardScorer("finetune", backbone, heads, None)
    train = pair_tensors(train_pairs, rows, config.margin_per_strength)
    stop = pair_tensors(stop_pairs, rows, config.margin_per_strength) if stop_pairs else None
    boot = bootstrap_counts(len(train), config.members, config.seed)
    module = RewardNet(backbone, heads)
    loop = Loop(ranks.wrap(module), module, scorer, encoded, boot, ranks)
    info = run_epochs(loop, (train, stop), config, progress)
    info["processes"] = ranks.world
    info["rank"] = ranks.rank
    info["sharding"] = "fsdp" if ranks.sharded else "ddp"
    if ranks.sharded:
        # Every process sends its shards; the main one scores and writes with a plain copy.
        scorer = gathered_scorer(config, module, encoded) or scorer
    scorer.backbone.model.eval()
    scorer.heads.eval()
    return scorer, info


def gathered_scorer(
    config: TrainConfig, module: torch.nn.Module, encoded: list[Encoded]
) -> RewardScorer | None:
    """After FSDP training, on every process: the main one gets a plain copy, the others None.

    The main process evaluates, writes the checkpoint and scores alone, which collectives
    over sharded weights would not allow; the others return without using a scorer.
    """
    from torch.distributed import get_rank
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    options = StateDictOptions(full_state_dict=True, cpu_offload=True)
    full = get_model_state_dict(module, options=options)  # gathered on the main process only
    if get_rank() != 0:
        return None
    backbone = prepare_backbone(config)
    heads = build_heads(config, backbone, encoded)
    RewardNet(backbone, heads).load_state_dict(full)
    return RewardScorer("finetune", backbone, heads, None)
