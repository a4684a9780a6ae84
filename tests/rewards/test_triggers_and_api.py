from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from annotate.importing.pipeline import import_file
from annotate.models import Project
from rewards.models import RewardModel, TrainingRun
from rewards.runs import claim_run, fail_stale_runs
from rewards.triggers import retrain_where_due
from rewards.worker.snapshot import aggregate_label, snapshot_project
from tests.conftest import client_for
from tests.factories import pair_rows, tasks_sent, write_jsonl

pytestmark = pytest.mark.django_db


def test_majority_keeps_ties_and_drops_both_bad_and_splits() -> None:
    assert aggregate_label(["a", "a", "b"]) == "a"
    assert aggregate_label(["tie", "tie", "a"]) == "tie"
    assert aggregate_label(["a", "b"]) is None
    assert aggregate_label(["both_bad", "both_bad"]) is None
    assert aggregate_label(["both_bad", "b"]) == "b"


def test_the_validation_split_is_stable_and_has_a_floor(project: Project, tmp_path: Path) -> None:
    import_file(project, write_jsonl(tmp_path / "p.jsonl", pair_rows(90)))
    first = snapshot_project(project)
    import_file(project, write_jsonl(tmp_path / "q.jsonl", pair_rows(30, prefix="r")))
    second = snapshot_project(project)
    assert 10 <= len(first.validation) <= 35
    assert not {p.id for p in first.train} & {p.id for p in first.validation}
    # a pair trained on never becomes a validation pair later
    assert not {p.id for p in first.train} & {p.id for p in second.validation}


def test_the_threshold_trigger_queues_one_run_after_enough_judgements(
    project: Project, tmp_path: Path, django_capture_on_commit_callbacks: Any
) -> None:
    # given
    Project.objects.filter(pk=project.pk).update(retrain_every=10)
    import_file(project, write_jsonl(tmp_path / "p.jsonl", pair_rows(9)))
    assert retrain_where_due() == []
    import_file(project, write_jsonl(tmp_path / "q.jsonl", pair_rows(1, prefix="z")))
    # when
    with django_capture_on_commit_callbacks() as enqueued:
        queued = retrain_where_due()
        again = retrain_where_due()
    # then
    assert len(queued) == 1 and again == []
    assert TrainingRun.objects.get().trigger == "threshold"
    assert len(tasks_sent(enqueued)) == 1


def test_a_run_whose_worker_died_is_failed_and_can_be_reclaimed(project: Project) -> None:
    run = TrainingRun.objects.create(project=project)
    assert claim_run(run.pk) and not claim_run(run.pk)
    TrainingRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    assert claim_run(run.pk)  # a redelivered message may take over a stale run
    TrainingRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    assert fail_stale_runs() == 1
    assert "worker stopped" in TrainingRun.objects.get().error


@pytest.mark.parametrize(
    ("persona", "expected"),
    [("admin", 202), ("annotator", 403), ("outsider", 404), ("anonymous", 401)],
)
def test_retrain_role_matrix(
    request: pytest.FixtureRequest,
    project: Project,
    persona: str,
    expected: int,
    django_capture_on_commit_callbacks: Any,
) -> None:
    user = None if persona == "anonymous" else request.getfixturevalue(persona)
    with django_capture_on_commit_callbacks():
        response = client_for(user).post(f"/api/projects/{project.slug}/retrain", {}, format="json")
    assert response.status_code == expected
    assert TrainingRun.objects.exists() == (expected == 202)


@pytest.mark.parametrize(
    ("persona", "expected"), [("admin", 200), ("annotator", 403), ("outsider", 404)]
)
def test_activate_role_matrix_and_rollback(
    request: pytest.FixtureRequest,
    project: Project,
    persona: str,
    expected: int,
    django_capture_on_commit_callbacks: Any,
) -> None:
    # given two versions, v2 served
    v1 = RewardModel.objects.create(project=project, version=1, mode="heads", backbone="x")
    RewardModel.objects.create(
        project=project, version=2, mode="heads", backbone="x", is_active=True
    )
    # when
    with django_capture_on_commit_callbacks() as enqueued:
        response = client_for(request.getfixturevalue(persona)).post(
            f"/api/models/{v1.pk}/activate"
        )
    # then
    assert response.status_code == expected
    active = RewardModel.objects.get(is_active=True).version
    assert active == (1 if expected == 200 else 2)
    assert len(tasks_sent(enqueued)) == (1 if expected == 200 else 0)  # the re-rank


