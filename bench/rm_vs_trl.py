"""Our `finetune` mode against TRL's RewardTrainer: same backbone, data, length, epochs, machine.

    .venv/bin/python bench/rm_vs_trl.py                  # pandalm slice, CPU here
    .venv/bin/python bench/rm_vs_trl.py --quick          # 32 pairs, a smoke run
    .venv/bin/python bench/rm_vs_trl.py --set hh_rlhf_harmless --pairs 512 --device cuda

Both train on the first --pairs decisive pairs of one half of the set's dev file (split by
prompt, seed 0) and are tested on the first --test decisive pairs of the other half. Both see
identical token ids: the inputs are encoded once by our formatter (end of the prompt kept,
start of the response) and handed to TRL pre-tokenized, so TRL's length filter drops nothing.
Shared settings: learning rate, batch size, epochs, max length, seed, fp32 on CPU (bf16 on
CUDA for both). TRL keeps its own defaults otherwise (linear schedule, no warmup, dropout off,
one head); we keep ours (8 heads, warmup + cosine, dropout on, length-bucketed batches).
Training pairs/s count pairs x epochs over the training loop only (no model loading).

Decoder rows (`--decoders`): the packaged MiniLM encoder (LoRA on PEFT's default BERT targets,
query and value) and random-init Llama-architecture causal LMs at the shapes of Qwen2.5-0.5B
and -1.5B (GPU only) or a tiny one (CPU), with a word-level tokenizer built on the spot,
trained LoRA (r 16, alpha 32, every attention and MLP projection) and in full by our
finetune mode and by TRL's RewardTrainer (with PEFT for LoRA) on identical token ids, batch,
epochs, rate and precision. tokens/s counts real (unpadded) tokens of both responses per pair;
MFU = tokens/s x (6N full, 4N LoRA) / the device's dense bf16 peak, N the backbone's
non-embedding parameters on both sides (rewards/ml/speed.py).
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from bench.data import set_file  # noqa: E402
from rewards.ml.backbone import load_backbone, resolve_backbone, resolve_device  # noqa: E402
from rewards.ml.config import TrainConfig  # noqa: E402
from rewards.ml.data import (  # noqa: E402
    PreferencePair,
    pad_batch,
    read_pairs_jsonl,
    split_by_prompt,  # noqa: E402
)
from rewards.ml.formatting import Formatter  # noqa: E402
from rewards.ml.metrics import evaluate  # noqa: E402
from rewards.ml.score import load  # noqa: E402
from rewards.ml.train import pair_metrics, train  # noqa: E402

if TYPE_CHECKING:
    from trl import RewardConfig

# One trainer's row of the table (None: no decisive test pair to measure accuracy on).
Run = TypedDict(
    "Run", {"trainer": str, "accuracy": float | None, "train pairs/s": float, "train loop s": float}
)


def slices(args: argparse.Namespace) -> tuple[list[PreferencePair], list[PreferencePair]]:
    """Decisive training and test pairs from the two prompt-disjoint halves."""
    first, second = split_by_prompt(read_pairs_jsonl(set_file(args.set)), 0.5, seed=0)
    decisive = [[p for p in half if p.label != "tie"] for half in (first, second)]
    return decisive[0][: args.pairs], decisive[1][: args.test]


def run_ours(
    args: argparse.Namespace,
    train_pairs: list[PreferencePair],
    test_pairs: list[PreferencePair],
    out: Path,
) -> Run:
    """Our finetune mode, through the same train() the app calls."""
    config = TrainConfig(
        mode="finetune",
        max_length=args.max_length,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        val_fraction=0.0,
        seed=args.seed,
        device=args.device,
    )
    result = train(config, train_pairs, out)
    metrics = pair_metrics(load(out, device=args.device), test_pairs)
    seconds = result.details["loop_seconds"]
    return {
        "trainer": "rewards.ml finetune (K=8)",
        "accuracy": metrics["accuracy"],
        "train pairs/s": len(train_pairs) * args.epochs / seconds,
        "train loop s": seconds,
    }


def chosen_rejected(
    formatter: Formatter, pairs: list[PreferencePair]
) -> list[dict[str, list[int]]]:
    """TRL rows with our token ids: the preferred response first."""
    rows = []
    for pair in pairs:
        win, lose = (pair.a, pair.b) if pair.label == "a" else (pair.b, pair.a)
        rows.append(
            {
                "chosen_ids": formatter.encode(pair.prompt, win)[0],
                "rejected_ids": formatter.encode(pair.prompt, lose)[0],
            }
        )
    return rows


@torch.no_grad()
def trl_accuracy(
    model: torch.nn.Module, formatter: Formatter, pairs: list[PreferencePair], device: torch.device
) -> float | None:
    """Held-out accuracy of a sequence-classification reward model."""
    model.eval()
    p_a = []
    for pair in pairs:
        ids, mask = pad_batch(
            [formatter.encode(pair.prompt, t)[0] for t in (pair.a, pair.b)], formatter.pad_id
        )
        logits = model(
            input_ids=torch.tensor(ids, device=device),
            attention_mask=torch.tensor(mask, device=device),
        ).logits.squeeze(-1)
        p_a.append(float(torch.sigmoid(logits[0] - logits[1])))
    return evaluate(p_a, [p.label for p in pairs])["accuracy"]


def trl_config(args: argparse.Namespace, device: torch.device, out: Path, eos: str) -> RewardConfig:
    """RewardConfig with the shared settings; TRL's defaults for everything else."""
    from trl import RewardConfig

    return RewardConfig(
        output_dir=str(out),
        per_device_train_batch_size=args.batch_size,
        num_train_epochs=args.epochs,
        learning_rate=args.lr,
        max_length=args.max_length,
        seed=args.seed,
        bf16=device.type == "cuda",
        # TRL turns this on by default; our run does not checkpoint, so neither does theirs.
        gradient_checkpointing=False,
        use_cpu=device.type == "cpu",
        save_strategy="no",
        report_to=[],
        logging_steps=10_000,
        eos_token=eos,
    )


