"""Input layout: chat template when there is one, and truncation that keeps the prompt's end."""

from __future__ import annotations

import pytest
from transformers import AutoTokenizer

from rewards.ml.formatting import Formatter, keep_lengths


@pytest.fixture
def tokenizer(tiny_backbone: str):
    return AutoTokenizer.from_pretrained(tiny_backbone, local_files_only=True)


def test_it_keeps_the_end_of_a_long_prompt_and_the_start_of_the_response(tokenizer) -> None:
    # given a long prompt whose last words matter, and a long response
    prompt = "cat " * 40 + "what is the sun"
    response = "the sun is a light " + "water " * 40
    formatter = Formatter(tokenizer, max_length=24)

    # when encoded
    ids, response_tokens = formatter.encode(prompt, response)
    text = tokenizer.decode(ids)

    # then both ends survive within the budget, wrapped in the special tokens
    assert len(ids) == 24
    assert "what is the sun assistant" in text
    assert "the sun is a light" in text
    assert text.startswith("[CLS]") and text.endswith("[SEP]")
    assert response_tokens == 45


def test_it_keeps_short_inputs_whole(tokenizer) -> None:
    ids, _ = Formatter(tokenizer, max_length=64).encode("tell me", "good dog")
    assert tokenizer.decode(ids) == "[CLS] user [UNK] tell me assistant [UNK] good dog [SEP]"


def test_it_lets_a_short_prompt_leave_room_for_the_response() -> None:
    assert keep_lengths(n_prompt=3, n_response=100, budget=20) == (3, 17)
    assert keep_lengths(n_prompt=100, n_response=100, budget=20) == (10, 10)
    assert keep_lengths(n_prompt=100, n_response=4, budget=20) == (16, 4)


def test_it_uses_the_chat_template_when_the_tokenizer_has_one(tokenizer) -> None:
    # given a tokenizer with a chat template
    tokenizer.chat_template = (
        "{% for m in messages %}<{{ m['role'] }}> {{ m['content'] }} {% endfor %}"
        "{% if add_generation_prompt %}<assistant> {% endif %}"
    )
    formatter = Formatter(tokenizer, max_length=64)

    # when a multi-turn prompt is laid out
    prompt = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yes"}]
    head, tail = formatter.parts(prompt, "good dog")

    # then the template renders the turns and the response follows the generation prompt
    assert formatter.template == "chat"
    assert head == "<user> hi <assistant> yes <assistant> "
    assert tail.strip() == "good dog"
