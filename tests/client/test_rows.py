"""Rows as the client sends them: any table as JSONL, missing cells as null, compressed."""

from __future__ import annotations

import gzip
import json

import datasets
import numpy as np
import pandas as pd
import pytest
import zstandard
from prefloop_client.data import encode_jsonl, iter_rows


def test_a_dataframes_missing_cells_and_numpy_values_become_json() -> None:
    frame = pd.DataFrame(
        {"prompt": ["p1", "p2"], "model_a": ["m", None], "score": [1.5, np.nan], "n": [1, 2]}
    )
    frame["when"] = pd.to_datetime(["2026-01-02", None])
    rows = list(iter_rows(frame))
    assert rows[1]["model_a"] is None and rows[1]["score"] is None and rows[1]["when"] is None
    line = encode_jsonl(rows, compression=None).read().decode().splitlines()[0]
    assert json.loads(line) == {
        "prompt": "p1",
        "model_a": "m",
        "score": 1.5,
        "n": 1,
        "when": "2026-01-02T00:00:00",
    }


@pytest.mark.parametrize(
    ("compression", "unpack"),
    [
        ("gzip", gzip.decompress),
        ("zstd", lambda b: zstandard.ZstdDecompressor().decompressobj().decompress(b)),
    ],
)
def test_a_dataset_is_sent_compressed(compression: str, unpack: object) -> None:
    rows = [{"prompt": f"q{i}", "responses": [f"a{i}", f"b{i}"]} for i in range(500)]
    packed = encode_jsonl(iter_rows(datasets.Dataset.from_list(rows)), compression).read()
    assert callable(unpack)
    assert [json.loads(line) for line in unpack(packed).splitlines()] == rows


@pytest.mark.parametrize("data", [42, {"prompt": "q"}, [{"prompt": "q"}, "not a row"]])
def test_what_is_not_a_table_is_refused_before_sending(data: object) -> None:
    with pytest.raises(TypeError):
        list(iter_rows(data))


def test_an_unknown_compression_is_refused() -> None:
    with pytest.raises(ValueError, match="compression"):
        encode_jsonl([], compression="lz4")
