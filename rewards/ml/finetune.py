"""Finetune mode: the backbone trains too, under K heads, with the usual fine-tuning hygiene."""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Sequence

import numpy as np
import torch

from rewards.ml.backbone import Backbone, Progress, load_backbone
from rewards.ml.config import DEFAULT_LR, TrainConfig
from rewards.ml.data import PreferencePair, length_bucketed_batches
from rewards.ml.heads import HeadEnsemble, bradley_terry_loss, extra_features
from rewards.ml.pairs import PairTensors, bootstrap_counts, pair_tensors, unique_rows
from rewards.ml.score import RewardScorer, forward_rewards

Encoded = tuple[list[int], int]


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
    return torch.optim.AdamW(groups)


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


def batch_loss(
    scorer: RewardScorer,
    encoded: list[Encoded],
    pairs: PairTensors,
    batch: list[int],
    boot: torch.Tensor,
) -> torch.Tensor:
    """Loss of one batch; every response is embedded once even if several pairs share it."""
    index = torch.tensor(batch)
    ia, ib = pairs.a[index], pairs.b[index]
    unique, inverse = torch.cat([ia, ib]).unique(return_inverse=True)
    rewards = forward_rewards(scorer, [encoded[i] for i in unique.tolist()])
    diff = rewards[inverse[: len(batch)]] - rewards[inverse[len(batch) :]]
    weight = (boot[index] * pairs.weight[index].unsqueeze(-1)).to(diff.device)
    target, margin = pairs.target[index].to(diff.device), pairs.margin[index].to(diff.device)
    return bradley_terry_loss(diff, target, margin, weight)


@torch.no_grad()
def stop_loss(scorer: RewardScorer, encoded: list[Encoded], pairs: PairTensors) -> float:
    """Mean member loss on the early-stopping pairs (all weights 1)."""
    scorer.backbone.model.eval()
    ones = torch.ones(len(pairs), scorer.members)
    losses = [
        float(batch_loss(scorer, encoded, pairs, list(range(s, min(s + 32, len(pairs)))), ones))
        * min(32, len(pairs) - s)
        for s in range(0, len(pairs), 32)
    ]
    scorer.backbone.model.train()
    return sum(losses) / max(len(pairs), 1)


def epoch_batches(
    train: PairTensors, encoded: list[Encoded], config: TrainConfig, epoch: int
) -> list[list[int]]:
    """This epoch's batches: similar lengths together, pairs of one prompt together."""
    lengths = [
        max(len(encoded[a][0]), len(encoded[b][0]))
        for a, b in zip(train.a.tolist(), train.b.tolist(), strict=True)
    ]
    seed = config.seed * 1000 + epoch
    groups = train.group.tolist()
    return list(
        length_bucketed_batches(lengths, config.resolved_batch_size, seed=seed, groups=groups)
    )


def run_epochs(
    scorer: RewardScorer,
    encoded: list[Encoded],
    splits: tuple[PairTensors, PairTensors | None],
    config: TrainConfig,
    progress: Progress | None,
) -> dict[str, float | None]:
    """The training loop: accumulate, clip, step, schedule; keep the best epoch's weights."""
    train, stop = splits
    boot = bootstrap_counts(len(train), config.members, config.seed)
    batches_per_epoch = math.ceil(len(train) / config.resolved_batch_size)
    total = math.ceil(batches_per_epoch / config.grad_accum) * config.resolved_epochs
    optimizer = make_optimizer(config, scorer.backbone, scorer.heads)
    schedule = warmup_cosine(optimizer, total, config.warmup_ratio)
    params = [p for group in optimizer.param_groups for p in group["params"]]
    best, best_state, step, loss, started = math.inf, None, 0, 0.0, time.monotonic()
    for epoch in range(config.resolved_epochs):
        scorer.backbone.model.train()
        batches = epoch_batches(train, encoded, config, epoch)
        for i, batch in enumerate(batches):
            part = batch_loss(scorer, encoded, train, batch, boot)
            (part / config.grad_accum).backward()
            loss = float(part.detach())
            if (i + 1) % config.grad_accum and i + 1 < len(batches):
                continue
            torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            if progress is not None:
                elapsed = time.monotonic() - started
                progress(step / total, loss, elapsed / step * (total - step))
        if stop is not None and len(stop):
            current = stop_loss(scorer, encoded, stop)
            if current < best:
                best, best_state = current, copy.deepcopy(scorer_state(scorer))
    if best_state is not None:
        load_scorer_state(scorer, best_state)
    loop_seconds = time.monotonic() - started
    return {
        "steps": step,
        "epochs_done": config.resolved_epochs,
        "train_loss": loss,
        "stop_loss": best if best_state is not None else None,
        "loop_seconds": loop_seconds,
    }


def scorer_state(scorer: RewardScorer) -> dict[str, dict[str, torch.Tensor]]:
    """Backbone and head weights, for keeping the best epoch."""
    return {"backbone": scorer.backbone.model.state_dict(), "heads": scorer.heads.state_dict()}


def load_scorer_state(scorer: RewardScorer, state: dict[str, dict[str, torch.Tensor]]) -> None:
    """Put weights saved by `scorer_state` back."""
    scorer.backbone.model.load_state_dict(state["backbone"])
    scorer.heads.load_state_dict(state["heads"])


def train_finetune(
    config: TrainConfig,
    train_pairs: Sequence[PreferencePair],
    stop_pairs: Sequence[PreferencePair],
    progress: Progress | None = None,
) -> tuple[RewardScorer, dict[str, float | None]]:
    """Fine-tune the backbone with K heads; returns the scorer (in eval mode) and fit details."""
    backbone = load_backbone(
        config.backbone,
        max_length=config.max_length,
        pooling=config.pooling,
        device=config.device,
        trainable=True,
    )
    if config.gradient_checkpointing:
        backbone.model.gradient_checkpointing_enable()
    if config.disable_dropout:
        for module in backbone.model.modules():
            if isinstance(module, torch.nn.Dropout):
                module.p = 0.0
    rows, encoded = encode_rows(backbone, [*train_pairs, *stop_pairs])
    torch.manual_seed(config.seed)
    heads = build_heads(config, backbone, encoded)
    scorer = RewardScorer("finetune", backbone, heads, None)
    train = pair_tensors(train_pairs, rows, config.margin_per_strength)
    stop = pair_tensors(stop_pairs, rows, config.margin_per_strength) if stop_pairs else None
    info = run_epochs(scorer, encoded, (train, stop), config, progress)
    backbone.model.eval()
    heads.eval()
    return scorer, info
