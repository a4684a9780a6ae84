"""Bring your own reward model: register an external model and upload its per-response rewards.

A team that trains its reward model elsewhere (TRL on its own GPUs) uploads rewards for the
project's responses. The upload is validated like an import (errors by line, all or nothing);
the external model is then a version like the others: it can be served, its scores drive the
re-ranking, and its baseline is measured on the project's judged pairs. No torch is needed.
"""

from __future__ import annotations

import contextlib
import math
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from django.db import transaction
from django.db.models import Max

from annotate.formats import (
    MAX_REPORTED_ERRORS,
    FieldError,
    ImportFormatError,
    RowError,
    parse_prompt,
    prompt_hash,
    sha256,
)
from annotate.importing.reading import read_rows
from annotate.models import Pair, Project, Prompt, Response
from rewards.models import Mode, ResponseScore, RewardModel
from rewards.normalization import record_reward_stats
from rewards.pair_ids import item_of, responses_of
from rewards.tasks import rerank_project_task

if TYPE_CHECKING:  # the model side stays out of web processes' imports
    from rewards.ml.data import PreferencePair

# An upload this long is a few MB of JSON; larger score sets go in several uploads.
MAX_SCORE_ROWS = 200_000
MAX_MEMBERS = 64
# Reward models give logits (tens, hundreds); past this their stats and spreads would overflow.
MAX_ABS_REWARD = 1e9
# Response ids are 64-bit (BigAutoField); a larger one names nothing and no database takes it.
MAX_RESPONSE_ID = 2**63 - 1


@dataclass(frozen=True)
class ScoreIn:
    """One validated upload row, its response not yet resolved."""

    line: int
    response_id: int | None
    prompt_digest: str | None
    text_digest: str | None
    reward: float
    members: list[float]


def register_external_model(project: Project, *, name: str) -> RewardModel:
    """A new version of the project, served by uploaded scores instead of a checkpoint."""
    with transaction.atomic():
        # Lock the project row so two registrations (or a training run) get distinct versions.
        Project.objects.select_for_update().filter(pk=project.pk).first()
        version = (project.reward_models.aggregate(m=Max("version"))["m"] or 0) + 1
        return RewardModel.objects.create(
            project=project,
            version=version,
            mode=Mode.EXTERNAL,
            name=name,
            promotion_note="external: upload scores, then activate to serve",
        )


class UnknownExternalModel(Exception):
    """No external model with this id in the project."""


def access_external_model(project: Project, pk: int) -> RewardModel:
    """The project's external model `pk`; raises UnknownExternalModel."""
    model = RewardModel.objects.filter(project=project, pk=pk, mode=Mode.EXTERNAL).first()
    if model is None:
        raise UnknownExternalModel("no such external model in this project")
    return model


def upload_external_scores(model: RewardModel, data: dict[str, Any]) -> int:
    """Store the rows of a checked upload (`scores` or a JSONL `file`); all or none.

    Returns the responses scored; raises ImportFormatError naming the bad lines. When the
    model is served, the queue is re-ranked with the new scores once they are committed.
    """
    with score_rows(data) as rows, transaction.atomic():
        scored = upload_scores(model, rows)
        if model.is_active:
            # celery-types' Task lacks delay_on_commit; our tasks are DjangoTasks (config.celery).
            rerank_project_task.delay_on_commit(model.project_id)  # type: ignore[attr-defined]
    model.refresh_from_db()
    return scored


def upload_scores(model: RewardModel, rows: Iterable[tuple[int, Any]]) -> int:
    """Validate every row, then store all rewards or none; returns the responses scored.

    Raises ImportFormatError naming the bad lines. A response scored again is overwritten.
    """
    parsed: list[ScoreIn] = []
    errors: list[RowError] = []
    for line, raw in rows:
        if len(parsed) + len(errors) >= MAX_SCORE_ROWS:
            errors.append(RowError(line, "", f"more than {MAX_SCORE_ROWS} rows; split the upload"))
            break
        if isinstance(raw, RowError):
            errors.append(raw)
            continue
        try:
            parsed.append(parse_score_row(line, raw))
        except FieldError as exc:
            errors.append(RowError(line, exc.field, exc.message))
    if not parsed and not errors:
        errors.append(RowError(0, "", "no scores in the upload"))
    _check_member_counts(model, parsed, errors)
    resolved = _resolve(model.project, parsed, errors)
    if errors:
        raise ImportFormatError(errors[:MAX_REPORTED_ERRORS], len(errors))
    _store(model, resolved)
    return len(resolved)


