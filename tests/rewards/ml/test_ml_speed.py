"""Throughput figures: the N of the MFU leaves embedding tables out."""

from __future__ import annotations

import torch

from rewards.ml.speed import flops_per_token, non_embedding_parameters, throughput


def test_the_mfu_counts_non_embedding_parameters_only(tiny_llama: str) -> None:
    # given the tiny Llama (its token table tied to the LM head)
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_llama)
    embeddings = model.get_input_embeddings()
    assert isinstance(embeddings, torch.nn.Embedding)
    table = embeddings.weight.numel()
    every = sum(p.numel() for p in model.parameters())

    # when its N is counted
    n = non_embedding_parameters(model)

    # then only the token table is left out, once though it is tied to the head
    assert n == every - table > 0
    assert flops_per_token(n, lora=False) == 6 * n and flops_per_token(n, lora=True) == 4 * n


def test_a_cpu_run_reports_its_n_but_no_mfu() -> None:
    speed = throughput(
        pairs=10, tokens=1000, seconds=2.0, n_params=5, lora=False, device=torch.device("cpu"),
        processes=1,
    )  # fmt: skip
    assert speed["tokens_per_s"] == 500.0 and speed["mfu"] is None
    assert speed["non_embedding_parameters"] == 5
