"""The dataset card (`README.md`) of an exported dataset folder, in the Hugging Face format.

Its YAML header names the license, task, size, the one split and its data file
(`configs`) and the features, so `datasets.load_dataset(folder)` reads the folder as it is;
its body gives the counts, the annotators' agreement, the date and the product version.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import pyarrow as pa
import yaml
from django.db.models import Count, Q

from annotate.models import Pair, Project
from annotate.quality.measures import (
    agreement_units,
    krippendorff_alpha,
    project_votes,
    training_judgements,
)

# The sizes the Hub's `size_categories` knows, by their upper bound.
SIZE_CATEGORIES = [
    (1_000, "n<1K"),
    (10_000, "1K<n<10K"),
    (100_000, "10K<n<100K"),
    (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"),
    (100_000_000, "10M<n<100M"),
]
FORMAT_NOTES = {
    "trl": "TRL preference rows (`prompt`, `chosen`, `rejected`, and `margin` where votes "
    "record a strength: the mean strength, 1 to 3, of the majority's votes, 0 where none has "
    "one): one per pair whose majority chose a side.",
    "hh": "HH-RLHF rows (`chosen`, `rejected` as full dialogues): one per pair whose majority "
    "chose a side.",
    "judgements": "One row per valid judgement, annotators pseudonymized.",
}


@dataclass(frozen=True)
class CardFacts:
    """What the card says about the data beyond the rows themselves."""

    rows: int
    data_bytes: int  # the data file's size
    pairs: int
    judged_pairs: int
    judgements: int
    annotators: int
    alpha: float | None
    created_at: datetime


def card_facts(project: Project, *, rows: int, data_bytes: int, created_at: datetime) -> CardFacts:
    """Counts and agreement (Krippendorff's alpha over annotators' votes) for the card."""
    counted = training_judgements(project)
    pairs = Pair.objects.filter(project=project, gold_label="").aggregate(
        n=Count("id"), judged=Count("id", filter=Q(judgement_count__gt=0))
    )
    return CardFacts(
        rows=rows,
        data_bytes=data_bytes,
        pairs=pairs["n"],
        judged_pairs=pairs["judged"],
        judgements=counted.count(),
        annotators=counted.exclude(annotator=None).values("annotator").distinct().count(),
        alpha=krippendorff_alpha(agreement_units(project_votes(project))),
        created_at=created_at,
    )


def size_category(rows: int) -> str:
    return next((name for bound, name in SIZE_CATEGORIES if rows < bound), "n>100M")


def feature_yaml(data_type: pa.DataType) -> dict[str, Any]:
    """A column's type as the card's `dataset_info.features` entry (without its name)."""
    if pa.types.is_list(data_type):
        inner = data_type.value_type
        if pa.types.is_struct(inner):
            return {"list": [{"name": f.name, **feature_yaml(f.type)} for f in inner]}
        return {"sequence": feature_yaml(inner)}
    if pa.types.is_struct(data_type):
        return {"struct": [{"name": f.name, **feature_yaml(f.type)} for f in data_type]}
    if pa.types.is_string(data_type) or pa.types.is_large_string(data_type):
        return {"dtype": "string"}
    return {"dtype": str(data_type)}


def dataset_card(
    project: Project,
    *,
    fmt: str,
    data_path: str,
    schema: pa.Schema,
    facts: CardFacts,
    license: str = "unknown",
    options: dict[str, Any] | None = None,
) -> str:
    """The README.md text: YAML header for `datasets`, then a body for people."""
    header = {
        "license": license,
        "task_categories": ["text-generation" if fmt != "judgements" else "text-classification"],
        "language": ["en"],
        "tags": ["preference", "human-feedback", "prefloop", fmt],
        "size_categories": [size_category(facts.rows)],
        "pretty_name": project.name,
        "configs": [
            {"config_name": "default", "data_files": [{"split": "train", "path": data_path}]}
        ],
        "dataset_info": {
            "config_name": "default",
            "features": [{"name": f.name, **feature_yaml(f.type)} for f in schema],
            "splits": [
                {"name": "train", "num_bytes": facts.data_bytes, "num_examples": facts.rows}
            ],
            "download_size": facts.data_bytes,
        },
    }
    front = yaml.safe_dump(header, sort_keys=False, allow_unicode=True)
    return f"---\n{front}---\n\n{_body(project, fmt=fmt, facts=facts, options=options or {})}"


def _body(project: Project, *, fmt: str, facts: CardFacts, options: dict[str, Any]) -> str:
    alpha = (
        "not measurable (too few pairs with two votes)"
        if facts.alpha is None
        else (f"{facts.alpha:.3f}")
    )
    chosen = ", ".join(f"{k}={v}" for k, v in sorted(options.items())) or "none"
    lines = [
        f"# {project.name}",
        "",
        "Human preferences between responses to the same prompt, collected with prefloop "
        f"(project `{project.slug}`).",
        "",
        FORMAT_NOTES.get(fmt, ""),
        "",
        "| | |",
        "|---|---|",
        f"| rows | {facts.rows} |",
        f"| pairs | {facts.pairs} ({facts.judged_pairs} judged) |",
        f"| judgements | {facts.judgements} |",
        f"| annotators | {facts.annotators} (imported votes without a rater not counted) |",
        f"| agreement (Krippendorff's alpha, nominal) | {alpha} |",
        f"| exported | {facts.created_at.date().isoformat()} |",
        f"| export options | {chosen} |",
        f"| product | prefloop {product_version()} |",
        "",
        "Gold check questions are never included. Annotators are pseudonymized per project.",
        "",
        "```python",
        "from datasets import load_dataset",
        "",
        'dataset = load_dataset("path/to/this/folder")',
        "```",
        "",
    ]
    return "\n".join(lines)


@cache
def product_version() -> str:
    """The version in pyproject.toml (the product is run from its repository)."""
    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    try:
        return str(tomllib.loads(pyproject.read_text())["project"]["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "unknown"
