"""A tiny random-init BERT backbone built locally in about a second, for tests."""

from __future__ import annotations

from pathlib import Path

# A closed vocabulary is enough: test texts are built from these words.
_WORD_LINES = (
    "the a an and or but of to in on for with is are was be this that it you i we they "
    "good great excellent helpful clear correct kind useful accurate polite "
    "bad awful wrong rude useless harmful unclear poor sloppy lazy "
    "cat dog sun moon tree river stone cloud apple bread music paper light water fire "
    "what how why when where who please tell me explain write give list answer question "
    "user assistant system human"
)
WORDS = tuple(_WORD_LINES.split())
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def build_tokenizer(out_dir: Path) -> int:
    """Save a word-level BERT-style tokenizer; returns the vocabulary size."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate(SPECIALS + sorted(set(WORDS)))}
    core = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    core.normalizer = normalizers.Lowercase()
    core.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    core.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    # transformers leaves TokenizersBackend.__init__ (PreTrainedTokenizerFast) unannotated.
    tokenizer = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=core,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=512,
    )
    tokenizer.save_pretrained(out_dir)
    return len(vocab)


def build_tiny_backbone(out_dir: str | Path, *, seed: int = 0) -> str:
    """Write a 2-layer, 32-wide random BERT and its tokenizer to out_dir; returns the path."""
    import torch
    from transformers import BertConfig, BertModel

    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    vocab_size = build_tokenizer(folder)
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
    )
    BertModel(config).save_pretrained(folder)
    return str(folder)


# A ChatML-like template, so multi-turn prompts exercise the chat-template path.
TINY_CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|> {{ m['content'] }} </s>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
LLAMA_SPECIALS = ["<unk>", "<s>", "</s>", "<|user|>", "<|assistant|>", "<|system|>"]


def build_llama_tokenizer(out_dir: Path) -> int:
    """Save a word-level Llama-style tokenizer: BOS prefix, EOS, no pad token, a chat template."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate(LLAMA_SPECIALS + sorted(set(WORDS)))}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.normalizer = normalizers.Lowercase()
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    core.post_processor = processors.TemplateProcessing(
        single="<s> $A", special_tokens=[("<s>", vocab["<s>"])]
    )
    tokenizer = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=core,
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        additional_special_tokens=LLAMA_SPECIALS[3:],
        model_max_length=512,
    )
    tokenizer.chat_template = TINY_CHAT_TEMPLATE
    tokenizer.save_pretrained(out_dir)
    return len(vocab)


def build_tiny_llama(
    out_dir: str | Path, *, seed: int = 0, hidden: int = 32, layers: int = 2
) -> str:
    """Write a random Llama causal LM (like users' folders) and its tokenizer; returns the path."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    vocab_size = build_llama_tokenizer(folder)
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=None,
    )
    LlamaForCausalLM(config).save_pretrained(folder)
    return str(folder)
