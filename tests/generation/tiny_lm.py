"""A tiny random-init causal LM (GPT-2 shaped) with a word-level tokenizer and a chat template.

Built locally in about a second, so `transformers serve` can answer chat completions offline.
"""

from __future__ import annotations

from pathlib import Path

from rewards.ml.testing import WORDS

SPECIALS = ["<pad>", "<unk>", "<eos>"]
# Turns rendered as "role: content" lines, then "assistant:" for the model to continue.
CHAT_TEMPLATE = (
    "{% for message in messages %}{{ message['role'] }} : {{ message['content'] }} "
    "{% endfor %}{% if add_generation_prompt %}assistant : {% endif %}"
)


def build_tiny_causal_lm(out_dir: str | Path, *, seed: int = 0) -> str:
    """Write a 2-layer, 32-wide random GPT-2 and its tokenizer to out_dir; returns the path."""
    import torch
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    vocab = {token: i for i, token in enumerate(SPECIALS + sorted({*WORDS, ":"}))}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.normalizer = normalizers.Lowercase()
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    core.decoder = decoders.WordPiece(prefix="##")  # joins words with spaces
    tokenizer = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=core,
        unk_token="<unk>",
        pad_token="<pad>",
        eos_token="<eos>",
        bos_token="<eos>",
        model_max_length=256,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(folder)
    torch.manual_seed(seed)
    config = GPT2Config(
        vocab_size=len(vocab),
        n_positions=256,
        n_embd=32,
        n_layer=2,
        n_head=2,
        bos_token_id=vocab["<eos>"],
        eos_token_id=vocab["<eos>"],
        pad_token_id=vocab["<pad>"],
    )
    model = GPT2LMHeadModel(config)
    model.generation_config.pad_token_id = vocab["<pad>"]
    model.generation_config.do_sample = True  # samples of one prompt differ
    model.save_pretrained(folder)
    return str(folder)