def run_trl(
    args: argparse.Namespace,
    train_pairs: list[PreferencePair],
    test_pairs: list[PreferencePair],
    out: Path,
) -> Run:
    """TRL's RewardTrainer on the same token ids and settings."""
    from datasets import Dataset
    from transformers import AutoModelForSequenceClassification, PreTrainedModel
    from trl import RewardTrainer

    device = resolve_device(args.device)
    formatter = load_backbone(None, max_length=args.max_length, device="cpu").formatter
    path, _ = resolve_backbone(None)
    model = AutoModelForSequenceClassification.from_pretrained(
        path, num_labels=1, local_files_only=True
    )
    model.config.pad_token_id = formatter.pad_id
    trainer = RewardTrainer(
        model=model,
        args=trl_config(args, device, out, formatter.tokenizer.sep_token),
        train_dataset=Dataset.from_list(chosen_rejected(formatter, train_pairs)),
        processing_class=formatter.tokenizer,
    )
    seconds = trainer.train().metrics["train_runtime"]
    trained = trainer.model
    assert isinstance(trained, PreTrainedModel)  # the trainer keeps the model it was given
    accuracy = trl_accuracy(trained, formatter, test_pairs, trained.device)
    return {
        "trainer": "TRL RewardTrainer (1 head)",
        "accuracy": accuracy,
        "train pairs/s": len(train_pairs) * args.epochs / seconds,
        "train loop s": seconds,
    }


# The packaged encoder's row: no shape to build, LoRA on PEFT's default BERT targets.
PACKAGED = "minilm"
# (hidden, layers, heads, kv heads, MLP width, vocabulary) of the decoder rows.
SHAPES = {
    "tiny": (64, 2, 4, 2, 128, None),
    "qwen2.5-0.5b": (896, 24, 14, 2, 4864, 151936),
    "qwen2.5-1.5b": (1536, 28, 12, 2, 8960, 151936),
}
GPU_SHAPES = ("qwen2.5-0.5b", "qwen2.5-1.5b")
LORA_RANK = 16

DecoderRow = TypedDict(
    "DecoderRow",
    {
        "shape": str,
        "tuning": str,
        "trainer": str,
        "pairs/s": float | None,
        "tokens/s": float | None,
        "mfu": float | None,
    },
)


def build_decoder(out: Path, shape: str) -> str:
    """A random-init causal LM of `shape` with a word-level tokenizer, saved to `out`.

    Llama blocks at Qwen2.5's shapes (Qwen2 differs by biases on q, k, v only): transformers
    pairs a `qwen2` folder with Qwen2's own tokenizer class, which would not load ours.
    """
    from transformers import LlamaConfig, LlamaForCausalLM

    from rewards.ml.testing import build_llama_tokenizer

    hidden, layers, heads, kv, mlp, vocab = SHAPES[shape]
    size = build_llama_tokenizer(out)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=vocab or size,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv,
        intermediate_size=mlp,
        max_position_embeddings=4096,
        bos_token_id=1,
        eos_token_id=2,
        tie_word_embeddings=True,
    )
    LlamaForCausalLM(config).save_pretrained(out)
    return str(out)


