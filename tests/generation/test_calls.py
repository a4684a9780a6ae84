"""One call to an endpoint: retries with backoff and Retry-After, typed errors, keys, limits."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from annotate.models import Project
from generation.calls import EndpointError, Reason, chat
from generation.keys import encrypt_key
from generation.models import ModelEndpoint
from tests.generation.servers import FaultPlan, fault_server

MESSAGES = [{"role": "user", "content": "hello"}]


@pytest.fixture(autouse=True)
def _loopback_allowed(settings: Any) -> None:
    settings.OUTBOUND_HOSTS = ["127.0.0.1"]
    settings.GENERATION_BACKOFF_SECONDS = 0.05
    settings.GENERATION_MAX_BACKOFF_SECONDS = 3


def endpoint_at(project: Project, url: str, **fields: Any) -> ModelEndpoint:
    fields.setdefault("timeout_s", 2.0)
    return ModelEndpoint.objects.create(
        project=project, name="m", base_url=url + "/m/v1", model="tiny", **fields
    )


@pytest.mark.django_db
def test_it_returns_text_tokens_latency_and_finish_reason(project: Project) -> None:
    # given
    plan = FaultPlan()
    with fault_server(plan) as url:
        endpoint = endpoint_at(project, url, params={"temperature": 0.5, "seed": 7})
        # when
        result = chat(endpoint, MESSAGES)
    # then
    assert result.text == "echo: hello #7"
    assert (result.tokens_in, result.tokens_out, result.finish_reason) == (3, 4, "stop")
    assert result.latency_ms >= 0
    assert plan.bodies[0]["temperature"] == 0.5 and plan.bodies[0]["model"] == "tiny"


@pytest.mark.django_db
@pytest.mark.parametrize("fault", ["429", "500", "hang", "malformed"])
def test_it_retries_a_fault_and_then_answers(project: Project, fault: str) -> None:
    # given: the first call fails
    plan = FaultPlan(fail=lambda n: fault if n == 1 else None, retry_after="0", hang_s=4)
    with fault_server(plan) as url:
        endpoint = endpoint_at(project, url, timeout_s=1.0)
        # when
        result = chat(endpoint, MESSAGES)
    # then
    assert result.text == "echo: hello"
    assert plan.calls == 2 and plan.faults == {fault: 1}


@pytest.mark.django_db
def test_it_waits_as_long_as_retry_after_asks(project: Project) -> None:
    # given
    plan = FaultPlan(fail=lambda n: "429" if n == 1 else None, retry_after="1")
    with fault_server(plan) as url:
        endpoint = endpoint_at(project, url)
        # when
        started = time.monotonic()
        chat(endpoint, MESSAGES)
    # then
    assert time.monotonic() - started >= 1.0


@pytest.mark.django_db
def test_it_gives_up_after_the_last_attempt_with_the_reason(project: Project) -> None:
    # given: a server that always fails
    plan = FaultPlan(fail=lambda n: "500")
    with fault_server(plan) as url:
        endpoint = endpoint_at(project, url)
        # when / then
        with pytest.raises(EndpointError) as caught:
            chat(endpoint, MESSAGES, attempts=3)
    assert caught.value.reason == Reason.SERVER and caught.value.status == 500
    assert plan.calls == 3


@pytest.mark.django_db
def test_it_does_not_retry_a_request_the_server_refuses(project: Project) -> None:
    # given
    plan = FaultPlan(fail=lambda n: "400")
    with fault_server(plan) as url:
        endpoint = endpoint_at(project, url)
        with pytest.raises(EndpointError) as caught:
            chat(endpoint, MESSAGES)
    assert caught.value.reason == Reason.CLIENT and plan.calls == 1


@pytest.mark.django_db
def test_it_refuses_a_host_outside_outbound_hosts_before_calling(
    project: Project, settings: Any
) -> None:
    # given: the allowlist names another host
    settings.OUTBOUND_HOSTS = ["models.internal"]
    plan = FaultPlan()
    with fault_server(plan) as url:
        endpoint = endpoint_at(project, url)
        with pytest.raises(EndpointError) as caught:
            chat(endpoint, MESSAGES)
    assert caught.value.reason == Reason.REFUSED and "OUTBOUND_HOSTS" in str(caught.value)
    assert plan.calls == 0


@pytest.mark.django_db
def test_it_sends_the_decrypted_key_or_the_named_environment_variable(
    project: Project, monkeypatch: Any
) -> None:
    # given
    plan = FaultPlan()
    monkeypatch.setenv("TEAM_MODEL_KEY", "from-env")
    with fault_server(plan) as url:
        stored = endpoint_at(project, url, api_key_encrypted=encrypt_key("sk-secret"))
        # when
        chat(stored, MESSAGES)
        stored.delete()
        named = endpoint_at(project, url, api_key_env="TEAM_MODEL_KEY")
        chat(named, MESSAGES)
    # then: the key is stored encrypted and sent as a bearer token
    assert "sk-secret" not in stored.api_key_encrypted
    assert plan.headers[0]["authorization"] == "Bearer sk-secret"
    assert plan.headers[1]["authorization"] == "Bearer from-env"


@pytest.mark.django_db
def test_requests_per_minute_spaces_the_calls(project: Project) -> None:
    # given: 120 a minute, a bucket of 120 already spent
    plan = FaultPlan()
    with fault_server(plan) as url:
        endpoint = endpoint_at(project, url, requests_per_minute=120)
        ModelEndpoint.objects.filter(pk=endpoint.pk).update(
            bucket_tokens=0.0, bucket_at=timezone.now()
        )
        # when
        started = time.monotonic()
        for _ in range(3):
            chat(endpoint, MESSAGES)
    # then: one call each half second
    assert time.monotonic() - started >= 1.2


def chat_in_threads(endpoint: ModelEndpoint, threads: int) -> list[str]:
    """`threads` calls to the endpoint at once, each from its own thread (and connection)."""
    start = threading.Barrier(threads)

    def one(_: int) -> str:
        try:
            start.wait()
            return chat(endpoint, MESSAGES).text
        finally:
            connection.close()

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(one, range(threads)))


@pytest.mark.django_db(transaction=True)
def test_concurrency_one_never_has_two_calls_in_flight_at_the_server(project: Project) -> None:
    # given: an endpoint allowed one call at a time, and a server that answers slowly
    plan = FaultPlan(fail=lambda n: "hang", hang_s=0.5)
    with fault_server(plan) as url:
        endpoint = endpoint_at(project, url, concurrency=1)
        # when: two threads call it at once
        answers = chat_in_threads(endpoint, 2)
    # then: both are answered, one after the other
    assert answers == ["echo: ", "echo: "]
    assert (plan.calls, plan.most_in_flight) == (2, 1)
    assert ModelEndpoint.objects.get(pk=endpoint.pk).slots == []


@pytest.mark.django_db(transaction=True)
def test_concurrency_two_lets_two_calls_overlap(project: Project) -> None:
    # given: the same slow server, two calls allowed at once
    plan = FaultPlan(fail=lambda n: "hang", hang_s=1.0)
    with fault_server(plan) as url:
        endpoint = endpoint_at(project, url, concurrency=2)
        # when
        chat_in_threads(endpoint, 2)
    # then: the server saw them together (what the test above rules out)
    assert (plan.calls, plan.most_in_flight) == (2, 2)