def parse_score_row(line: int, raw: Any) -> ScoreIn:
    """`{"response_id" | "prompt" + "text", "reward", "members"?}` checked field by field."""
    if not isinstance(raw, dict):
        raise FieldError("", "each row must be a JSON object")
    reward = _finite(raw.get("reward"), "reward")
    members = raw.get("members")
    if members is None:
        members = [reward]
    elif not isinstance(members, list) or not 1 <= len(members) <= MAX_MEMBERS:
        raise FieldError("members", f"must be a list of 1 to {MAX_MEMBERS} numbers")
    else:
        members = [_finite(m, f"members[{i}]") for i, m in enumerate(members)]
    if "response_id" in raw:
        rid = raw["response_id"]
        if isinstance(rid, bool) or not isinstance(rid, int) or not 1 <= rid <= MAX_RESPONSE_ID:
            raise FieldError("response_id", "must be a positive integer")
        return ScoreIn(line, rid, None, None, reward, members)
    if "prompt" not in raw or not isinstance(raw.get("text"), str):
        raise FieldError("", 'give "response_id", or "prompt" and "text"')
    messages = parse_prompt(raw["prompt"], "prompt")
    return ScoreIn(line, None, prompt_hash(messages), sha256(raw["text"]), reward, members)


def _check_member_counts(model: RewardModel, rows: list[ScoreIn], errors: list[RowError]) -> None:
    """Every response of one model needs the same number of members (the re-rank compares them)."""
    stored = ResponseScore.objects.filter(model=model).values_list("members", flat=True).first()
    expected = len(stored) if stored is not None else (len(rows[0].members) if rows else 0)
    errors.extend(
        RowError(row.line, "members", f"has {len(row.members)} members; this model uses {expected}")
        for row in rows
        if len(row.members) != expected
    )


