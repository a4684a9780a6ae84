"""Simulated-annotator active learning on labelled pairs, with the same rewards.ml code as the app.

One curve = one (data set, strategy, seed): the pool's labels stay hidden, each round trains a
heads ensemble on the labels revealed so far, scores the test set, asks the strategy for the next
batch and reveals it. Seeds fix the test split, the seed labels and the annotator's noise, so
strategies are compared on the same draws (a paired design).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from rewards.ml.acquisition import priorities, top_k_spread
from rewards.ml.config import TrainConfig
from rewards.ml.data import PreferencePair, prompt_key, split_by_prompt
from rewards.ml.score import RewardScorer, score_pairs
from rewards.ml.train import fit, pair_metrics, seed_everything

FLIP = {"a": "b", "b": "a", "tie": "tie"}
# Two-sided 97.5% Student t quantiles by degrees of freedom; beyond 30 the normal one is close.
T975 = {
    1: 12.706,
    2: 4.303,
    3: 3.182,
    4: 2.776,
    5: 2.571,
    6: 2.447,
    7: 2.365,
    8: 2.306,
    9: 2.262,
    10: 2.228,
    15: 2.131,
    20: 2.086,
    30: 2.042,
}


@dataclass(frozen=True)
class Plan:
    """Label budgets of one set: seed labels, then one batch per round."""

    seed_labels: int
    batch: int
    budgets: tuple[int, ...]


@dataclass(frozen=True)
class SimSettings:
    """Everything besides the data that decides a simulated run."""

    strategies: tuple[str, ...]
    seed_labels: int = 50
    batch: int = 50
    rounds: int = 8
    seeds: int = 5
    noise: float = 0.0
    explore: float = 0.0
    spread: bool = False
    test_fraction: float = 0.3
    max_share: float = 0.6
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict:
        """JSON-ready form, with the training config nested."""
        values = dataclasses.asdict(self)
        values["strategies"] = list(self.strategies)
        values["train"] = self.train.to_dict()
        # None in TrainConfig means "the current default", which changes as rewards.ml is tuned.
        values["train_resolved"] = {
            "epochs": self.train.resolved_epochs,
            "lr": self.train.resolved_lr,
            "weight_decay": self.train.resolved_weight_decay,
            "batch_size": self.train.resolved_batch_size,
        }
        return values


@dataclass
class Curve:
    """Accuracy per budget of one strategy on one seed, with the time each round took."""

    accuracy: list[float]
    round_seconds: list[float]
    member_agreement: list[float] = field(default_factory=list)


def plan_budgets(pool_size: int, settings: SimSettings) -> Plan:
    """Budgets seed, seed+batch, ... up to `rounds` batches and `max_share` of the pool.

    Labelling the whole pool would make every strategy end on the same model, so the last
    budget stays below `max_share` of it. Pools too small for three rounds at the asked sizes
    (hhh_alignment, llmbar) get seed and batch shrunk to a quarter of that ceiling.
    """
    ceiling = int(pool_size * settings.max_share)
    seed, batch = settings.seed_labels, settings.batch
    if seed + 3 * batch > ceiling:
        seed = batch = max(ceiling // 4, 2)
    rounds = max(min(settings.rounds, (ceiling - seed) // batch), 0)
    return Plan(seed, batch, tuple(seed + batch * r for r in range(rounds + 1)))


def annotator_labels(pool: Sequence[PreferencePair], noise: float, seed: int) -> list[str]:
    """What the simulated annotator answers for each pool pair: the label, flipped at `noise`."""
    flips = np.random.default_rng([seed, 7]).random(len(pool)) < noise
    return [FLIP[p.label] if flip else p.label for p, flip in zip(pool, flips, strict=True)]


def fit_round(config: TrainConfig, pairs: Sequence[PreferencePair]) -> RewardScorer:
    """Exactly `rewards.ml.train.train` up to the checkpoint write, which a simulation skips."""
    seed_everything(config.seed)
    train_pairs, stop_pairs = split_by_prompt(pairs, config.val_fraction, seed=config.seed)
    scorer, _ = fit(config, train_pairs, stop_pairs, None)
    return scorer


def held_out_accuracy(scorer: RewardScorer, test: Sequence[PreferencePair]) -> float:
    """The scorer's accuracy on the test pairs, ties excluded; an all-tie test set is refused."""
    accuracy = pair_metrics(scorer, test)["accuracy"]
    if accuracy is None:
        raise ValueError("the test pairs are all ties: there is no accuracy to measure")
    return accuracy


