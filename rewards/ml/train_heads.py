"""Heads mode: cached frozen embeddings, K heads on bootstrap resamples, early stopping."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence

import torch

from rewards.ml.backbone import Progress, embed_items, load_backbone
from rewards.ml.cache import EmbeddingCache
from rewards.ml.config import TrainConfig
from rewards.ml.data import PreferencePair
from rewards.ml.heads import HeadEnsemble, bradley_terry_loss, extra_features
from rewards.ml.pairs import PairTensors, bootstrap_counts, pair_tensors, unique_rows
from rewards.ml.score import RewardScorer

# Share of the progress bar given to embedding when the cache is cold (it dominates then).
EMBED_SHARE = 0.8
# The length weight is one undecayed scalar per member; at the embedding weights' rate it
# moves too little before early stopping (autoj: 61.8% at 1x, 66.7% at 30x, length-only 71.7%).
EXTRA_LR_SCALE = 30.0


def member_losses(
    heads: HeadEnsemble, x: torch.Tensor, extra: torch.Tensor, pairs: PairTensors
) -> torch.Tensor:
    """Unweighted Bradley-Terry loss of each member on `pairs`, shape [K]."""
    diff = heads(x[pairs.a], extra[pairs.a]) - heads(x[pairs.b], extra[pairs.b])
    target = pairs.target.unsqueeze(-1).expand_as(diff)
    return torch.nn.functional.binary_cross_entropy_with_logits(
        diff, target, reduction="none"
    ).mean(0)


def make_optimizer(heads: HeadEnsemble, config: TrainConfig) -> torch.optim.Optimizer:
    """AdamW; the length weights are not decayed (one honest feature, nothing to overfit)."""
    groups = [{"params": heads.decayed_parameters(), "weight_decay": config.resolved_weight_decay}]
    if heads.n_extra:
        extra_lr = config.resolved_lr * EXTRA_LR_SCALE
        groups.append({"params": [heads.w_extra], "weight_decay": 0.0, "lr": extra_lr})
    return torch.optim.AdamW(groups, lr=config.resolved_lr)


class BestMembers:
    """Per-member early stopping: keeps each member's weights from its best validation epoch."""

    def __init__(self, heads: HeadEnsemble) -> None:
        self.heads = heads
        self.loss = torch.full((heads.members,), float("inf"))
        self.state = {n: p.detach().clone() for n, p in heads.named_parameters()}

    def update(self, losses: torch.Tensor) -> bool:
        """Remember improved members; True when any member improved."""
        better = losses < self.loss - 1e-5
        self.loss = torch.where(better, losses, self.loss)
        for name, param in self.heads.named_parameters():
            self.state[name][better] = param.detach()[better]
        return bool(better.any())

    def restore(self) -> None:
        """Load each member's best weights back into the ensemble."""
        with torch.no_grad():
            for name, param in self.heads.named_parameters():
                param.copy_(self.state[name])


def run_epoch(
    heads: HeadEnsemble,
    optimizer: torch.optim.Optimizer,
    features: tuple[torch.Tensor, torch.Tensor],
    train: PairTensors,
    boot: torch.Tensor,
    batch_size: int,
    gen: torch.Generator,
) -> float:
    """One shuffled pass over the training pairs; returns the mean loss."""
    x, extra = features
    total, steps = 0.0, 0
    for batch in torch.randperm(len(train), generator=gen).split(batch_size):
        ia, ib = train.a[batch], train.b[batch]
        diff = heads(x[ia], extra[ia]) - heads(x[ib], extra[ib])
        weight = boot[batch] * train.weight[batch].unsqueeze(-1)
        loss = bradley_terry_loss(diff, train.target[batch], train.margin[batch], weight)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total, steps = total + float(loss.detach()), steps + 1
    return total / max(steps, 1)


@contextlib.contextmanager
def cpu_threads(count: int) -> Iterator[None]:
    """Temporarily cap torch's intra-op threads (process-wide), then restore them."""
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def fit_heads(
    heads: HeadEnsemble,
    features: tuple[torch.Tensor, torch.Tensor],
    train: PairTensors,
    stop: PairTensors | None,
    config: TrainConfig,
    progress: Progress | None,
) -> dict[str, float | None]:
    """Train all members at once; stop when no member's validation loss improved for a while."""
    gen = torch.Generator().manual_seed(config.seed)
    boot = bootstrap_counts(len(train), heads.members, config.seed)
    optimizer = make_optimizer(heads, config)
    best = BestMembers(heads)
    epochs, started, stale, loss = config.resolved_epochs, time.monotonic(), 0, 0.0
    for epoch in range(epochs):
        heads.train()
        loss = run_epoch(heads, optimizer, features, train, boot, config.resolved_batch_size, gen)
        if stop is not None and len(stop):
            with torch.no_grad():
                heads.eval()
                stale = 0 if best.update(member_losses(heads, *features, stop)) else stale + 1
        if progress is not None:
            elapsed = time.monotonic() - started
            progress((epoch + 1) / epochs, loss, elapsed / (epoch + 1) * (epochs - epoch - 1))
        if stale >= config.patience:
            break
    if stop is not None and len(stop):
        best.restore()
    return {
        "epochs_run": epoch + 1,
        "train_loss": loss,
        "stop_loss": float(best.loss.mean()) if stop is not None and len(stop) else None,
        "loop_seconds": time.monotonic() - started,
    }


def scaled(progress: Progress | None, low: float, high: float) -> Progress | None:
    """A callback that maps a stage's 0..1 onto low..high of the whole run."""
    if progress is None:
        return None
    return lambda fraction, loss, eta: progress(low + (high - low) * fraction, loss, eta)


def train_heads(
    config: TrainConfig,
    train_pairs: Sequence[PreferencePair],
    stop_pairs: Sequence[PreferencePair],
    progress: Progress | None = None,
) -> tuple[RewardScorer, dict[str, float | None]]:
    """Embed (through the cache), then fit the ensemble; returns the scorer and fit details."""
    backbone = load_backbone(
        config.backbone, max_length=config.max_length, pooling=config.pooling, device=config.device
    )
    cache = EmbeddingCache(config.cache_dir, backbone.namespace)
    rows, items = unique_rows([*train_pairs, *stop_pairs])
    vectors, lengths, new = embed_items(
        backbone, items, cache, progress=scaled(progress, 0, EMBED_SHARE)
    )
    x = torch.from_numpy(vectors).to(backbone.device)
    extra = extra_features(lengths, config.length_feature).to(backbone.device)
    train = pair_tensors(train_pairs, rows, config.margin_per_strength)
    stop = pair_tensors(stop_pairs, rows, config.margin_per_strength) if stop_pairs else None
    torch.manual_seed(config.seed)
    heads = HeadEnsemble(x.shape[1], config.members, config.head_hidden, extra.shape[1])
    used = torch.cat([train.a, train.b]).unique()
    heads.fit_scaler(x[used], extra[used])
    heads.to(backbone.device)
    # Head steps are tiny matmuls: on CPU a second thread costs more in hand-offs than it
    # saves (1.5 vs 3-6 ms per 256-pair step measured on the 2-core box).
    threads = 1 if backbone.device.type == "cpu" else torch.get_num_threads()
    with cpu_threads(threads):
        fit_progress = scaled(progress, EMBED_SHARE, 1.0)
        info = fit_heads(heads, (x, extra), train, stop, config, fit_progress)
    info["newly_embedded"] = new
    return RewardScorer("heads", backbone, heads.eval(), cache), info
