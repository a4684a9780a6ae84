"""Normalized rewards: per-version mean/std over the project's responses, z, percentile, export."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from annotate.importing.pipeline import import_file
from annotate.models import Project, Response
from rewards.models import ResponseScore, RewardModel
from rewards.normalization import normalize, record_reward_stats
from tests.conftest import client_for, streamed
from tests.factories import pair_rows, write_jsonl

pytestmark = pytest.mark.django_db


@pytest.fixture
def scored(project: Project, tmp_path: Path) -> RewardModel:
    """Two versions scoring the project's 10 responses on different scales: 0..9 and 100..118."""
    import_file(project, write_jsonl(tmp_path / "p.jsonl", pair_rows(5)))
    responses = list(Response.objects.filter(prompt__project=project).order_by("pk"))
    assert len(responses) == 10
    old = RewardModel.objects.create(project=project, version=1, mode="heads")
    new = RewardModel.objects.create(project=project, version=2, mode="heads", is_active=True)
    ResponseScore.objects.bulk_create(
        [
            ResponseScore(response=r, model=old, mean=float(i), std=0.1)
            for i, r in enumerate(responses)
        ]
        + [
            ResponseScore(response=r, model=new, mean=100.0 + 2 * i, std=0.1)
            for i, r in enumerate(responses)
        ]
    )
    return new


def test_each_version_stores_the_mean_and_std_of_its_rewards(scored: RewardModel) -> None:
    stats = record_reward_stats(scored)
    assert stats["n"] == 10
    assert stats["mean"] == pytest.approx(109.0)
    assert stats["std"] == pytest.approx(5.744562646538029)  # population std of 100, 102, .. 118
    assert RewardModel.objects.get(pk=scored.pk).reward_stats == stats


def test_z_and_percentile_agree_across_versions_on_different_scales(scored: RewardModel) -> None:
    old = RewardModel.objects.get(version=1)
    # the same rank in each version's own scale: the 8th of 10 responses
    on_new, on_old = normalize(scored, [114.0])[0], normalize(old, [7.0])[0]
    assert on_new["reward"] == 114.0 and on_old["reward"] == 7.0
    assert on_new["z"] == pytest.approx(on_old["z"])
    assert on_new["percentile"] == on_old["percentile"] == 75.0
    assert normalize(scored, [99.0])[0]["percentile"] == 0.0
    assert normalize(scored, [500.0])[0]["percentile"] == 100.0


def test_the_export_lists_every_response_with_its_normalized_reward(
    admin: Any, project: Project, scored: RewardModel
) -> None:
    response = client_for(admin).get(f"/api/projects/{project.slug}/rewards")
    assert response.status_code == 200
    assert "rewards-v2.jsonl" in response["Content-Disposition"]
    rows = [json.loads(line) for line in streamed(response).splitlines()]
    assert len(rows) == 10
    assert {r["model_version"] for r in rows} == {2}
    assert sum(r["z"] for r in rows) == pytest.approx(0.0, abs=1e-9)
    assert sorted(r["percentile"] for r in rows) == [5.0 + 10 * i for i in range(10)]
    assert all(r["text"] and r["prompt"] for r in rows)


def test_the_export_takes_a_version_and_parquet(
    admin: Any, project: Project, scored: RewardModel
) -> None:
    url = f"/api/projects/{project.slug}/rewards?version=1&file=parquet"
    response = client_for(admin).get(url)
    assert response.status_code == 200
    table = pq.read_table(io.BytesIO(streamed(response)))
    assert table.num_rows == 10
    assert set(table.column("model_version").to_pylist()) == {1}


def test_the_export_refuses_bad_input_and_non_admins(
    admin: Any, annotator: Any, outsider: Any, project: Project, scored: RewardModel
) -> None:
    url = f"/api/projects/{project.slug}/rewards"
    assert client_for(admin).get(url + "?file=csv").status_code == 400
    assert client_for(admin).get(url + "?version=9").status_code == 404
    assert client_for(admin).get(url + "?version=x").status_code == 400
    assert client_for(annotator).get(url).status_code == 403
    assert client_for(outsider).get(url).status_code == 404


def test_without_a_served_model_there_is_nothing_to_export(admin: Any, project: Project) -> None:
    response = client_for(admin).get(f"/api/projects/{project.slug}/rewards")
    assert response.status_code == 404
    assert "serves no model" in response.json()["detail"]