def real_tokens(formatter: Formatter, pairs: list[PreferencePair]) -> int:
    """Unpadded tokens of both responses of every pair (one epoch)."""
    return sum(len(formatter.encode(p.prompt, t)[0]) for p in pairs for t in (p.a, p.b))


def ours_decoder(
    args: argparse.Namespace, backbone: str, rank: int, pairs: list[PreferencePair], out: Path
) -> tuple[float, float, float | None, float | None]:
    """Our finetune mode on a decoder: (pairs/s, tokens/s, mfu, accuracy on held-out pairs)."""
    config = TrainConfig(
        mode="finetune",
        backbone=backbone,
        max_length=args.max_length,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        val_fraction=0.0,
        seed=args.seed,
        device=args.device,
        lora_rank=rank,
        members=8,
        gradient_checkpointing=args.gradient_checkpointing,
    )
    result = train(config, pairs, out)
    speed = result.details["throughput"]
    return speed["pairs_per_s"], speed["tokens_per_s"], speed["mfu"], None


def trl_decoder(
    args: argparse.Namespace, backbone: str, rank: int, pairs: list[PreferencePair], out: Path
) -> tuple[float, float, float | None, float | None]:
    """TRL's RewardTrainer (PEFT LoRA when rank > 0) on the same ids and settings."""
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForSequenceClassification
    from trl import RewardTrainer

    from rewards.ml.lora import default_targets
    from rewards.ml.speed import flops_per_token, non_embedding_parameters, peak_flops

    device = resolve_device(args.device)
    formatter = load_backbone(backbone, max_length=args.max_length, device="cpu").formatter
    model = AutoModelForSequenceClassification.from_pretrained(
        backbone, num_labels=1, local_files_only=True
    )
    model.config.pad_token_id = formatter.pad_id
    # The backbone without the score head, as ours counts it (rewards/ml/speed.py).
    n_params = non_embedding_parameters(model.base_model)
    peft = None
    if rank:
        # Ours adapts the Llama projections when the backbone has them, else PEFT's default.
        targets = default_targets(model)
        peft = LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=targets, task_type="SEQ_CLS")
    settings = trl_config(args, device, out, formatter.tokenizer.eos_token)
    settings.gradient_checkpointing = args.gradient_checkpointing
    trainer = RewardTrainer(
        model=model,
        args=settings,
        train_dataset=Dataset.from_list(chosen_rejected(formatter, pairs)),
        processing_class=formatter.tokenizer,
        peft_config=peft,
    )
    seconds = trainer.train().metrics["train_runtime"]
    tokens_per_s = real_tokens(formatter, pairs) * args.epochs / seconds
    peak = peak_flops(device)
    mfu = None if peak is None else tokens_per_s * flops_per_token(n_params, lora=bool(rank)) / peak
    return len(pairs) * args.epochs / seconds, tokens_per_s, mfu, None


def decoder_row(
    shape: str, tuning: str, trainer: str, speed: tuple[float, float, float | None] | None
) -> DecoderRow:
    """One row of the decoder table; `speed` None: not measured."""
    pairs_s, tokens_s, mfu = speed if speed is not None else (None, None, None)
    return {
        "shape": shape,
        "tuning": tuning,
        "trainer": trainer,
        "pairs/s": pairs_s,
        "tokens/s": tokens_s,
        "mfu": mfu,
    }


