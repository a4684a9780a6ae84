"""Signals the annotation side sends; other apps (rewards) subscribe, annotate imports none."""

from __future__ import annotations

from django.dispatch import Signal

# Sent after an import that created responses has committed; kwargs: project.
responses_imported = Signal()

# Sent when a project's leaderboard is built; kwargs: project, judgements (the counted ones),
# models and ratings (the human ranking). Receivers return a dict of extra sections (rewards
# adds the reward model's view) so annotate shows them without importing their app.
leaderboard_built = Signal()
