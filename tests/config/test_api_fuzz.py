"""Every operation of the OpenAPI schema, driven with generated input: never a 500."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from django.contrib.auth.models import Permission
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from rest_framework.authtoken.models import Token
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from annotate.judging.queue import lease_next_pair
from annotate.models import Project
from rewards.models import RewardModel
from tests.factories import make_pairs


@pytest.fixture
def api_schema(db: None, settings: Any) -> Iterator[Any]:
    from config.wsgi import application

    settings.ALLOWED_HOSTS = ["localhost"]
    settings.API_DOCS_PUBLIC = True  # schemathesis reads the schema anonymously
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
def lease(admin: Any, token: str) -> int:
    """An open lease of the admin's, so judgement and skip calls reach their validation."""
    return lease_next_pair(admin, Project.objects.get(slug="proj")).pk


def test_no_input_makes_a_server_error(api_schema: Any, token: str, lease: int) -> None:
    # schemathesis's pytest plugin predates this pytest; hypothesis drives each operation here.
    operations = [result.ok() for result in api_schema.get_all_operations()]
    for operation, mode in itertools.product(operations, GenerationMode):

        @given(case=operation.as_strategy(generation_mode=mode))
        @hypothesis_settings(
            max_examples=8,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def check(case: Any) -> None:
            # Most generated slugs and ids name nothing; aim half the calls at real ones.
            aim = {"slug": "proj", "id": lease}
            for name, value in (case.path_parameters or {}).items():
                if name in aim and len(repr((case.body, value))) % 2:
                    case.path_parameters[name] = aim[name]
            case.call_and_validate(
                headers={"Authorization": f"Token {token}"}, checks=[not_a_server_error]
            )

        try:
            check()
        except Unsatisfiable:
            # An operation without parameters or a body has no invalid input to generate.
            assert mode == GenerationMode.NEGATIVE, operation.label
