"""What each training mode costs on these workers, from the speed of past versions.

Web-safe (no torch): it reads `training_seconds`, `judgements` and the recorded throughput
of the latest versions of each mode, across projects, since they ran on the same workers.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from django.conf import settings

from annotate.models import Judgement, Project
from rewards.models import Mode, RewardModel

# Versions per mode whose speed is pooled (the median resists one odd run).
RECENT_VERSIONS = 5


class NeedsConfirmation(Exception):
    """A run estimated to take longer than REWARDS_CONFIRM_SECONDS was not confirmed."""


@dataclass(frozen=True)
class ModeCost:
    """A mode's measured speed and what a run on the project's judgements would take now."""

    mode: str
    judgements: int
    judgements_per_s: float | None
    pairs_per_s: float | None
    tokens_per_s: float | None
    mfu: float | None
    device: str
    measured_versions: int
    seconds: float | None

    @property
    def needs_confirmation(self) -> bool:
        """Longer than REWARDS_CONFIRM_SECONDS by the estimate."""
        return self.seconds is not None and self.seconds > settings.REWARDS_CONFIRM_SECONDS

    @property
    def summary(self) -> str:
        """One line for the page, the API answer and the command."""
        if self.seconds is None:
            return f"{self.mode}: not measured on these workers yet (no {self.mode} version)"
        where = f" on {self.device}" if self.device else ""
        return (
            f"{self.mode}: about {duration(self.seconds)} for {self.judgements} judgements"
            f"{where} ({self.judgements_per_s:.3g} judgements/s end to end, median of the "
            f"last {self.measured_versions} {self.mode} versions)"
        )


def duration(seconds: float) -> str:
    """Seconds as a rounded human duration."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def mode_cost(project: Project, mode: str) -> ModeCost:
    """The estimate for one mode on `project`'s current judgements."""
    recent = list(
        RewardModel.objects.filter(mode=mode, training_seconds__gt=0, judgements__gt=0)
        .order_by("-trained_at")
        .values_list("judgements", "training_seconds", "metrics")[:RECENT_VERSIONS]
    )
    speeds = [metrics.get("throughput") or {} for _, _, metrics in recent]
    rate = _median([j / s for j, s, _ in recent])
    judgements = Judgement.objects.filter(pair__project=project).count()
    mfus = [s["mfu"] for s in speeds if s.get("mfu") is not None]
    return ModeCost(
        mode=mode,
        judgements=judgements,
        judgements_per_s=rate,
        pairs_per_s=_median([s["pairs_per_s"] for s in speeds if s.get("pairs_per_s")]),
        tokens_per_s=_median([s["tokens_per_s"] for s in speeds if s.get("tokens_per_s")]),
        mfu=_median(mfus),
        device=next((str(s["device"]) for s in speeds if s.get("device")), ""),
        measured_versions=len(recent),
        seconds=judgements / rate if rate else None,
    )


def mode_costs(project: Project) -> list[ModeCost]:
    """Estimates for the modes an admin can start (heads, finetune)."""
    return [mode_cost(project, mode) for mode in (Mode.HEADS, Mode.FINETUNE)]


def check_cost(project: Project, mode: str, *, confirm: bool) -> ModeCost:
    """The mode's estimate; raises NeedsConfirmation when it is long and not confirmed."""
    cost = mode_cost(project, mode)
    if cost.needs_confirmation and not confirm:
        raise NeedsConfirmation(
            f"{cost.summary}, over the {duration(settings.REWARDS_CONFIRM_SECONDS)} that "
            "starts without asking; confirm to start it, or send it to a GPU worker "
            "(REWARDS_QUEUE=gpu)"
        )
    return cost
