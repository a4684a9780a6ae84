"""--through-app: the same experiment driven through the real product, at small scale.

A fresh SQLite database under var/, a project per strategy, the pool imported with its labels
hidden (Pair.gold_label), simulated annotators answering from those hidden labels over the HTTP
API (token auth, Django's test client), retraining by the app's own trigger (`retrain_every`,
checked by the periodic `check_retrain_task` as Celery beat would), and accuracy measured
through the app's score endpoint. Celery runs eagerly (in-process) so no worker is needed.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.active_learning_sim import FLIP, Curve, Plan, SimSettings, plan_budgets, summarize

ROOT = Path(__file__).resolve().parent.parent
# What --through-app needs from the app besides the annotation API; checked before any work.
REQUIRED_ROUTES = (
    "/api/projects/al/next",
    "/api/assignments/1/judgement",
    "/api/projects/al/retrain",
    "/api/training-runs/1",
    "/api/projects/al/models",
    "/api/projects/al/score",
)
RUN_TIMEOUT_S = 600
# Eager Celery runs the triggered retrain inline, so a run that has not appeared by now never will.
TRIGGER_GRACE_S = 30
FINISHED = ("succeeded", "failed", "cancelled")


class AppNotReady(RuntimeError):
    """The app lacks an endpoint or a task --through-app relies on."""


def setup_fresh_app(cache_dir: str) -> Path:
    """Point Django at a new SQLite file with eager Celery, set it up and migrate."""
    folder = ROOT / "var" / "bench-al"
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / f"app-{uuid.uuid4().hex[:8]}.sqlite3"
    os.environ["DATABASE_URL"] = f"sqlite:///{db}"
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "true"
    # The simulated annotators and the accuracy probe (a score call per test pair, each round)
    # call the API at machine speed, far past the per-user rates a person needs.
    for rate in ("API_THROTTLE_USER", "API_THROTTLE_SCORE"):
        os.environ.setdefault(rate, "off")
    os.environ["REWARDS_CACHE_DIR"] = cache_dir
    from bench.django_setup import setup

    setup()
    from django.core.management import call_command
    from django.test.utils import setup_test_environment

    setup_test_environment()  # lets the test client's "testserver" host through
    check_app_ready()
    call_command("migrate", verbosity=0, interactive=False)
    return db


def check_app_ready() -> None:
    """Raise AppNotReady naming every missing route or task."""
    from django.urls import Resolver404, resolve

    missing = []
    for route in REQUIRED_ROUTES:
        try:
            resolve(route)
        except Resolver404:
            missing.append(route)
    try:
        from rewards.tasks import check_retrain_task  # noqa: F401
    except ImportError:
        missing.append("rewards.tasks.check_retrain_task (the retrain_every trigger)")
    if missing:
        raise AppNotReady("--through-app needs these from the app: " + ", ".join(missing))


def api_client(username: str) -> Any:
    """A DRF test client authenticated with a fresh user's token."""
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    user = get_user_model().objects.create_user(username)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def create_app_project(slug: str, strategy: str, pool_file: Path, batch: int) -> None:
    """Project with the strategy, retraining every `batch` judgements, the pool imported blind."""
    from django.contrib.auth import get_user_model

    from annotate.importing.pipeline import import_file
    from annotate.projects.lifecycle import create_project
    from annotate.projects.members import set_member

    admin = get_user_model().objects.get(username=f"{slug}-admin")
    project = create_project(slug=slug, admin=admin, acquisition=strategy, retrain_every=batch)
    for name in (f"{slug}-ann1", f"{slug}-ann2"):
        set_member(project, username=name, role="annotator")
    # Labels stay out of the app (gold pairs would be quality checks, never trained on); the
    # simulated annotators read them from the pool file.
    import_file(project, pool_file, labels="ignore")


def oracle_choice(gold: str, *, left_is_a: bool, flip: bool) -> str:
    """The simulated annotator's answer, in the left/right terms the API speaks."""
    label = FLIP[gold] if flip else gold
    if label == "tie":
        return "tie"
    return "left" if (label == "a") == left_is_a else "right"


def judge(
    clients: Sequence[Any], slug: str, count: int, noise: float, rng, oracle: dict[str, str]
) -> int:
    """Annotators take turns: lease the next pair, answer from the file's label. Returns done."""
    from annotate.models import Pair

    done = 0
    while done < count:
        client = clients[done % len(clients)]
        leased = client.post(f"/api/projects/{slug}/next", {}, format="json")
        if leased.status_code == 204:
            break
        body = leased.json()
        pair = Pair.objects.select_related("response_a").get(pk=body["pair"])
        left_is_a = body["left"]["text"] == pair.response_a.text
        label = oracle[pair.external_id]
        choice = oracle_choice(label, left_is_a=left_is_a, flip=rng.random() < noise)
        payload = {"choice": choice, "client_id": uuid.uuid4().hex, "duration_ms": 1500}
        answer = client.post(f"/api/assignments/{body['assignment']}/judgement", payload, "json")
        if answer.status_code not in (200, 201):
            raise RuntimeError(f"judgement refused: {answer.status_code} {answer.content[:200]}")
        done += 1
    return done


