"""What an AI judge is asked and how its answer is read: the templates and the verdict parser.

The default prompt is MT-Bench's pairwise judge prompt (lm-sys/FastChat
`fastchat/llm_judge/data/judge_prompts.jsonl`, "pair-v2"), with the project's guidelines and
criteria added. The verdict is read strictly: exactly one of the tags `[[A]]`, `[[B]]`, `[[C]]`
(a tie), or a reply that is one JSON object with a `"verdict"` of "A", "B", "C" or "tie".
Anything else is unparsed, and an unparsed verdict is never a vote.

Pure functions: no Django, so the rules are tested on their own.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from string import Template

# Placeholders a template may use; a template must show both answers and the conversation.
PLACEHOLDERS = ("conversation", "answer_a", "answer_b", "guidelines", "criteria")
REQUIRED = ("conversation", "answer_a", "answer_b")
MAX_TEMPLATE_CHARS = 20_000

DEFAULT_SYSTEM_TEMPLATE = (
    "Please act as an impartial judge and evaluate the quality of the responses provided by "
    "two AI assistants to the user question displayed below. You should choose the assistant "
    "that follows the user's instructions and answers the user's question better. Your "
    "evaluation should consider factors such as the helpfulness, relevance, accuracy, depth, "
    "creativity, and level of detail of their responses.\n"
    "${guidelines}${criteria}"
    "Begin your evaluation by comparing the two responses and provide a short explanation. "
    "Avoid any position biases and ensure that the order in which the responses were presented "
    "does not influence your decision. Do not allow the length of the responses to influence "
    "your evaluation. Do not favor certain names of the assistants. Be as objective as "
    "possible. After providing your explanation, output your final verdict by strictly "
    'following this format: "[[A]]" if assistant A is better, "[[B]]" if assistant B is '
    'better, and "[[C]]" for a tie.'
)
DEFAULT_USER_TEMPLATE = (
    "[User Question]\n$conversation\n\n"
    "[The Start of Assistant A's Answer]\n$answer_a\n[The End of Assistant A's Answer]\n\n"
    "[The Start of Assistant B's Answer]\n$answer_b\n[The End of Assistant B's Answer]"
)

# Shown first: "ab" puts the pair's response a in the place of assistant A, "ba" swaps them.
ORDERS = ("ab", "ba")
TAG = re.compile(r"\[\[([ABC])\]\]")
FENCE = re.compile(r"\A```(?:json)?\s*\n(?P<body>.*)\n```\Z", re.DOTALL)
JSON_VERDICTS = {"A": "A", "B": "B", "C": "C", "TIE": "C"}


class TemplateInvalid(ValueError):
    """A template that cannot be used; `field` names the template, the message the problem."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


def check_template(text: str, *, field: str) -> str:
    """The template, if it uses only known `$placeholders` and (for the user template) shows
    the conversation and both answers; else TemplateInvalid naming the problem."""
    if len(text) > MAX_TEMPLATE_CHARS:
        raise TemplateInvalid(field, f"at most {MAX_TEMPLATE_CHARS} characters")
    template = Template(text)
    if not template.is_valid():
        raise TemplateInvalid(field, "a lone '$' (write '$$' for a dollar sign)")
    unknown = sorted(set(template.get_identifiers()) - set(PLACEHOLDERS))
    if unknown:
        known = ", ".join(f"${name}" for name in PLACEHOLDERS)
        raise TemplateInvalid(field, f"unknown placeholder ${unknown[0]}; use {known}")
    return text


def check_user_template(text: str) -> str:
    check_template(text, field="user_template")
    missing = [name for name in REQUIRED if name not in Template(text).get_identifiers()]
    if missing:
        raise TemplateInvalid("user_template", f"must contain ${missing[0]}")
    return text


@dataclass(frozen=True)
class Criterion:
    name: str
    guidance: str = ""


