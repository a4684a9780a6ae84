"""Every operation of the OpenAPI schema, driven with generated input: never a 500.

The uploads (multipart: an import's file, an external model's scores file) get a test of their
own with more examples, and an accepted import is then run as the worker would run it.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from django.contrib.auth.models import Permission
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from rest_framework.authtoken.models import Token
from rest_framework.throttling import SimpleRateThrottle
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.formats import unregister_string_format

from annotate.importing.jobs import claim_import_job, run_import_job
from annotate.judging.queue import lease_next_pair
from annotate.models import ImportJob, Project
from rewards.external import register_external_model
from rewards.models import RewardModel
from tests.factories import make_pairs

MULTIPART = "multipart/form-data"
# Field names of the import formats (annotate/formats.py) and of external scores.
FIELDS = [
    *("prompt", "response_a", "response_b", "responses", "chosen", "rejected", "label", "id"),
    *("model", "model_a", "model_b", "role", "content", "text", "meta", "created_at"),
    *("annotator", "choice", "pair_external_id", "shown_left", "strength", "rationale"),
    *("duration_ms", "response_id", "reward", "members"),
]
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(["a", "b", "tie", "both_bad", "user", "assistant", "left", "right"])
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=12,
)
JSONL_FILES = st.lists(
    st.dictionaries(st.sampled_from(FIELDS), _VALUES, max_size=6), min_size=1, max_size=5
).map(lambda rows: "".join(json.dumps(row) + "\n" for row in rows).encode())
# The endpoints that take a file (every POST also accepts multipart, without one).
UPLOADS = {
    ("POST", "/api/projects/{slug}/imports/"),
    ("POST", "/api/projects/{slug}/external-models/{id}/scores"),
}


@pytest.fixture
def api_schema(db: None, settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from config.wsgi import application

    settings.ALLOWED_HOSTS = ["localhost"]
    settings.API_DOCS_PUBLIC = True  # schemathesis reads the schema anonymously
    # Each expensive endpoint is called 16 times in a few seconds, more than its per-user rate
    # allows: the 429s would be right, but would hide those endpoints from the fuzzing.
    for scope in ("expensive", "scoring"):
        monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, scope, None)
    # As Django's test client does: the test's transaction must outlive each request.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/schema/", application)
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def token(admin: Any, project: Project, tmp_path: Path) -> str:
    """The project admin's token, on a project with pairs and a served model to reach into."""
    admin.user_permissions.add(Permission.objects.get(codename="add_project"))
    make_pairs(project, tmp_path, 5, labelled=False)
    RewardModel.objects.create(project=project, version=1, mode="heads", is_active=True)
    return Token.objects.create(user=admin).key


@pytest.fixture
def targets(admin: Any, token: str) -> dict[str, int]:
    """Ids that name something: an open lease of the admin's, and an external model."""
    project = Project.objects.get(slug="proj")
    lease = lease_next_pair(admin, project)
    assert lease is not None
    return {
        "lease": lease.pk,
        "external": register_external_model(project, name="elsewhere").pk,
    }


def _fuzz(
    operation: Any,
    mode: GenerationMode,
    *,
    token: str,
    targets: dict[str, int],
    media_type: str | None = None,
    examples: int = 8,
    aim_always: bool = False,
    after: Callable[[Any], None] | None = None,
) -> None:
    @given(case=operation.as_strategy(generation_mode=mode, media_type=media_type))
    @hypothesis_settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def check(case: Any) -> None:
        # Most generated slugs and ids name nothing; aim half the calls at real ones.
        aim = {
            "slug": "proj",
            "id": targets["external" if "external-models" in case.path else "lease"],
        }
        for name, value in (case.path_parameters or {}).items():
            if name in aim and (aim_always or len(repr((case.body, value))) % 2):
                case.path_parameters[name] = aim[name]
        response = case.call_and_validate(
            headers={"Authorization": f"Token {token}"}, checks=[not_a_server_error]
        )
        if after is not None:
            after(response)

    try:
        check()
    except Unsatisfiable:
        # An operation without parameters or a body has no invalid input to generate.
        assert mode == GenerationMode.NEGATIVE, operation.label


def test_no_input_makes_a_server_error(
    api_schema: Any, token: str, targets: dict[str, int]
) -> None:
    # schemathesis's pytest plugin predates this pytest; hypothesis drives each operation here.
    operations = [result.ok() for result in api_schema.get_all_operations()]
    for operation, mode in itertools.product(operations, GenerationMode):
        _fuzz(operation, mode, token=token, targets=targets)


def _run_accepted_import(response: Any) -> None:
    """The worker's half of an accepted upload: it must end as succeeded or failed."""
    if response.status_code != 202:
        return
    job_id = response.json()["id"]
    assert claim_import_job(job_id)
    run_import_job(job_id)  # raises on anything but a refused file
    assert ImportJob.objects.get(pk=job_id).status in ("succeeded", "failed")


def test_no_upload_makes_a_server_error(
    api_schema: Any, token: str, targets: dict[str, int]
) -> None:
    # given: the operations that take a file
    uploads = [
        operation
        for operation in (result.ok() for result in api_schema.get_all_operations())
        if (operation.method.upper(), operation.path) in UPLOADS
    ]
    assert len(uploads) == len(UPLOADS)
    # when / then: generated multipart bodies never make a 500, nor does running an accepted
    # import; their files are JSONL rows made of the formats' field names, or any bytes
    schemathesis.openapi.format("binary", st.one_of(JSONL_FILES, st.binary()))
    try:
        for operation, mode in itertools.product(uploads, GenerationMode):
            _fuzz(
                operation,
                mode,
                token=token,
                targets=targets,
                media_type=MULTIPART,
                examples=25,
                aim_always=True,
                after=_run_accepted_import,
            )
    finally:
        unregister_string_format("binary")