def retrain_by_trigger(admin: Any, slug: str) -> dict:
    """Fire the periodic trigger as Celery beat would; wait for the run it starts to finish.

    Returns the finished run. A failed run is returned, not raised: the product keeps serving
    its previous model then, and that is what the curve should show.
    """
    from rewards.tasks import check_retrain_task

    known = {run["id"] for run in admin.get(f"/api/projects/{slug}/models").json()["runs"]}
    check_retrain_task.delay()
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while time.monotonic() < deadline:
        runs = admin.get(f"/api/projects/{slug}/models").json()["runs"]
        new = [run for run in runs if run["id"] not in known]
        if new and new[0]["status"] in FINISHED:
            return new[0]
        if not new and time.monotonic() > deadline - RUN_TIMEOUT_S + TRIGGER_GRACE_S:
            raise AppNotReady(f"retrain_every did not start a run within {TRIGGER_GRACE_S} s")
        time.sleep(0.5)
    raise TimeoutError(f"the training run did not finish within {RUN_TIMEOUT_S} s")


def app_accuracy(client: Any, slug: str, test: Sequence[dict]) -> float:
    """Share of decisive test pairs where the active model scores the preferred response higher."""
    hits = []
    for record in test:
        payload = {
            "prompt": record["prompt"],
            "responses": [record["response_a"], record["response_b"]],
        }
        reply = client.post(f"/api/projects/{slug}/score", payload, format="json")
        if reply.status_code != 200:
            raise RuntimeError(f"score failed: {reply.status_code} {reply.content[:200]}")
        reward_a, reward_b = (r["reward"] for r in reply.json()["rewards"])
        hits.append((reward_a > reward_b) == (record["label"] == "a"))
    return float(np.mean(hits))


def app_curve(
    strategy: str, seed: int, pool_file: Path, test: Sequence[dict], plan: Plan, noise: float
) -> Curve:
    """One learning curve through the product: judge a batch, let the app retrain, measure."""
    slug = f"al-{strategy}-{seed}"
    admin = api_client(f"{slug}-admin")
    clients = [api_client(f"{slug}-ann1"), api_client(f"{slug}-ann2")]
    create_app_project(slug, strategy, pool_file, plan.batch)
    oracle = {r["id"]: r["label"] for r in map(json.loads, pool_file.open())}
    rng = np.random.default_rng([seed, 7])
    curve, labelled = Curve([], []), 0
    for budget in plan.budgets:
        started = time.monotonic()
        labelled += judge(clients, slug, budget - labelled, noise, rng, oracle)
        run = retrain_by_trigger(admin, slug)
        curve.accuracy.append(app_accuracy(admin, slug, test))
        curve.round_seconds.append(time.monotonic() - started)
        note = run["message"] or run["error"]
        print(
            f"  app {strategy} seed {seed}: {labelled} labels, run {run['status']} ({note}), "
            f"accuracy {curve.accuracy[-1]:.3f}"
        )
    return curve


def split_records(records: list[dict], fraction: float, seed: int) -> tuple[list, list]:
    """The library's prompt-grouped split, applied to raw records (same prompts, same seed)."""
    from rewards.ml.data import pair_from_record, split_by_prompt

    pairs = [pair_from_record(r) for r in records]
    _, held = split_by_prompt(pairs, fraction, seed=seed)
    held_ids = {p.id for p in held}
    pool = [r for r in records if r["id"] not in held_ids]
    return pool, [r for r in records if r["id"] in held_ids and r["label"] != "tie"]


def run_through_app(args: argparse.Namespace) -> int:
    """Entry point of --through-app (one data file; the pool split as in the library mode)."""
    from bench.active_learning import settings_from

    settings: SimSettings = settings_from(args)
    if not args.data or len(args.data) != 1:
        raise SystemExit("--through-app takes exactly one --data file")
    try:
        db = setup_fresh_app(settings.train.cache_dir or "")
    except AppNotReady as exc:
        raise SystemExit(str(exc)) from None
    print(f"app database: {db}")
    records = [json.loads(line) for line in args.data[0].open() if line.strip()]
    records = records[: args.slice] if args.slice else records
    curves: dict[str, list] = {name: [] for name in settings.strategies}
    plan = None
    for seed in range(settings.seeds):
        pool, test = split_records(records, settings.test_fraction, seed)
        plan = plan or plan_budgets(len(pool), settings)
        with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as handle:
            handle.writelines(json.dumps(r) + "\n" for r in pool)
        for name in settings.strategies:
            curves[name].append(
                app_curve(name, seed, Path(handle.name), test, plan, settings.noise)
            )
    assert plan is not None
    result = {
        "config": {**settings.to_dict(), "through_app": True, "data": str(args.data[0])},
        "strategies": summarize(plan.budgets, curves),
    }
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    if args.plot:
        from bench.active_learning import plot

        plot({"through the app": overlay(result, args.compare)}, args.plot)
    return 0


def overlay(app: dict, library_json: Path | None) -> dict:
    """App curves, plus the library's curves for the same strategies from a --compare JSON."""
    curves = {f"app {name}": entry for name, entry in app["strategies"].items()}
    if library_json is None:
        return {"strategies": curves}
    library = json.loads(library_json.read_text())
    if "sets" in library:
        # A multi-set run: take the set this app run used.
        library = library["sets"][Path(app["config"]["data"]).parent.name]
    for name in app["strategies"]:
        if name in library["strategies"]:
            curves[f"library {name}"] = library["strategies"][name]
    return {"strategies": curves}
