"""Turn (prompt, response) into token ids: chat template or role tags, end-of-prompt truncation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rewards.ml.data import Prompt

# Version of the layout below; part of the embedding cache key, so bump it on any change.
FORMAT_VERSION = 1
# When both sides are too long the response keeps at least this share of the budget.
RESPONSE_MIN_SHARE = 0.5


def prompt_messages(prompt: Prompt) -> list[dict[str, str]]:
    """Prompt as chat messages; plain text becomes one user turn."""
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    return [{"role": m["role"], "content": m["content"]} for m in prompt]


def role_tagged(prompt: Prompt, response: str) -> tuple[str, str]:
    """Plain layout for tokenizers without a chat template: (prompt part, response part)."""
    turns = [f"{m['role']}: {m['content']}" for m in prompt_messages(prompt)]
    return "\n\n".join(turns) + "\n\nassistant: ", response


def chat_templated(tokenizer: Any, prompt: Prompt, response: str) -> tuple[str, str] | None:
    """Split the chat-template rendering into (prompt part, response part), if it splits cleanly."""
    messages = prompt_messages(prompt)
    head = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    full = tokenizer.apply_chat_template(
        [*messages, {"role": "assistant", "content": response}], tokenize=False
    )
    if not full.startswith(head):
        return None
    return head, full[len(head) :]


def keep_lengths(n_prompt: int, n_response: int, budget: int) -> tuple[int, int]:
    """Tokens kept from the prompt's end and the response's start within `budget`."""
    keep_response = min(n_response, max(budget - n_prompt, int(budget * RESPONSE_MIN_SHARE)))
    return min(n_prompt, budget - keep_response), keep_response


@dataclass
class Formatter:
    """Tokenizes inputs the same way for training, caching and scoring."""

    tokenizer: Any
    max_length: int

    def __post_init__(self) -> None:
        self.template = "chat" if getattr(self.tokenizer, "chat_template", None) else "role_tagged"
        self.prefix, self.suffix = self._special_tokens()

    def _special_tokens(self) -> tuple[list[int], list[int]]:
        # Tokenizers disagree on how to add specials to pre-cut ids, so read them off an example.
        bare = self.tokenizer("x", add_special_tokens=False)["input_ids"]
        full = self.tokenizer("x", add_special_tokens=True)["input_ids"]
        for start in range(len(full) - len(bare) + 1):
            if full[start : start + len(bare)] == bare:
                return full[:start], full[start + len(bare) :]
        return [], []

    @property
    def pad_id(self) -> int:
        """Padding id; decoders without one pad with EOS (masked out anyway)."""
        for value in (self.tokenizer.pad_token_id, self.tokenizer.eos_token_id):
            if value is not None:
                return int(value)
        return 0

    def describe(self) -> dict[str, Any]:
        """The choices a checkpoint records about input formatting."""
        return {
            "version": FORMAT_VERSION,
            "template": self.template,
            "max_length": self.max_length,
            "truncation": "keep prompt end, response start",
            "response_min_share": RESPONSE_MIN_SHARE,
        }

    def parts(self, prompt: Prompt, response: str) -> tuple[str, str]:
        """Prompt and response text after applying the layout."""
        if self.template == "chat":
            split = chat_templated(self.tokenizer, prompt, response)
            if split is not None:
                return split
        return role_tagged(prompt, response)

    def encode(self, prompt: Prompt, response: str) -> tuple[list[int], int]:
        """Token ids for one input, and the response's untruncated length in tokens."""
        prompt_text, response_text = self.parts(prompt, response)
        prompt_ids = self.tokenizer(prompt_text, add_special_tokens=False, verbose=False)[
            "input_ids"
        ]
        response_ids = self.tokenizer(response_text, add_special_tokens=False, verbose=False)[
            "input_ids"
        ]
        budget = max(self.max_length - len(self.prefix) - len(self.suffix), 2)
        keep_prompt, keep_response = keep_lengths(len(prompt_ids), len(response_ids), budget)
        kept_prompt = prompt_ids[len(prompt_ids) - keep_prompt :]
        ids = self.prefix + kept_prompt + response_ids[:keep_response] + self.suffix
        return ids, len(response_ids)