def _finite(value: Any, field: str) -> float:
    """A reward: any float a reward model gives, not one whose square or sum overflows."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FieldError(field, "must be a finite number")
    try:
        number = float(value)
    except OverflowError:  # an integer of hundreds of digits
        number = math.inf
    if not math.isfinite(number) or abs(number) > MAX_ABS_REWARD:
        raise FieldError(
            field, f"must be a finite number from -{MAX_ABS_REWARD:,.0f} to {MAX_ABS_REWARD:,.0f}"
        )
    return number


def _resolve(project: Project, rows: list[ScoreIn], errors: list[RowError]) -> dict[int, ScoreIn]:
    """response id -> row; unknown or repeated responses become errors."""
    by_id = {r.response_id for r in rows if r.response_id is not None}
    known = set(
        Response.objects.filter(prompt__project=project, pk__in=by_id).values_list("pk", flat=True)
    )
    # Keyed so that a row without digests looks up None and finds nothing.
    prompts: dict[str | None, int] = dict(
        Prompt.objects.filter(
            project=project, content_hash__in={r.prompt_digest for r in rows if r.prompt_digest}
        ).values_list("content_hash", "pk")
    )
    texts: dict[tuple[int | None, str | None], int] = {
        (prompt_id, digest): pk
        for pk, prompt_id, digest in Response.objects.filter(
            prompt_id__in=prompts.values(),
            content_hash__in={r.text_digest for r in rows if r.text_digest},
        ).values_list("pk", "prompt_id", "content_hash")
    }
    resolved: dict[int, ScoreIn] = {}
    for row in rows:
        if row.response_id is not None:
            rid = row.response_id if row.response_id in known else None
            missing = RowError(row.line, "response_id", "no such response in this project")
        else:
            rid = texts.get((prompts.get(row.prompt_digest), row.text_digest))
            missing = RowError(row.line, "text", "no response with this prompt and text")
        if rid is None:
            errors.append(missing)
        elif rid in resolved:
            errors.append(
                RowError(
                    row.line, "", f"response {rid} already scored on line {resolved[rid].line}"
                )
            )
        else:
            resolved[rid] = row
    return resolved


def _store(model: RewardModel, rows: dict[int, ScoreIn]) -> None:
    with transaction.atomic():
        ResponseScore.objects.filter(model=model, response_id__in=list(rows)).delete()
        ResponseScore.objects.bulk_create(
            [
                ResponseScore(
                    response_id=rid,
                    model=model,
                    # The reward is the model's own number; members only carry its uncertainty.
                    mean=row.reward,
                    std=float(np.std(row.members)),
                    members=row.members,
                )
                for rid, row in rows.items()
            ],
            batch_size=2000,
        )
        record_reward_stats(model)
        measure_external_model(model)


def measure_external_model(model: RewardModel) -> None:
    """Validation metrics and the length baseline on the project's judged pairs.

    The same split as trained versions (length fitted on the training pairs, both measured on
    the validation pairs), restricted to pairs whose two responses have uploaded scores.
    """
    # Numpy only, but the model side stays out of web processes' imports (one edit from torch).
    from rewards.ml.baseline import compare_with_length
    from rewards.ml.metrics import evaluate
    from rewards.worker.snapshot import snapshot_project

    snapshot = snapshot_project(model.project)
    sides = _compared_responses(snapshot.validation)
    rewards = dict(
        ResponseScore.objects.filter(
            model=model, response__prompt__project=model.project_id
        ).values_list("response_id", "mean")
    )
    scored = [
        (p, *sides[p.id])
        for p in snapshot.validation
        if p.id in sides and all(rid in rewards for rid in sides[p.id])
    ]
    pairs = [p for p, _, _ in scored]
    rewards_a = np.array([rewards[a] for _, a, _ in scored])
    rewards_b = np.array([rewards[b] for _, _, b in scored])
    p_a = 1.0 / (1.0 + np.exp(-(rewards_a - rewards_b)))
    model.metrics = evaluate(p_a, [p.label for p in pairs])
    model.baseline = compare_with_length(
        snapshot.train, pairs, p_a, rewards_a=rewards_a, rewards_b=rewards_b
    )
    model.judgements = snapshot.judgements
    model.last_judgement_id = snapshot.last_judgement_id
    model.save(update_fields=["metrics", "baseline", "judgements", "last_judgement_id"])


def _compared_responses(pairs: list[PreferencePair]) -> dict[str, tuple[int, int]]:
    """Each training pair's two response ids, by its id (pairs whose id names no item left
    out): a ranking item's implied pair names them in its id, a whole pair is its item's."""
    sides: dict[str, tuple[int, int]] = {}
    whole: dict[int, str] = {}
    for p in pairs:
        item = item_of(p.id)
        if p.id is None or item is None:
            continue
        if compared := responses_of(p.id):
            sides[p.id] = compared
        else:
            whole[item] = p.id
    for pk, a, b in Pair.objects.filter(pk__in=list(whole)).values_list(
        "pk", "response_a_id", "response_b_id"
    ):
        sides[whole[pk]] = (a, b)
    return sides


@contextlib.contextmanager
def score_rows(data: dict) -> Iterator[Iterable[tuple[int, Any]]]:
    """(line, row) pairs from a JSON body (line = position, from 1) or a JSONL upload."""
    if "scores" in data:
        yield enumerate(data["scores"], start=1)
        return
    with tempfile.NamedTemporaryFile(suffix=".jsonl") as copy:
        for chunk in data["file"].chunks():
            copy.write(chunk)
        copy.flush()
        yield read_rows(copy.name, "jsonl")
