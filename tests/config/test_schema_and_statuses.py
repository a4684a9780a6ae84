"""One status vocabulary for every background job, and an API schema that builds cleanly."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.management import call_command

from annotate.models import ImportJob, JobStatus
from rewards.models import EmbeddingRun, ScoreRequest, TrainingRun


@pytest.mark.parametrize("model", [ImportJob, TrainingRun, EmbeddingRun, ScoreRequest])
def test_every_job_like_model_uses_the_one_status_enum(model: type) -> None:
    assert model.Status is JobStatus
    assert model._meta.get_field("status").choices == JobStatus.choices


def test_the_api_schema_builds_without_warnings(tmp_path: Path) -> None:
    # a status enum per model used to collide in the schema's component names
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    assert "    StatusEnum:" in out.read_text()  # one enum for every job's status
