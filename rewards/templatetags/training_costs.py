"""`{% mode_costs project as costs %}`: what each mode costs on these workers (models page)."""

from __future__ import annotations

from django import template

from annotate.models import Project
from rewards.costs import ModeCost, mode_costs

register = template.Library()


@register.simple_tag
def project_mode_costs(project: Project) -> list[ModeCost]:
    """The per-mode estimates of rewards.costs for the page."""
    return mode_costs(project)
