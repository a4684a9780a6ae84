"""Signals the annotation side sends; other apps (rewards) subscribe, annotate imports none."""

from __future__ import annotations

from dataclasses import dataclass

from django.dispatch import Signal

# Sent after an import that created responses has committed; kwargs: project.
responses_imported = Signal()

# Sent while the pair page is built; kwargs: pair. A receiver returns a PairDetail (or None)
# to show its own facts about the pair, e.g. the served reward model's rewards.
pair_details = Signal()


@dataclass(frozen=True)
class PairDetail:
    title: str
    rows: list[tuple[str, str]]