def agreement(scores_a: np.ndarray, scores_b: np.ndarray) -> float:
    """How alike the members are: |mean margin| over the members' margin spread, pool median.

    High values mean every member says the same thing, so disagreement and Thompson degrade
    to uncertainty (or noise).
    """
    margins = np.asarray(scores_a, dtype=np.float64) - np.asarray(scores_b)
    return float(np.median(np.abs(margins.mean(1)) / (margins.std(1) + 1e-9)))


def next_batch(
    scorer: RewardScorer,
    pool: Sequence[PreferencePair],
    unlabelled: list[int],
    strategy: str,
    *,
    size: int,
    settings: SimSettings,
    seed: int,
) -> tuple[list[int], float]:
    """Pool indices of the `size` unlabelled pairs the strategy ranks first, and the members'
    agreement on the pool (nan for random, which skips scoring)."""
    candidates = [pool[i] for i in unlabelled]
    if strategy == "random":
        # Random ignores the scores: skip scoring the pool. It also stays plain (no spread):
        # it is the baseline the remedies are measured against.
        scores_a = scores_b = np.zeros((len(candidates), 1))
        ranked = np.argsort(-priorities("random", scores_a, scores_b, seed=seed))[:size]
        return [unlabelled[i] for i in ranked], float("nan")
    scores_a, scores_b = score_pairs(scorer, candidates)
    ranking = priorities(strategy, scores_a, scores_b, explore=settings.explore, seed=seed)
    if settings.spread:
        picked = top_k_spread(ranking, [prompt_key(p.prompt) for p in candidates], size)
    else:
        picked = np.argsort(-ranking)[:size].tolist()
    return [unlabelled[i] for i in picked], agreement(scores_a, scores_b)


def run_curve(
    pool: Sequence[PreferencePair],
    test: Sequence[PreferencePair],
    strategy: str,
    seed: int,
    plan: Plan,
    settings: SimSettings,
) -> Curve:
    """One learning curve: retrain, evaluate, acquire, reveal; once per budget."""
    answers = annotator_labels(pool, settings.noise, seed)
    order = np.random.default_rng([seed, 11]).permutation(len(pool))
    labelled = [int(i) for i in order[: plan.seed_labels]]
    config = dataclasses.replace(settings.train, seed=seed)
    curve = Curve([], [])
    for round_no in range(len(plan.budgets)):
        started = time.monotonic()
        revealed = [dataclasses.replace(pool[i], label=answers[i]) for i in labelled]
        scorer = fit_round(config, revealed)
        curve.accuracy.append(held_out_accuracy(scorer, test))
        if round_no < len(plan.budgets) - 1:
            taken = set(labelled)
            unlabelled = [i for i in range(len(pool)) if i not in taken]
            batch, agreed = next_batch(
                scorer,
                pool,
                unlabelled,
                strategy,
                size=plan.batch,
                settings=settings,
                seed=seed * 1000 + round_no,
            )
            labelled += batch
            curve.member_agreement.append(agreed)
        curve.round_seconds.append(time.monotonic() - started)
    return curve


def split_pool(
    pairs: Sequence[PreferencePair],
    test: Sequence[PreferencePair] | None,
    *,
    fraction: float,
    seed: int,
) -> tuple[list[PreferencePair], list[PreferencePair]]:
    """(pool, test): the given test file, else a prompt-grouped split that varies by seed."""
    if test is not None:
        return list(pairs), list(test)
    return split_by_prompt(pairs, fraction, seed=seed)


def mean_ci(values: Sequence[float]) -> tuple[float, float, float]:
    """Mean and the 95% Student t interval over seeds (the mean alone for one seed)."""
    data = np.asarray(values, dtype=np.float64)
    mean = float(data.mean())
    if len(data) < 2:
        return mean, mean, mean
    dof = len(data) - 1
    t = T975.get(dof) or T975[max(k for k in T975 if k <= dof)]
    half = t * float(data.std(ddof=1)) / math.sqrt(len(data))
    return mean, mean - half, mean + half


def labels_to_reach(budgets: Sequence[int], means: Sequence[float], target: float) -> float | None:
    """First budget where the mean curve reaches `target`, linearly interpolated; None if never."""
    for i, (budget, mean) in enumerate(zip(budgets, means, strict=True)):
        if mean >= target:
            if i == 0:
                return float(budget)
            low, low_mean = budgets[i - 1], means[i - 1]
            return low + (target - low_mean) / (mean - low_mean) * (budget - low)
    return None


