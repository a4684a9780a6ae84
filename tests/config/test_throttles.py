"""Request rates: one member's heavy calls are refused (429) before they slow anyone else."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core.cache import caches
from django.core.exceptions import ImproperlyConfigured
from rest_framework.throttling import SimpleRateThrottle

from annotate.api.throttles import ScopedThrottle
from annotate.models import Project
from config.env import env_rate
from rewards.models import RewardModel
from tests.conftest import client_for
from tests.factories import make_pairs

pytestmark = pytest.mark.django_db


@pytest.fixture
def rates(monkeypatch: pytest.MonkeyPatch) -> dict[str, str | None]:
    """The throttles' rates, to lower for a test (DRF reads the settings once, at import)."""
    rates: dict[str, str | None] = SimpleRateThrottle.THROTTLE_RATES
    for scope, rate in list(rates.items()):
        monkeypatch.setitem(rates, scope, rate)  # put back after the test
    return rates


def _forget(scope: str, *users: Any) -> None:
    """Drop earlier counts: with Redis the "throttle" cache outlives a test's rollback."""
    for user in users:
        key = ScopedThrottle.cache_format % {"scope": scope, "ident": user.pk}
        caches["throttle"].delete(key)


def test_the_call_past_the_expensive_rate_is_429_and_others_judge_on(
    annotator: Any,
    second_annotator: Any,
    project: Project,
    tmp_path: Path,
    rates: dict[str, str | None],
) -> None:
    # given: three leaderboard calls a minute per user
    rates["expensive"] = "3/minute"
    make_pairs(project, tmp_path, 2, labelled=False)
    _forget("expensive", annotator, second_annotator)
    greedy, other = client_for(annotator), client_for(second_annotator)
    board = f"/api/projects/{project.slug}/leaderboard"
    # when: one annotator asks a fourth time
    # (202: the board is being computed by a worker; either way, answered)
    assert [greedy.get(board).status_code for _ in range(3)] in ([202, 202, 202], [202, 200, 200])
    refused = greedy.get(board)
    # then: refused with when to come back
    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= 60
    # and the other annotator still leases, judges and reads the board
    leased = other.post(f"/api/projects/{project.slug}/next", {}, format="json")
    assert leased.status_code == 200
    judged = other.post(
        f"/api/assignments/{leased.json()['assignment']}/judgement",
        {"choice": "left", "duration_ms": 1500, "client_id": "c-1"},
        format="json",
    )
    assert judged.status_code in (200, 201), judged.content
    assert other.get(board).status_code in (200, 202)


def test_the_quality_report_shares_the_expensive_rate(
    admin: Any, project: Project, rates: dict[str, str | None]
) -> None:
    # given
    rates["expensive"] = "2/minute"
    _forget("expensive", admin)
    api = client_for(admin)
    # when
    codes = [api.get(f"/api/projects/{project.slug}/quality").status_code for _ in range(2)]
    # then: the leaderboard is refused too
    assert codes == [202, 202]  # answered: being computed by a worker (none runs here)
    assert api.get(f"/api/projects/{project.slug}/leaderboard").status_code == 429


def test_scoring_has_a_rate_of_its_own(
    annotator: Any, project: Project, rates: dict[str, str | None]
) -> None:
    # given: a served model
    rates["scoring"] = "2/minute"
    _forget("scoring", annotator)
    RewardModel.objects.create(project=project, version=1, mode="heads", is_active=True)
    api = client_for(annotator)
    body = {"prompt": "hi", "responses": ["a", "b"]}
    # when
    codes = [
        api.post(f"/api/projects/{project.slug}/score", body, format="json").status_code
        for _ in range(3)
    ]
    # then
    assert codes == [202, 202, 429]


def test_every_endpoint_has_a_per_user_rate(
    annotator: Any, second_annotator: Any, project: Project, rates: dict[str, str | None]
) -> None:
    # given
    rates["user"] = "2/minute"
    api = client_for(annotator)
    # when / then
    assert [api.get("/api/projects/").status_code for _ in range(3)] == [200, 200, 429]
    assert client_for(second_annotator).get("/api/projects/").status_code == 200


def test_an_unreachable_throttle_cache_lets_the_call_through(
    annotator: Any, project: Project, rates: dict[str, str | None], settings: Any
) -> None:
    # given: the shared throttle cache is a Redis nobody listens on
    rates["expensive"] = "1/minute"
    settings.CACHES = {
        **settings.CACHES,
        "throttle": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
        },
    }
    api = client_for(annotator)
    # when / then: the rate is not enforced, and nothing fails
    board = f"/api/projects/{project.slug}/leaderboard"
    assert [api.get(board).status_code for _ in range(2)] == [202, 202]  # answered, not 429


def test_rates_come_from_the_environment_and_junk_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given / when / then
    assert env_rate("API_THROTTLE_TEST", "20/minute") == "20/minute"
    monkeypatch.setenv("API_THROTTLE_TEST", "5/Hour")
    assert env_rate("API_THROTTLE_TEST", "20/minute") == "5/hour"
    monkeypatch.setenv("API_THROTTLE_TEST", "off")
    assert env_rate("API_THROTTLE_TEST", "20/minute") is None
    for junk in ("20", "20/min", "0/minute", "-1/minute", "twenty/minute", "²/minute"):
        monkeypatch.setenv("API_THROTTLE_TEST", junk)
        with pytest.raises(ImproperlyConfigured, match="is not a rate"):
            env_rate("API_THROTTLE_TEST", "20/minute")