def decoder_rows(
    args: argparse.Namespace, pairs: list[PreferencePair], tmp: Path
) -> list[DecoderRow]:
    """LoRA and full rows per shape, ours and TRL's; GPU shapes are skipped without a GPU."""
    rows: list[DecoderRow] = []
    cuda = resolve_device(args.device).type == "cuda"
    for shape in args.decoder_shapes.split(","):
        for rank in (LORA_RANK, 0):
            tuning = f"LoRA r{rank}" if rank else "full"
            trainers = (
                ("rewards.ml finetune (K=8)", ours_decoder),
                ("TRL RewardTrainer", trl_decoder),
            )
            if shape in GPU_SHAPES and not cuda:
                rows += [decoder_row(shape, tuning, name, None) for name, _ in trainers]
                continue
            if shape == PACKAGED:
                backbone = resolve_backbone(None)[0]
            elif (tmp / shape).exists():
                backbone = str(tmp / shape)
            else:
                backbone = build_decoder(tmp / shape, shape)
            for name, fn in trainers:
                best: tuple[float, float, float | None, float | None] | None = None
                for i in range(args.repeats):
                    got = fn(args, backbone, rank, pairs, tmp / f"{shape}-{rank}-{name[:3]}{i}")
                    best = got if best is None or got[0] > best[0] else best
                assert best is not None
                rows.append(decoder_row(shape, tuning, name, best[:3]))
    return rows


def print_decoder_rows(rows: list[DecoderRow]) -> None:
    """The decoder table; rows not run say so."""
    print("\n| backbone shape | tuning | trainer | pairs/s | tokens/s | MFU |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        if row["pairs/s"] is None:
            print(
                f"| {row['shape']} | {row['tuning']} | {row['trainer']} | "
                "not measured (no GPU) | | |"
            )
            continue
        mfu = "n/a (CPU)" if row["mfu"] is None else f"{row['mfu']:.1%}"
        print(
            f"| {row['shape']} | {row['tuning']} | {row['trainer']} | {row['pairs/s']:.2f} | "
            f"{row['tokens/s']:.0f} | {mfu} |"
        )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options (sys.argv's when `argv` is None)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", default="pandalm")
    parser.add_argument("--pairs", type=int, default=128)
    parser.add_argument("--test", type=int, default=128)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=16)
    # TRL RewardConfig's default rate; one short epoch at 3e-5 barely moves either model.
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--decoders", action="store_true", help="add the decoder rows")
    parser.add_argument("--decoders-only", action="store_true", help="only the decoder rows")
    parser.add_argument(
        "--decoder-shapes",
        default=f"{PACKAGED},tiny,qwen2.5-0.5b,qwen2.5-1.5b",
        help=f"comma-separated, of {', '.join([PACKAGED, *SHAPES])}",
    )
    parser.add_argument("--gradient-checkpointing", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.pairs, args.test, args.repeats = 32, 32, 1
    return args


def best_of(runs: list[Run]) -> Run:
    """The fastest repeat (the machine is shared, so slower repeats measure other load)."""
    return max(runs, key=lambda run: run["train pairs/s"])


def main() -> None:
    """Train both, alternating, --repeats times; print one table."""
    args = parse_args()
    train_pairs, test_pairs = slices(args)
    device = resolve_device(args.device)
    print(
        f"# rm_vs_trl on {platform.machine()}, device {device}, set {args.set}: "
        f"{len(train_pairs)} train / {len(test_pairs)} test decisive pairs, "
        f"max_length {args.max_length}, {args.epochs} epoch(s), batch {args.batch_size}, "
        f"lr {args.lr}, best of {args.repeats} alternating repeats"
    )
    started = time.monotonic()
    trl_runs: list[Run] = []
    our_runs: list[Run] = []
    with tempfile.TemporaryDirectory() as tmp:
        if args.decoders or args.decoders_only:
            print_decoder_rows(decoder_rows(args, train_pairs, Path(tmp)))
        if args.decoders_only:
            return
        for i in range(args.repeats):
            trl_runs.append(run_trl(args, train_pairs, test_pairs, Path(tmp) / f"trl{i}"))
            our_runs.append(run_ours(args, train_pairs, test_pairs, Path(tmp) / f"ours{i}"))
    rows = [best_of(trl_runs), best_of(our_runs)]
    print("| trainer | accuracy | train pairs/s | train loop s |")
    print("|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['trainer']} | {row['accuracy']:.3f} | {row['train pairs/s']:.2f} | "
            f"{row['train loop s']:.1f} |"
        )
    speed_up = rows[1]["train pairs/s"] / rows[0]["train pairs/s"]
    print(f"\nspeed-up: {speed_up:.2f}x (total {time.monotonic() - started:.0f}s)")
    print(
        f"reproduce: .venv/bin/python bench/rm_vs_trl.py --set {args.set} --pairs {args.pairs} "
        f"--test {args.test} --max-length {args.max_length} --epochs {args.epochs} "
        f"--lr {args.lr} --repeats {args.repeats}"
    )


if __name__ == "__main__":
    main()
