"""Backbone loading (packaged default, offline), pooling, and the shared embedding cache."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from rewards.ml.backbone import embed_ahead, load_backbone, pool
from rewards.ml.cache import EmbeddingCache, item_key
from tests.rewards.ml.synthetic import synthetic_pairs

ROOT = Path(__file__).resolve().parents[3]


def test_it_loads_the_packaged_default_backbone_with_the_network_off(tmp_path: Path) -> None:
    # given a process with the hub offline and every proxy pointing nowhere
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_HOME": str(tmp_path / "hf"),
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "HTTP_PROXY": "http://127.0.0.1:9",
    }
    code = (
        "from rewards.ml.backbone import load_backbone; "
        "b = load_backbone(None, max_length=32, device='cpu'); "
        "v = b.forward([b.formatter.encode('hi', 'hello there')[0]]); "
        "print(b.pooling, b.hidden_size, b.formatter.template, tuple(v.shape))"
    )

    # when the default backbone loads and embeds one input
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )

    # then it is all-MiniLM-L6-v2: mean pooling, 384 wide, no chat template
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["mean", "384", "role_tagged", "(1,", "384)"]


def test_it_pools_mean_over_real_tokens_and_last_for_decoders() -> None:
    hidden = torch.tensor([[[1.0], [3.0], [100.0]], [[2.0], [4.0], [6.0]]])
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    assert pool(hidden, mask, "mean").flatten().tolist() == [2.0, 4.0]
    assert pool(hidden, mask, "last").flatten().tolist() == [3.0, 6.0]


def test_it_embeds_each_response_once_across_calls(tiny_backbone: str, cache_dir: str) -> None:
    # given items with one duplicate
    pairs = synthetic_pairs(10, seed=11)
    items = [(p.prompt, p.a) for p in pairs] + [(pairs[0].prompt, pairs[0].a)]

    # when warmed twice
    first = embed_ahead(items, backbone=tiny_backbone, max_length=32, cache_dir=cache_dir)
    second = embed_ahead(items, backbone=tiny_backbone, max_length=32, cache_dir=cache_dir)

    # then the second call embeds nothing
    assert (first, second) == (10, 0)


def test_it_shares_cache_rows_between_independent_writers(tmp_path: Path) -> None:
    # given two cache handles on one folder, as two workers would hold
    one, two = EmbeddingCache(tmp_path, "ns"), EmbeddingCache(tmp_path, "ns")
    keys = [item_key("p", "x"), item_key("p", "y")]

    # when each publishes one row
    one.put(keys[:1], np.ones((1, 3)), np.array([4]))
    two.put(keys[1:], np.zeros((1, 3)), np.array([7]))

    # then each sees both, and no temporary files are left behind
    assert one.missing(keys) == [] and two.missing(keys) == []
    vectors, lengths = one.get(keys)
    assert vectors.tolist() == [[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]]
    assert lengths.tolist() == [4, 7]
    assert sorted(p.suffix for p in (tmp_path / "ns").iterdir()) == [".safetensors"] * 2


def test_it_separates_cache_namespaces_by_backbone_and_length(tiny_backbone: str) -> None:
    short = load_backbone(tiny_backbone, max_length=32, device="cpu")
    longer = load_backbone(tiny_backbone, max_length=64, device="cpu")
    assert short.namespace != longer.namespace


def test_it_embeds_no_responses_without_failing(tiny_backbone: str, cache_dir: str) -> None:
    # a project whose responses are not imported yet
    assert embed_ahead([], backbone=tiny_backbone, max_length=32, cache_dir=cache_dir) == 0


def test_the_weights_fingerprint_reads_in_chunks_and_hashes_every_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a folder whose weights span several reads of 1 KiB
    import hashlib

    from rewards.ml import backbone

    monkeypatch.setattr(backbone, "HASH_CHUNK_BYTES", 1024)
    weights = os.urandom(5000)
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "model.safetensors").write_bytes(weights)
    whole = hashlib.sha256(b"config.json{}model.safetensors" + weights).hexdigest()[:16]

    # when it is fingerprinted, then after one byte of the weights changes
    first = backbone.weights_fingerprint(str(tmp_path))
    (tmp_path / "model.safetensors").write_bytes(weights[:-1] + bytes([weights[-1] ^ 1]))
    second = backbone.weights_fingerprint(str(tmp_path))

    # then the chunked digest is the one of the whole files, and the last byte counts
    assert first == whole
    assert second != first


@pytest.mark.parametrize("weights", ["pytorch_model.bin", "model.pt"])
def test_a_folder_of_pytorch_weights_is_fingerprinted_by_its_weights(
    tmp_path: Path, weights: str
) -> None:
    # given a folder whose weights are a PyTorch pickle, not safetensors
    from rewards.ml import backbone

    (tmp_path / "config.json").write_text("{}")
    (tmp_path / weights).write_bytes(b"first weights")
    first = backbone.weights_fingerprint(str(tmp_path))
    # when the weights change, then so does the fingerprint
    (tmp_path / weights).write_bytes(b"other weights")
    assert backbone.weights_fingerprint(str(tmp_path)) != first