def test_the_models_overview_lists_versions_for_admins(admin: Any, project: Project) -> None:
    RewardModel.objects.create(
        project=project,
        version=1,
        mode="heads",
        backbone="x",
        metrics={"accuracy": 0.7},
        judgements=50,
        is_active=True,
    )
    body = client_for(admin).get(f"/api/projects/{project.slug}/models").json()
    assert body["active"]["version"] == 1
    assert [m["version"] for m in body["models"]] == [1]
    page = client_for(admin)
    page.force_login(admin)
    html = page.get(f"/projects/{project.slug}/models").content.decode()
    assert "<polyline" in html and "v1" in html


def test_imports_queue_one_embedding_run_until_it_starts(
    project: Project, tmp_path: Path, django_capture_on_commit_callbacks: Any
) -> None:
    from rewards.models import EmbeddingRun

    with django_capture_on_commit_callbacks(execute=True) as enqueued:
        import_file(project, write_jsonl(tmp_path / "p.jsonl", pair_rows(3)))
        import_file(project, write_jsonl(tmp_path / "q.jsonl", pair_rows(3, prefix="r")))
    assert EmbeddingRun.objects.filter(project=project, status="queued").count() == 1
    assert len(enqueued) >= 2  # the two import signals, then one task publish


def test_the_retrain_button_queues_a_run_and_activate_rolls_back(
    admin: Any, annotator: Any, project: Project, django_capture_on_commit_callbacks: Any
) -> None:
    from django.test import Client

    # given
    page = Client()
    page.force_login(admin)
    v1 = RewardModel.objects.create(project=project, version=1, mode="heads", backbone="x")
    RewardModel.objects.create(
        project=project, version=2, mode="heads", backbone="x", is_active=True
    )
    # when
    with django_capture_on_commit_callbacks() as enqueued:
        retrain = page.post(f"/projects/{project.slug}/models/retrain", {"mode": "heads"})
        activate = page.post(f"/projects/{project.slug}/models/{v1.pk}/activate")
    # then
    assert retrain.status_code == activate.status_code == 302
    assert TrainingRun.objects.get().trigger == "manual"
    assert RewardModel.objects.get(is_active=True).version == 1
    assert len(tasks_sent(enqueued)) == 2  # the run, and the re-rank for v1
    html = page.get(f"/projects/{project.slug}/models").content.decode()
    assert 'id="retrain" disabled' in html  # a live run: the button waits for it
    annotator_page = Client()
    annotator_page.force_login(annotator)
    assert annotator_page.get(f"/projects/{project.slug}/models").status_code == 403


@pytest.mark.parametrize("mode", ["bogus", "external"])
def test_the_retrain_button_refuses_a_mode_the_api_refuses(
    admin: Any, project: Project, django_capture_on_commit_callbacks: Any, mode: str
) -> None:
    from django.contrib.messages import get_messages
    from django.test import Client

    # given
    page = Client()
    page.force_login(admin)
    # when an unknown mode (or one that is uploaded, not trained) is asked for on both
    with django_capture_on_commit_callbacks() as enqueued:
        api = client_for(admin).post(f"/api/projects/{project.slug}/retrain", {"mode": mode})
        response = page.post(f"/projects/{project.slug}/models/retrain", {"mode": mode})
    # then both refuse it with the same message, and no run is queued
    assert api.status_code == 400
    assert response.status_code == 302
    shown = [m.message for m in get_messages(response.wsgi_request)]
    assert shown == [f"mode: {api.json()['mode'][0]}"]
    assert not TrainingRun.objects.exists() and tasks_sent(enqueued) == []


def test_a_failed_threshold_run_is_not_requeued_until_new_judgements_arrive(
    project: Project, tmp_path: Path, django_capture_on_commit_callbacks: Any
) -> None:
    # given a threshold run that failed
    Project.objects.filter(pk=project.pk).update(retrain_every=5)
    import_file(project, write_jsonl(tmp_path / "p.jsonl", pair_rows(5)))
    with django_capture_on_commit_callbacks():
        [run_id] = retrain_where_due()
    TrainingRun.objects.filter(pk=run_id).update(status="failed")
    # when / then
    with django_capture_on_commit_callbacks():
        assert retrain_where_due() == []
        import_file(project, write_jsonl(tmp_path / "q.jsonl", pair_rows(5, prefix="n")))
        assert len(retrain_where_due()) == 1
