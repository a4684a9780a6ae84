"""The judge's prompt and the strict reading of its verdict (no server, no database)."""

from __future__ import annotations

import pytest

from generation.judges_prompt import (
    DEFAULT_SYSTEM_TEMPLATE,
    DEFAULT_USER_TEMPLATE,
    Criterion,
    TemplateInvalid,
    canonical_choice,
    check_template,
    check_user_template,
    combine,
    parse_verdict,
    render_messages,
)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("A is more accurate.\n\n[[A]]", "A"),
        ("[[B]]", "B"),
        ("Equally good. [[C]]", "C"),
        ("Final verdict: [[B]]. As I said, [[B]]", "B"),
        ('{"verdict": "A", "reasoning": "shorter and right"}', "A"),
        ('```json\n{"verdict": "tie"}\n```', "C"),
        ('{"verdict": "b"}', "B"),
    ],
)
def test_a_verdict_in_a_tag_or_json_parses(text: str, shown: str) -> None:
    assert parse_verdict(text).shown == shown


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("Both are fine.", "no verdict"),
        ("[[A]] at first, but then [[B]]", "ambiguous"),
        ("Verdict: [A]", "no verdict"),
        ('{"verdict": "A"', "malformed JSON"),
        ('{"verdict": "assistant A"}', "expected"),
        ('{"winner": "A"}', '"verdict"'),
        ("[1, 2]", "no verdict"),
    ],
)
def test_anything_else_is_unparsed_with_the_reason(text: str, error: str) -> None:
    parsed = parse_verdict(text)
    assert not parsed.ok and error in parsed.error


def test_the_reasoning_is_kept_without_the_tag() -> None:
    assert parse_verdict("B cites sources. [[B]]").reasoning == "B cites sources."
    assert parse_verdict('{"verdict": "A", "explanation": "why"}').reasoning == "why"


def test_verdicts_of_the_swapped_order_map_back_to_the_pair() -> None:
    assert canonical_choice("A", "ab") == "a" and canonical_choice("A", "ba") == "b"
    assert canonical_choice("B", "ba") == "a" and canonical_choice("C", "ba") == "tie"
    assert combine("a", "a") == ("vote", "a")
    assert combine("a", "b") == ("inconsistent", "")
    assert combine("tie", "a") == ("inconsistent", "")
    assert combine("", "a") == ("unparsed", "")


def test_the_default_prompt_carries_guidelines_criteria_and_the_mt_bench_tags() -> None:
    messages = render_messages(
        system_template=DEFAULT_SYSTEM_TEMPLATE,
        user_template=DEFAULT_USER_TEMPLATE,
        messages=[{"role": "user", "content": "What is 2+2?"}],
        first="4",
        second="5",
        guidelines="Prefer correct answers.",
        criteria=(Criterion("accuracy", "is it right?"),),
    )
    system, user = messages[0]["content"], messages[1]["content"]
    assert "Prefer correct answers." in system and "- accuracy: is it right?" in system
    assert '"[[A]]"' in system and '"[[C]]" for a tie' in system
    assert "[User Question]\nWhat is 2+2?" in user
    assert user.index("4\n[The End of Assistant A's Answer]") < user.index("\n5\n")


def test_a_template_with_an_unknown_or_missing_placeholder_is_refused() -> None:
    with pytest.raises(TemplateInvalid, match=r"\$answr_a"):
        check_template("$answr_a", field="system_template")
    with pytest.raises(TemplateInvalid, match="lone"):
        check_template("costs $ 5", field="system_template")
    with pytest.raises(TemplateInvalid, match=r"\$answer_b"):
        check_user_template("$conversation $answer_a")
    assert check_template("costs $$5 $guidelines", field="system_template")
