"""make_* helpers that build test data through the same code paths as the product."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.db import connection
from django.utils import timezone

from annotate.importing.pipeline import import_file
from annotate.models import Assignment, Pair, Project, RankedResponse
from annotate.projects.lifecycle import create_project

# Real labelled pairs committed with the repo (PandaLM, Apache-2.0; see annotate/demo/README.md).
DEMO_DATA = Path(__file__).resolve().parents[1] / "annotate" / "demo"


def make_project(slug: str = "proj", **options: Any) -> Project:
    return create_project(slug=slug, name=slug.title(), **options)


def pair_rows(n: int, *, labelled: bool = True, prefix: str = "q") -> list[dict[str, Any]]:
    """n distinct pairs-format rows; the label alternates a/b."""
    rows = []
    for i in range(n):
        row: dict[str, Any] = {
            "id": f"{prefix}-{i}",
            "prompt": f"{prefix} question {i}?",
            "response_a": f"answer one to {prefix} {i}",
            "response_b": f"answer two to {prefix} {i}, longer",
            "model_a": "model-x",
            "model_b": "model-y",
        }
        if labelled:
            row["label"] = "a" if i % 2 == 0 else "b"
        rows.append(row)
    return rows


def demo_rows(n: int, *, part: str = "labelled") -> list[dict[str, Any]]:
    """The first n rows of the demo slice (`labelled` or `pending`), each with a/b/tie label."""
    lines = (DEMO_DATA / f"pandalm-{part}.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines[:n]]


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return path


def make_pairs(project: Project, tmp_path: Path, n: int, **kwargs: Any) -> None:
    """Import n generated pairs into the project."""
    labels = kwargs.pop("labels", "judgements")
    path = write_jsonl(tmp_path / f"pairs-{project.slug}-{n}.jsonl", pair_rows(n, **kwargs))
    import_file(project, path, labels=labels)


def with_gold_checks(project: Project, tmp_path: Path, ordinary: int) -> Project:
    """`ordinary` pending pairs and 3 gold pairs (labels a, b, a), a gold check served every
    time, and a pause below 70% right after 3 answers."""
    import_file(project, write_jsonl(tmp_path / "p.jsonl", pair_rows(ordinary, labelled=False)))
    gold = pair_rows(3, prefix="g")
    import_file(project, write_jsonl(tmp_path / "g.jsonl", gold), labels="gold")
    project.gold_rate = 1.0
    project.gold_min_answers = 3
    project.gold_min_accuracy = 0.7
    project.save()
    return project


def tasks_sent(callbacks: list[Any]) -> list[Any]:
    """The on-commit callbacks that send work to a worker: all but the project events."""
    from annotate.signals import _send_project_event

    return [c for c in callbacks if getattr(c, "func", None) is not _send_project_event]


def item_response_ids(pair: Pair) -> list[int]:
    """A ranking item's response ids in item order (as imported)."""
    return list(
        RankedResponse.objects.filter(pair=pair)
        .order_by("position")
        .values_list("response_id", flat=True)
    )


def judged_lease(pair: Pair, user: Any, *, random_slice: bool) -> Assignment:
    """A closed lease of `pair` that `user` judged, from the random slice or not."""
    return Assignment.objects.create(
        pair=pair,
        annotator=user,
        left_is_a=True,
        expires_at=timezone.now() + timedelta(minutes=5),
        random_slice=random_slice,
        closed_at=timezone.now(),
        outcome="judged",
    )


def database_triggers() -> set[str]:
    """The names of the database's own triggers (a SQLite table rebuild drops a table's)."""
    if connection.vendor == "sqlite":
        sql = "SELECT name FROM sqlite_master WHERE type = 'trigger'"
    else:
        sql = "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return {row[0] for row in cursor.fetchall()}
