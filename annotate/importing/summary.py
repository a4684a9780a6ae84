"""What an import did, row by row kind: the summary a job, the CLI and the API report."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class ImportSummary:
    format: str = ""
    rows: int = 0
    prompts_created: int = 0
    prompts_existing: int = 0
    responses_created: int = 0
    responses_existing: int = 0
    pairs_created: int = 0
    pairs_existing: int = 0
    judgements_created: int = 0
    judgements_existing: int = 0
    # Models newly recorded as having written a response (one text may come from several).
    sources_created: int = 0
    # What became of each comparison the file made (a row of pairs, trl or hh is one; a
    # responses row makes several): a new pair; merged into a pair already present or earlier in
    # the file, keeping its vote and its models; or nothing new (an exact re-import).
    comparisons: int = 0
    comparisons_created: int = 0
    comparisons_merged: int = 0
    comparisons_skipped: int = 0
    # Pairs rows read into a ranking project: each gathered into the ranking items of its
    # prompt (new or already present), its two responses among the prompt's candidates.
    rows_gathered: int = 0

    def as_dict(self) -> dict[str, int | str]:
        return asdict(self)

    def describe(self) -> str:
        """One line per kind: what was created and what already existed."""
        kinds = ("prompts", "responses", "pairs", "judgements")
        lines = [f"{self.rows} rows read as '{self.format}'"]
        if self.comparisons:
            lines.append(
                f"comparisons: {self.comparisons_created} made a new pair,"
                f" {self.comparisons_merged} merged into a pair already present (vote and"
                f" models kept), {self.comparisons_skipped} already imported (skipped)"
            )
        if self.rows_gathered:
            lines.append(
                f"pairs rows: {self.rows_gathered} gathered into the ranking items of their"
                f" {self.prompts_created + self.prompts_existing} prompts"
            )
        for kind in kinds:
            created = getattr(self, f"{kind}_created")
            existing = getattr(self, f"{kind}_existing")
            lines.append(f"{kind}: {created} created, {existing} already present (skipped)")
        if self.rows and not any(getattr(self, f"{k}_created") for k in kinds):
            lines.append("Nothing new: everything in this file was already imported.")
        return "\n".join(lines)
