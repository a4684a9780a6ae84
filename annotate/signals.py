"""Signals the annotation side sends; other apps (rewards) subscribe, annotate imports none."""

from __future__ import annotations

from django.dispatch import Signal

# Sent after an import that created responses has committed; kwargs: project.
responses_imported = Signal()
