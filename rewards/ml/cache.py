"""On-disk embedding cache, keyed by backbone and text hash, safe for concurrent workers."""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file

from rewards.ml.data import Prompt, prompt_key


def default_cache_dir() -> Path:
    """$REWARDS_CACHE_DIR, else ~/.cache/prefloop/embeddings."""
    env = os.environ.get("REWARDS_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "prefloop" / "embeddings"


def item_key(prompt: Prompt, response: str) -> bytes:
    """sha256 of one (prompt, response) input."""
    text = json.dumps([prompt_key(prompt), response], ensure_ascii=False)
    return hashlib.sha256(text.encode()).digest()


class EmbeddingCache:
    """Append-only shards of (key, embedding, response length) under one namespace folder.

    Each writer publishes a whole shard with an atomic rename, so concurrent workers never see
    half-written files; two workers embedding the same text only duplicate a row.
    """

    def __init__(self, root: str | Path | None, namespace: str) -> None:
        self.folder = Path(root or default_cache_dir()) / namespace
        self._rows: dict[bytes, tuple[np.ndarray, int]] = {}
        self._seen: set[str] = set()

    def refresh(self) -> None:
        """Load shards that other processes (or this one) wrote since the last look."""
        if not self.folder.is_dir():
            return
        for path in sorted(self.folder.glob("*.safetensors")):
            if path.name in self._seen:
                continue
            shard = load_file(str(path))
            for key, vector, length in zip(
                shard["keys"], shard["vectors"], shard["lengths"], strict=True
            ):
                self._rows[key.tobytes()] = (vector, int(length))
            self._seen.add(path.name)

    def missing(self, keys: list[bytes]) -> list[bytes]:
        """Keys with no cached row yet (after reading new shards)."""
        self.refresh()
        return [k for k in keys if k not in self._rows]

    def get(self, keys: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
        """Stacked (vectors, response lengths) for keys that are all present."""
        rows = [self._rows[k] for k in keys]
        vectors = np.stack([r[0] for r in rows]).astype(np.float32)
        return vectors, np.array([r[1] for r in rows], dtype=np.int64)

    def put(self, keys: list[bytes], vectors: np.ndarray, lengths: np.ndarray) -> None:
        """Publish new rows as one shard (atomic rename) and remember them locally."""
        if not keys:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"{uuid.uuid4().hex}.safetensors"
        tmp = self.folder / f".{name}.tmp"
        tensors: dict[str, np.ndarray] = {
            "keys": np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(len(keys), -1),
            "vectors": np.ascontiguousarray(vectors, dtype=np.float32),
            "lengths": np.asarray(lengths, dtype=np.int64),
        }
        save_file(tensors, str(tmp))
        os.replace(tmp, self.folder / name)
        self._seen.add(name)
        for key, vector, length in zip(keys, tensors["vectors"], lengths, strict=True):
            self._rows[key] = (vector, int(length))
