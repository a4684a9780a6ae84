"""Exporting a project's preferences as datasets (TRL, HH-RLHF, per-judgement rows)."""
