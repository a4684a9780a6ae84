"""One status vocabulary for every background job; an API schema that builds cleanly and is
shown to whom the settings say; a Content-Security-Policy on every answer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client

from annotate.models import ImportJob, JobStatus
from rewards.models import EmbeddingRun, ScoreRequest, TrainingRun


@pytest.mark.parametrize("model", [ImportJob, TrainingRun, EmbeddingRun, ScoreRequest])
def test_every_job_like_model_uses_the_one_status_enum(model: Any) -> None:
    assert model.Status is JobStatus
    assert model._meta.get_field("status").choices == JobStatus.choices


def test_the_api_schema_builds_without_warnings(tmp_path: Path) -> None:
    # a status enum per model used to collide in the schema's component names
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    assert "    StatusEnum:" in out.read_text()  # one enum for every job's status


@pytest.mark.django_db
@pytest.mark.parametrize(("public", "expected"), [(False, 401), (True, 200)])
def test_anonymous_callers_read_the_schema_only_when_the_docs_are_public(
    settings: Any, public: bool, expected: int
) -> None:
    settings.API_DOCS_PUBLIC = public
    assert Client().get("/api/schema/").status_code == expected
    assert Client().get("/api/docs/").status_code == expected


@pytest.mark.django_db
def test_pages_and_the_api_carry_a_policy_without_inline_script(admin: Any) -> None:
    client = Client()
    client.force_login(admin)
    for path in ("/", "/login/", "/api/projects/"):
        policy = client.get(path)["Content-Security-Policy"]
        directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
        assert directives["script-src"] == "'self'"
        assert directives["frame-ancestors"] == "'none'"
        assert "unsafe" not in policy
