"""The closed loop through a real Celery worker: judge, retrain, promote, re-rank, serve."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.db import connection

from annotate.importing.pipeline import import_file
from annotate.models import Pair, PairStatus, Project
from rewards.models import ResponseScore, RewardModel, TrainingRun
from tests.conftest import client_for, wait_until
from tests.factories import demo_rows, write_jsonl

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def _import_pending(project: Project, tmp_path: Path, n: int = 80) -> None:
    """Real labelled pairs (the demo slice), imported pending; their labels stay in the file
    and are the simulated annotator's answers."""
    path = write_jsonl(tmp_path / "pandalm.jsonl", demo_rows(n, part="pending"))
    import_file(project, path, labels="ignore")


def _oracle() -> dict[str, str]:
    """The recorded label of each pair of the demo slice, by the pair's id in the file."""
    return {row["id"]: row["label"] for row in demo_rows(10_000, part="pending")}


def _judge_from_gold(user: Any, project: Project, count: int) -> None:
    """A simulated annotator: answers through the API from the file's labels."""
    client = client_for(user)
    oracle = _oracle()
    for i in range(count):
        body = client.post(f"/api/projects/{project.slug}/next", {}, format="json").json()
        pair = Pair.objects.get(pk=body["pair"])
        shown_a = pair.response_a.text == body["left"]["text"]
        gold = oracle[pair.external_id]
        choice = "tie" if gold == "tie" else ("left" if (gold == "a") == shown_a else "right")
        client.post(
            f"/api/assignments/{body['assignment']}/judgement",
            {"choice": choice, "duration_ms": 1000, "client_id": f"{user.pk}-{i}"},
            format="json",
        )


def _retrain(admin: Any, project: Project, **options: Any) -> dict:
    response = client_for(admin).post(
        f"/api/projects/{project.slug}/retrain", options, format="json"
    )
    assert response.status_code == 202, response.content
    run_id = response.json()["id"]

    def finished() -> bool:
        return TrainingRun.objects.get(pk=run_id).status in ("succeeded", "failed")

    wait_until(finished, timeout=180, what=f"training run {run_id}")
    return client_for(admin).get(f"/api/training-runs/{run_id}").json()


def _ties(project: Project, model: RewardModel) -> int:
    """Validation pairs labelled tie: the baseline's accuracy counts decided pairs only."""
    from rewards.worker.snapshot import snapshot_project

    return sum(p.label == "tie" for p in snapshot_project(project).validation)


def _mean_p_a(pair: Pair, model: RewardModel) -> float:
    scores = dict(ResponseScore.objects.filter(model=model).values_list("response_id", "members"))
    a, b = np.array(scores[pair.response_a_id]), np.array(scores[pair.response_b_id])
    return float((1 / (1 + np.exp(-(a - b)))).mean())


def test_retraining_promotes_a_version_and_reranks_the_queue(
    celery_worker: Path,
    tiny_backbone: str,
    admin: Any,
    annotator: Any,
    project: Project,
    tmp_path: Path,
) -> None:
    # given: 80 pending real pairs, 40 judged through the API, uncertainty sampling on every
    # lease (no random slice, so the next lease is the model's top pair)
    Project.objects.filter(pk=project.pk).update(acquisition="uncertainty", random_slice_share=0)
    _import_pending(project, tmp_path)
    _judge_from_gold(annotator, project, 40)
    # when
    run = _retrain(admin, project)
    # then: a served version with metrics
    assert run["status"] == "succeeded", run["error"]
    model = RewardModel.objects.get(project=project)
    assert model.is_active and model.version == 1
    assert set(model.metrics) >= {"accuracy", "log_loss", "ece", "n"}
    assert model.judgements == 40
    # and it records the checkpoint it was trained as (the worker's backbone, the run's config)
    assert model.backbone == tiny_backbone
    assert (model.config["backbone"], model.config["mode"]) == (tiny_backbone, "heads")
    # and the length baseline was measured on the same validation pairs
    assert model.baseline["n"] == model.metrics["n"] - _ties(project, model)
    assert model.baseline["length_accuracy"] is not None
    assert model.baseline["verdict"]
    # and 40 labels are too few to compare model-chosen and random-slice labels: it says so
    assert model.label_value["verdict"].startswith("not measured yet")
    # and the pending pairs are ordered by uncertainty: P(a>b) nearest 0.5 first
    pending = list(
        Pair.objects.filter(project=project, status=PairStatus.PENDING).order_by(
            "-rank__priority", "tiebreak"
        )
    )
    closeness = [abs(_mean_p_a(p, model) - 0.5) for p in pending]
    assert closeness[0] == pytest.approx(min(closeness))
    assert closeness == sorted(closeness)
    # and the next lease is the top-priority pair
    served = client_for(admin).post(f"/api/projects/{project.slug}/next", {}, format="json")
    assert served.json()["pair"] == pending[0].pk