def paired_gain(runs: Sequence[Curve], baseline: Sequence[Curve]) -> dict[str, object]:
    """Accuracy points over random, averaged over the budgets after the seed labels, per seed.

    Seed i of both curves shares the split, seed labels and annotator noise, so the difference
    is paired; its 95% interval over seeds is far tighter than the two curves' bands suggest.
    """
    gains = [
        100 * float(np.mean(np.subtract(run.accuracy[1:], base.accuracy[1:])))
        for run, base in zip(runs, baseline, strict=True)
        if len(run.accuracy) > 1
    ]
    if not gains:
        return {"points": None, "ci": None}
    mean, lo, hi = mean_ci(gains)
    return {"points": round(mean, 2), "ci": [round(lo, 2), round(hi, 2)]}


def summarize(budgets: Sequence[int], curves: dict[str, list[Curve]]) -> dict[str, dict]:
    """Per strategy: budgets, mean and 95% interval per budget, label efficiency vs random."""
    out: dict[str, dict] = {}
    for name, runs in curves.items():
        stats = [mean_ci([run.accuracy[i] for run in runs]) for i in range(len(budgets))]
        seconds = [s for run in runs for s in run.round_seconds]
        agreed = [a for run in runs for a in run.member_agreement]
        out[name] = {
            "budgets": list(budgets),
            "accuracy_mean": [round(m, 4) for m, _, _ in stats],
            # Accuracy lives in [0, 1]; with 2 seeds a t interval easily spills over.
            "accuracy_ci": [
                [round(max(lo, 0.0), 4), round(min(hi, 1.0), 4)] for _, lo, hi in stats
            ],
            "label_efficiency": None,
            "labels_to_random_final": None,
            "seconds_per_round": round(float(np.mean(seconds)), 3),
            "member_agreement": round(float(np.mean(agreed)), 2)
            if agreed and name != "random"
            else None,
        }
    if "random" not in out:
        return out
    target = out["random"]["accuracy_mean"][-1]
    # Random's own first crossing of its final accuracy: when it is the seed budget, the curve is
    # flat and every strategy "reaches" it for free, so label efficiency says nothing there.
    out["random"]["labels_to_random_final"] = labels_to_reach(
        budgets, out["random"]["accuracy_mean"], target
    )
    for name, entry in out.items():
        if name == "random":
            continue
        entry["gain_vs_random"] = paired_gain(curves[name], curves["random"])
        needed = labels_to_reach(budgets, entry["accuracy_mean"], target)
        if needed is not None:
            entry["labels_to_random_final"] = round(needed, 1)
            entry["label_efficiency"] = round(needed / budgets[-1], 3)
    return out


def ceiling_accuracy(
    pool: Sequence[PreferencePair],
    test: Sequence[PreferencePair],
    seed: int,
    settings: SimSettings,
) -> float:
    """Test accuracy with every pool label revealed: the most any strategy could reach."""
    answers = annotator_labels(pool, settings.noise, seed)
    revealed = [dataclasses.replace(p, label=a) for p, a in zip(pool, answers, strict=True)]
    scorer = fit_round(dataclasses.replace(settings.train, seed=seed), revealed)
    return held_out_accuracy(scorer, test)


def run_set(
    pairs: Sequence[PreferencePair],
    test: Sequence[PreferencePair] | None,
    settings: SimSettings,
    *,
    log=print,
) -> dict:
    """All strategies and seeds on one data set; returns its results JSON (config, strategies)."""
    curves: dict[str, list[Curve]] = {name: [] for name in settings.strategies}
    ceilings: list[float] = []
    plan = None
    for seed in range(settings.seeds):
        pool, held = split_pool(pairs, test, fraction=settings.test_fraction, seed=seed)
        seed_plan = plan_budgets(len(pool), settings)
        # Seed splits differ slightly in pool size; every seed uses the first seed's budgets.
        plan = plan or seed_plan
        ceilings.append(ceiling_accuracy(pool, held, seed, settings))
        for name in settings.strategies:
            curve = run_curve(pool, held, name, seed, plan, settings)
            curves[name].append(curve)
            final = curve.accuracy[-1]
            log(
                f"  seed {seed} {name:<12} final acc {final:.3f} "
                f"({np.mean(curve.round_seconds):.2f} s/round)"
            )
    assert plan is not None
    return {
        "config": {
            **settings.to_dict(),
            "seed_labels": plan.seed_labels,
            "batch": plan.batch,
            "n_pairs": len(pairs),
            "rounds": len(plan.budgets) - 1,
        },
        "strategies": summarize(plan.budgets, curves),
        # Beyond the results schema (config, strategies): all pool labels revealed, the curves'
        # upper bound.
        "ceiling": {
            "pool_labels": len(pool),
            "accuracy": [round(min(max(v, 0.0), 1.0), 4) for v in mean_ci(ceilings)],
        },
    }
