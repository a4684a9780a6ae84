"""The one bridge between the ORM and `rewards.ml`: train, promote, re-rank, embed, score.

Called from Celery tasks (never from web requests: they must not load torch). Each function
takes ids, so a redelivered task re-reads the database.
"""

from __future__ import annotations

import logging
import math
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Max
from django.utils import timezone

from annotate.models import Project, Response
from rewards.ml.baseline import beats_length
from rewards.models import (
    EmbeddingRun,
    Mode,
    ResponseScore,
    RewardModel,
    ScoreRequest,
    TrainingRun,
)
from rewards.normalization import normalize, record_reward_stats
from rewards.random_slice import split_by_lease_kind
from rewards.runs import (
    RunNoLongerLive,
    ensure_running,
    finish_run,
    promote_model,
    promote_run_model,
    report_progress,
)
from rewards.tasks import rerank_project_task
from rewards.worker.artifacts import cache_checkpoint, local_model_dir, store_checkpoint
from rewards.worker.priorities import rewrite_priorities
from rewards.worker.snapshot import Snapshot, snapshot_project

logger = logging.getLogger(__name__)
Status = TrainingRun.Status

# Fewer pairs than this cannot train and validate a model meaningfully.
MIN_TRAIN_PAIRS = 10
# Responses scored per forward batch.
SCORE_BATCH = 2000
# Split over GPUs, a round scores this many batches: each device loads the model once a round.
DEVICE_ROUND_BATCHES = 10
# Options an admin may pass to a run, checked against TrainConfig's fields.
RUN_OPTIONS = (
    "backbone",
    "members",
    "epochs",
    "lr",
    "weight_decay",
    "max_length",
    "seed",
    "lora_rank",
    "lora_alpha",
    "lora_dropout",
    "lora_targets",
    "gpus",
    "sharding",
    "max_tokens_per_batch",
    "margin_per_strength",
)


class NotEnoughJudgements(Exception):
    """The project has too few decided pairs to train on."""


# ---------------------------------------------------------------- training


def train_reward_model(run_id: int) -> None:
    """Train a claimed run: snapshot, train, store the version, promote it if not worse.

    A failure before promotion marks the run failed and leaves the served model untouched.
    Once promoted the version is served: a failed re-rank after that is recorded on the
    version and retried, and the run still succeeded. A run cancelled (or failed as stale)
    meanwhile stops at its next progress report and keeps its status; a version it had already
    stored is kept unserved.
    """
    run = TrainingRun.objects.select_related("project").get(pk=run_id)  # claimed: it exists
    try:
        snapshot = snapshot_project(run.project, criterion=run.options.get("criterion", ""))
        ensure_running(run_id)
        if len(snapshot.train) < MIN_TRAIN_PAIRS:
            raise NotEnoughJudgements(
                f"{len(snapshot.train)} decided pairs to train on; at least {MIN_TRAIN_PAIRS} "
                "are needed (ties count, both-bad and split votes do not)"
            )
        model = _train_version(run, snapshot)
        report_progress(run_id, 0.96, "comparing model-chosen and random labels")
        measure_label_value(model, run, snapshot)
        served = decide_promotion(model, snapshot, run_id=run_id)
    except RunNoLongerLive:
        logger.info("training run %s was ended while it worked; stopped", run_id)
        return
    except Exception as exc:  # recorded on the run and logged, not swallowed
        logger.exception("training run %s failed", run_id)
        finish_run(run_id, Status.FAILED, error=f"{type(exc).__name__}: {exc}")
        return
    message = model.promotion_note
    if served:
        report_progress(run_id, 0.97, "re-ranking pending pairs")
        if not rerank_served(model.project_id):
            message = f"{message}; re-ranking the queue failed, retrying"
    finish_run(run_id, Status.SUCCEEDED, model=model, progress=1.0, message=message[:500])


def measure_label_value(model: RewardModel, run: TrainingRun, snapshot: Snapshot) -> None:
    """Store whether the model's picks taught more per label than random ones (heads only)."""
    if run.mode != Mode.HEADS:
        # Two extra fine-tunes per run would triple its cost; heads runs answer it in seconds.
        model.label_value = {"verdict": "not measured for finetune runs"}
    else:
        from rewards.ml.label_value import compare_label_sources

        chosen, random_slice = split_by_lease_kind(snapshot.train)
        try:
            model.label_value = compare_label_sources(
                build_config(run), chosen, random_slice, snapshot.validation
            )
        except Exception as exc:  # a diagnostic: the version it describes is still good
            logger.exception("label-value comparison of %s failed", model)
            model.label_value = {"verdict": f"not measured: {type(exc).__name__}: {exc}"}
    model.save(update_fields=["label_value"])


