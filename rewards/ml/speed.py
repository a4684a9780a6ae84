"""Training throughput: pairs/s, tokens/s and model FLOPs utilization (MFU) of a run."""

from __future__ import annotations

from typing import Any

import torch

# Dense bf16 tensor-core peaks in TFLOP/s, from the vendors' data sheets (no sparsity).
PEAK_BF16_TFLOPS = {
    "H200": 989.0,
    "H100": 989.0,
    "H800": 989.0,
    "A100": 312.0,
    "A800": 312.0,
    "L40S": 362.0,
    "L4": 121.0,
    "A10": 125.0,
    "RTX 4090": 165.0,
}


def peak_flops(device: torch.device) -> float | None:
    """Peak bf16 FLOP/s of one device; None on CPU or an unknown GPU (MFU not reported)."""
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for key, tflops in PEAK_BF16_TFLOPS.items():
        if key in name:
            return tflops * 1e12
    return None


def non_embedding_parameters(model: torch.nn.Module) -> int:
    """Parameters outside embedding tables: the N of the 6N FLOPs-per-token convention.

    A lookup costs no multiply-adds, so token and position embeddings are left out (Kaplan et
    al. 2020); at Qwen2.5-0.5B's shapes the token table holds over a quarter of all weights.
    """
    tables = {
        id(param)
        for module in model.modules()
        if isinstance(module, torch.nn.Embedding)
        for param in module.parameters()
    }
    return sum(param.numel() for param in model.parameters() if id(param) not in tables)


def flops_per_token(n_params: int, *, lora: bool) -> float:
    """Model FLOPs per trained token: 6N for a full fine-tune, 4N with LoRA.

    N counts non-embedding parameters (`non_embedding_parameters`).

    Forward is 2N and the backward's input gradients 2N; a full fine-tune adds 2N of weight
    gradients that frozen weights skip (Kaplan et al. 2020's 6N). Attention's sequence term and
    gradient checkpointing's recompute are not counted, as in PaLM's MFU (Chowdhery et al. 2022).
    """
    return (4.0 if lora else 6.0) * n_params


def throughput(
    *,
    pairs: int,
    tokens: int,
    seconds: float,
    n_params: int,
    lora: bool,
    device: torch.device,
    processes: int,
) -> dict[str, Any]:
    """The figures a run reports; mfu is None where the device's peak is unknown."""
    seconds = max(seconds, 1e-9)
    tokens_per_s = tokens / seconds
    peak = peak_flops(device)
    mfu = None
    if peak is not None:
        mfu = round(tokens_per_s * flops_per_token(n_params, lora=lora) / (peak * processes), 4)
    return {
        "pairs_per_s": round(pairs / seconds, 2),
        "tokens_per_s": round(tokens_per_s, 1),
        "mfu": mfu,
        "device": device.type if device.type != "cuda" else torch.cuda.get_device_name(device),
        "processes": processes,
        "lora": lora,
        "non_embedding_parameters": n_params,  # the N of the MFU
    }