def conversation_text(messages: list[dict[str, str]]) -> str:
    """The prompt as the judge reads it: the text of a single user turn, else a transcript."""
    if len(messages) == 1 and messages[0].get("role") == "user":
        return messages[0].get("content", "")
    return "\n\n".join(f"[{m.get('role', 'user')}]\n{m.get('content', '')}" for m in messages)


def render_messages(
    *,
    system_template: str,
    user_template: str,
    messages: list[dict[str, str]],
    first: str,
    second: str,
    guidelines: str = "",
    criteria: tuple[Criterion, ...] = (),
) -> list[dict[str, str]]:
    """The chat messages of one judging call: `first` is shown as assistant A."""
    values = {
        "conversation": conversation_text(messages),
        "answer_a": first,
        "answer_b": second,
        "guidelines": f"The project's guidelines for judging:\n{guidelines.strip()}\n\n"
        if guidelines.strip()
        else "",
        "criteria": _criteria_text(criteria),
    }
    system = Template(system_template).substitute(values)
    user = Template(user_template).substitute(values)
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def _criteria_text(criteria: tuple[Criterion, ...]) -> str:
    if not criteria:
        return ""
    lines = "\n".join(
        f"- {c.name}" + (f": {c.guidance.strip()}" if c.guidance.strip() else "") for c in criteria
    )
    return f"Weigh these criteria:\n{lines}\n\n"


@dataclass(frozen=True)
class ParsedVerdict:
    """What the judge said, in its own terms: "A", "B" or "C" (tie); "" when it did not parse."""

    shown: str
    reasoning: str
    error: str = ""

    @property
    def ok(self) -> bool:
        return bool(self.shown)


def parse_verdict(text: str) -> ParsedVerdict:
    """Read a judge's reply strictly: one JSON object with a verdict, or exactly one tag kind."""
    stripped = text.strip()
    fenced = FENCE.match(stripped)
    body = fenced.group("body").strip() if fenced else stripped
    if body.startswith("{"):
        return _parse_json(body)
    tags = TAG.findall(stripped)
    if not tags:
        return ParsedVerdict("", stripped, "no verdict: expected [[A]], [[B]] or [[C]]")
    if len(set(tags)) > 1:
        found = ", ".join(f"[[{t}]]" for t in sorted(set(tags)))
        return ParsedVerdict("", stripped, f"ambiguous verdict: {found}")
    last = list(TAG.finditer(stripped))[-1]
    reasoning = (stripped[: last.start()] + stripped[last.end() :]).strip()
    return ParsedVerdict(tags[0], reasoning)


def _parse_json(body: str) -> ParsedVerdict:
    try:
        value = json.loads(body)
    except ValueError as error:
        return ParsedVerdict("", body, f"malformed JSON verdict: {error}")
    if not isinstance(value, dict) or not isinstance(value.get("verdict"), str):
        return ParsedVerdict("", body, 'JSON verdict: expected an object with a "verdict" string')
    shown = JSON_VERDICTS.get(value["verdict"].strip().upper(), "")
    reasoning = value.get("reasoning", value.get("explanation", ""))
    reasoning = reasoning if isinstance(reasoning, str) else ""
    if not shown:
        return ParsedVerdict(
            "", reasoning, f'JSON verdict {value["verdict"]!r}: expected "A", "B", "C" or "tie"'
        )
    return ParsedVerdict(shown, reasoning)


def canonical_choice(shown: str, order: str) -> str:
    """The verdict in the pair's terms ("a", "b", "tie"), given which response was shown first."""
    if shown == "C":
        return "tie"
    first_is_a = order == "ab"
    return "a" if (shown == "A") == first_is_a else "b"


def combine(first: str, second: str) -> tuple[str, str]:
    """(outcome, choice) from the canonical choices of both orders ("" when unparsed).

    Consistent verdicts are a vote; verdicts that differ across the swap are inconsistent and
    are not a vote; an unparsed verdict leaves the pair without a vote.
    """
    if not first or not second:
        return "unparsed", ""
    if first != second:
        return "inconsistent", ""
    return "vote", first