def build_config(run: TrainingRun) -> Any:
    """The TrainConfig of a run: its mode and options over the site defaults."""
    from rewards.ml.config import TrainConfig

    options = {k: v for k, v in run.options.items() if k in RUN_OPTIONS}
    options.setdefault("backbone", settings.REWARDS_BACKBONE)
    if run.project.reward_max_tokens:  # the project's length, unless the run gives its own
        options.setdefault("max_length", run.project.reward_max_tokens)
    return TrainConfig(mode=run.mode, cache_dir=settings.REWARDS_CACHE_DIR, **options)


def _train_version(run: TrainingRun, snapshot: Snapshot) -> RewardModel:
    from rewards.ml.train import train
    from rewards.worker.launch import train_supervised

    config = build_config(run)
    settings.REWARDS_MODEL_DIR.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="training-", dir=settings.REWARDS_MODEL_DIR))
    metadata = {"project": run.project.slug, "last_judgement_id": snapshot.last_judgement_id}
    if run.options.get("criterion"):  # trained on that criterion's votes, not the overall ones
        metadata["criterion"] = run.options["criterion"]
    progress = _throttled_progress(run.pk)
    try:
        if run.mode == Mode.FINETUNE:  # minutes to hours: in child processes, one per GPU
            result = train_supervised(
                run.pk, config, snapshot, workdir, progress=progress, metadata=metadata
            )
        else:
            result = train(
                config,
                snapshot.train,
                workdir,
                progress=progress,
                val_pairs=snapshot.validation,
                metadata=metadata,
            )
        ensure_running(run.pk)  # a run ended meanwhile stores no version
        return _store_version(run, snapshot, result, Path(result.out_dir))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _throttled_progress(run_id: int) -> Callable[[float, float, float | None], None]:
    """Write progress at most twice a second: the progress bar needs no more.

    Raises RunNoLongerLive once the run was ended, which stops in-process training there.
    """
    last = {"at": 0.0}

    def report(fraction: float, loss: float, eta_s: float | None) -> None:
        now = time.monotonic()
        if now - last["at"] < 0.5 and fraction < 1.0:
            return
        last["at"] = now
        parts = [f"training {fraction:.0%}"]
        if not math.isnan(loss):
            parts.append(f"loss {loss:.3f}")
        if eta_s:
            parts.append(f"about {eta_s:.0f} s left")
        if not report_progress(run_id, fraction * 0.95, ", ".join(parts)):
            raise RunNoLongerLive(f"run {run_id} was ended while training")

    return report


def _store_version(run: TrainingRun, snapshot: Snapshot, result: Any, workdir: Path) -> RewardModel:
    project = run.project
    meta = result.meta
    with transaction.atomic():
        version = (project.reward_models.aggregate(m=Max("version"))["m"] or 0) + 1
        model = RewardModel.objects.create(
            project=project,
            version=version,
            mode=run.mode,
            backbone=str(meta["backbone"]["name"]),
            config=meta["config"],
            metrics={
                **{k: _finite(v) for k, v in result.metrics.items()},
                # pairs/s, tokens/s, MFU: the models page and the cost estimates read them.
                "throughput": result.details.get("throughput", {}),
            },
            baseline=result.baseline,
            judgements=snapshot.judgements,
            last_judgement_id=snapshot.last_judgement_id,
            training_seconds=round(result.seconds, 2),
        )
        store_checkpoint(model, workdir)
        TrainingRun.objects.filter(pk=run.pk).update(last_judgement_id=snapshot.last_judgement_id)
    cache_checkpoint(model, workdir)
    return model