def test_a_failed_run_keeps_the_served_model_and_shows_its_error(
    celery_worker: Path, admin: Any, annotator: Any, project: Project, tmp_path: Path
) -> None:
    # given a served version
    _import_pending(project, tmp_path)
    _judge_from_gold(annotator, project, 30)
    assert _retrain(admin, project)["status"] == "succeeded"
    served = RewardModel.objects.get(is_active=True)
    # when a run fails (its backbone does not exist)
    run = _retrain(admin, project, backbone=str(tmp_path / "no-such-backbone"))
    # then
    assert run["status"] == "failed"
    assert "no-such-backbone" in run["error"]
    assert RewardModel.objects.get(is_active=True) == served
    page = client_for(admin)
    page.force_login(admin)
    html = page.get(f"/projects/{project.slug}/models").content.decode()
    assert "The last run failed" in html and "no-such-backbone" in html


def test_the_scoring_service_returns_rewards_from_the_served_model(
    celery_worker: Path, admin: Any, annotator: Any, project: Project, tmp_path: Path
) -> None:
    _import_pending(project, tmp_path)
    no_model = client_for(annotator).post(
        f"/api/projects/{project.slug}/score", {"prompt": "hi", "responses": ["a"]}, format="json"
    )
    assert no_model.status_code == 409
    _judge_from_gold(annotator, project, 30)
    _retrain(admin, project)
    response = client_for(annotator).post(
        f"/api/projects/{project.slug}/score",
        {"prompt": "Write a haiku", "responses": ["short", "a much longer answer here"]},
        format="json",
    )
    if response.status_code == 202:  # the worker was busy: follow the request
        url = f"/api/score-requests/{response.json()['request']}"
        wait_until(
            lambda: client_for(annotator).get(url).status_code != 202,
            timeout=120,
            what="score request",
        )
        response = client_for(annotator).get(url)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["model"] == 1
    assert len(body["rewards"]) == 2
    assert all(set(r) == {"reward", "z", "percentile", "std"} for r in body["rewards"])
    # and z and percentile place each reward among the project's responses under this version
    stats = RewardModel.objects.get(project=project, version=1).reward_stats
    assert stats["n"] == ResponseScore.objects.filter(model__version=1).count() > 0
    for reward in body["rewards"]:
        assert reward["z"] == pytest.approx((reward["reward"] - stats["mean"]) / stats["std"])
        assert 0 <= reward["percentile"] <= 100


def test_two_retrain_requests_at_once_make_one_run(admin: Any, project: Project) -> None:
    # given
    statuses: list[int] = []

    def request() -> None:
        try:
            statuses.append(
                client_for(admin)
                .post(f"/api/projects/{project.slug}/retrain", {}, format="json")
                .status_code
            )
        finally:
            connection.close()

    # when
    threads = [threading.Thread(target=request) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # then
    assert sorted(statuses) == [200, 202]
    assert TrainingRun.objects.filter(project=project).count() == 1


def test_the_retrain_command_waits_and_fails_loudly(
    celery_worker: Path, annotator: Any, project: Project, tmp_path: Path
) -> None:
    from django.core.management import CommandError, call_command

    _import_pending(project, tmp_path, n=30)
    _judge_from_gold(annotator, project, 5)  # too few decided pairs to train on
    with pytest.raises(CommandError, match="at least 10"):
        call_command("retrain", project.slug, "--wait", "--timeout", "300")
    assert TrainingRun.objects.get().status == "failed"
    assert not RewardModel.objects.exists()