def _finite(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


# ---------------------------------------------------------------- promotion


def decide_promotion(model: RewardModel, snapshot: Snapshot, *, run_id: int | None = None) -> bool:
    """Serve the new version unless it is worse than the active one on the same pairs.

    A project may also require beating response length alone (the baseline's interval). A
    version trained on one criterion is kept (scored, exported) but never served. With
    `run_id`, the version is served only if that run is still running (not cancelled).
    """
    active = RewardModel.objects.served(model.project_id)
    new_accuracy = model.metrics.get("accuracy")
    criterion = snapshot.criterion
    if criterion:  # the served model orders the queue by the overall preference
        return _keep_unserved(
            model, f"not served: trained on the criterion {criterion!r}, not the overall preference"
        )
    if model.project.promotion_requires_beating_length and not beats_length(model.baseline):
        verdict = model.baseline.get("verdict", "no baseline measured")
        return _keep_unserved(
            model, f"not served: the project requires beating response length; {verdict}"
        )
    if active is None:
        note = "served: the project's first model"
    else:
        old = evaluate_model(active, snapshot.validation).get("accuracy")
        tolerance = settings.REWARDS_PROMOTION_TOLERANCE
        if new_accuracy is not None and old is not None and new_accuracy < old - tolerance:
            return _keep_unserved(
                model,
                f"not served: validation accuracy {new_accuracy:.3f} is below the active "
                f"v{active.version}'s {old:.3f} on the same {len(snapshot.validation)} pairs",
            )
        note = (
            f"served: validation accuracy {_fmt(new_accuracy)} vs the previous "
            f"v{active.version}'s {_fmt(old)} on the same {len(snapshot.validation)} pairs"
        )
    if run_id is None:
        promote_model(model, note=note)
    elif not promote_run_model(run_id, model, note=note):
        error = TrainingRun.objects.values_list("error", flat=True).get(pk=run_id)
        reason = error.splitlines()[0][:200] if error else "it was ended"
        return _keep_unserved(model, f"not served: its run ended first ({reason})")
    return True


def _keep_unserved(model: RewardModel, note: str) -> bool:
    """Record why a new version is not served; returns False (not served)."""
    RewardModel.objects.filter(pk=model.pk).update(promotion_note=note)
    model.promotion_note = note
    return False


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def evaluate_model(model: RewardModel, pairs: list[Any]) -> dict[str, Any]:
    from rewards.ml.train import pair_metrics

    if not pairs:
        return {}
    return {k: _finite(v) for k, v in pair_metrics(load_scorer(model), pairs).items()}


_SCORERS: dict[int, Any] = {}


def load_scorer(model: RewardModel) -> Any:
    """Load (and keep, two at most) a version's scorer in this worker process."""
    from rewards.ml.score import load

    if model.pk not in _SCORERS:
        if len(_SCORERS) >= 2:
            _SCORERS.pop(next(iter(_SCORERS)))
        _SCORERS[model.pk] = load(local_model_dir(model), cache_dir=settings.REWARDS_CACHE_DIR)
    return _SCORERS[model.pk]


# ---------------------------------------------------------------- re-ranking


# Re-rank retries wait this long times 2**attempt (30 s, 60 s, 120 s), then stop.
RERANK_RETRY_SECONDS = 30
RERANK_RETRIES = 3


def rerank_served_model(model_id: int) -> bool:
    """Re-rank the queue with a served version and record the outcome on it; True if done."""
    RewardModel.objects.filter(pk=model_id).update(rerank_attempts=F("rerank_attempts") + 1)
    model = RewardModel.objects.get(pk=model_id)
    try:
        rerank_project(model.project_id)
    except Exception as exc:  # recorded on the version (shown on the models page) and logged
        logger.exception("re-ranking with model %s failed", model_id)
        RewardModel.objects.filter(pk=model_id).update(rerank_error=f"{type(exc).__name__}: {exc}")
        return False
    RewardModel.objects.filter(pk=model_id).update(reranked_at=timezone.now(), rerank_error="")
    return True


def rerank_served(project_id: int, *, attempt: int = 0) -> bool:
    """Re-rank with the project's served version; on failure record it and queue a retry."""
    served = RewardModel.objects.served(project_id)
    if served is None or rerank_served_model(served.pk):
        return True
    retry_rerank(project_id, attempt=attempt + 1)
    return False


def retry_rerank(project_id: int, *, attempt: int) -> bool:
    """Queue another re-rank after a failed one, with backoff; False once retries are spent."""

    if attempt > RERANK_RETRIES:
        return False
    delay = RERANK_RETRY_SECONDS * 2 ** (attempt - 1)
    transaction.on_commit(
        lambda: rerank_project_task.apply_async((project_id, attempt), countdown=delay)
    )
    return True


def rerank_project(project_id: int) -> int:
    """Score new responses with the active model and rewrite pending pairs' priorities.

    Priorities are rank quantiles in [0, 1] over all of the project's pending pairs (higher is
    served first; see rewards.ml.acquisition). Live leases are untouched; returns the number
    of pairs re-prioritised.
    """

    model = RewardModel.objects.served(project_id)
    if model is None:
        return 0
    if model.mode != Mode.EXTERNAL:  # an external model's scores are uploaded, not computed
        score_missing_responses(model)
    strategy = Project.objects.values_list("acquisition", flat=True).get(pk=project_id)
    return rewrite_priorities(project_id, model_id=model.pk, seed=model.version, strategy=strategy)


def scoring_devices(model: RewardModel) -> list[str]:
    """GPUs a fine-tuned version's scoring splits over (REWARDS_GPUS caps them); [] for one."""
    if model.mode != Mode.FINETUNE:
        return []  # heads score from the embedding cache, which one process writes
    import torch

    count = torch.cuda.device_count()
    if settings.REWARDS_GPUS is not None:
        count = min(count, int(settings.REWARDS_GPUS))
    return [f"cuda:{i}" for i in range(count)] if count > 1 else []


def score_missing_responses(model: RewardModel) -> int:
    """Score the project's responses that `model` has no score for; returns how many.

    Pages through them by primary key, a bounded batch at a time (a few batches a round when
    split over GPUs), so each page reads on from the last one instead of from the start.
    """
    from rewards.ml.score import score
    from rewards.ml.shards import score_on_devices

    todo = (
        Response.objects.filter(prompt__project=model.project_id)
        .exclude(scores__model=model)
        .order_by("pk")
    )
    devices = scoring_devices(model)
    size = SCORE_BATCH * DEVICE_ROUND_BATCHES if devices else SCORE_BATCH
    done = last_pk = 0
    while batch := list(
        todo.filter(pk__gt=last_pk).values_list("pk", "prompt__messages", "text")[:size]
    ):
        last_pk = batch[-1][0]
        items = [(messages, text) for _, messages, text in batch]
        if devices:
            result = score_on_devices(local_model_dir(model), items, devices)
        else:
            result = score(load_scorer(model), items)
        ResponseScore.objects.bulk_create(
            [
                ResponseScore(
                    response_id=pk,
                    model=model,
                    mean=float(result.mean[i]),
                    std=float(result.std[i]),
                    members=result.per_member[i].tolist(),
                )
                for i, (pk, _, _) in enumerate(batch)
            ],
            ignore_conflicts=True,
        )
        done += len(batch)
    if done or not model.reward_stats:
        record_reward_stats(model)
    return done


# ---------------------------------------------------------------- embedding ahead


def embed_project(embedding_run_id: int) -> None:
    """Embed every response of the project into the cache so a heads retrain pays only heads."""
    from rewards.ml.backbone import embed_ahead

    run = EmbeddingRun.objects.filter(pk=embedding_run_id).first()
    if run is None:  # the project was deleted since
        return
    items = [
        (messages, text)
        for messages, text in Response.objects.filter(prompt__project=run.project_id)
        .values_list("prompt__messages", "text")
        .iterator(chunk_size=2000)
    ]
    EmbeddingRun.objects.filter(pk=run.pk).update(status=Status.RUNNING, total=len(items))

    def report(fraction: float, _loss: float, _eta: float | None) -> None:
        EmbeddingRun.objects.filter(pk=run.pk).update(progress=round(fraction, 3))

    try:
        new = embed_ahead(
            items,
            backbone=settings.REWARDS_BACKBONE,
            cache_dir=settings.REWARDS_CACHE_DIR,
            progress=report,
        )
    except Exception as exc:  # recorded for the project page, and logged
        logger.exception("embedding run %s failed", run.pk)
        EmbeddingRun.objects.filter(pk=run.pk).update(
            status=Status.FAILED, error=f"{type(exc).__name__}: {exc}", finished_at=timezone.now()
        )
        return
    EmbeddingRun.objects.filter(pk=run.pk).update(
        status=Status.SUCCEEDED, progress=1.0, embedded=new, finished_at=timezone.now()
    )
    # Imported pairs wait at priority 0 (after every scored pair); with a model served they
    # take their place in the ranking now rather than at the next retrain.
    rerank_served(run.project_id)


# ---------------------------------------------------------------- scoring service


def answer_score_request(request_id: int) -> None:
    """Score the request's responses with its model; the web view waits for the row."""
    from rewards.ml.score import score

    request = ScoreRequest.objects.select_related("model").filter(pk=request_id).first()
    if request is None:
        return
    prompt, responses = request.payload["prompt"], request.payload["responses"]
    try:
        if not request.model.reward_stats:  # z and percentile need the project's rewards
            score_missing_responses(request.model)
        result = score(load_scorer(request.model), [(prompt, text) for text in responses])
    except Exception as exc:  # recorded for the caller, and logged
        logger.exception("score request %s failed", request_id)
        ScoreRequest.objects.filter(pk=request_id).update(
            status=Status.FAILED, error=f"{type(exc).__name__}: {exc}"
        )
        return
    rewards = [
        {**normalized, "std": float(std)}
        for normalized, std in zip(
            normalize(request.model, result.mean.tolist()), result.std.tolist(), strict=True
        )
    ]
    ScoreRequest.objects.filter(pk=request_id).update(status=Status.SUCCEEDED, result=rewards)
