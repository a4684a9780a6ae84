"""The client's HTTP behaviour against a real socket server: retries, Retry-After, timeouts,
errors mapped to exceptions with the server's message and field, and pagination."""

from __future__ import annotations

import email.utils
import gzip
import json
import time
from pathlib import Path

import pytest
from prefloop_client import (
    AuthenticationFailed,
    Client,
    Conflict,
    NotFound,
    PermissionDenied,
    PrefloopError,
    Project,
    RateLimited,
    ServerError,
    ValidationError,
)
from prefloop_client.http import RetryPolicy, Transport

from tests.client.conftest import FaultServer, Reply

PROJECT = {"id": 1, "slug": "p", "name": "P", "role": "admin", "judgements_per_pair": 2}


def _transport(server: FaultServer, **options: float) -> Transport:
    policy = RetryPolicy(retries=int(options.pop("retries", 3)), backoff=0.05, jitter=0.0)
    return Transport(server.url, token="t0k", retry=policy, timeout=options.get("timeout", 5.0))


def test_it_retries_503_and_waits_as_long_as_retry_after_says(fault_server: FaultServer) -> None:
    # given: two 503s asking for 0.4 s each, then the answer
    fault_server.script(
        Reply(503, {"detail": "busy"}, {"Retry-After": "0.4"}),
        Reply(503, {"detail": "busy"}, {"Retry-After": "0.4"}),
        Reply(200, PROJECT),
    )
    # when
    project = Client(fault_server.url, token="t0k", backoff=0.01).project("p")
    # then: three calls, each retry after Retry-After rather than the 10 ms backoff
    assert project.slug == "p" and project.settings["judgements_per_pair"] == 2
    times = [seen.at for seen in fault_server.seen]
    assert len(times) == 3
    assert times[1] - times[0] >= 0.38 and times[2] - times[1] >= 0.38
    assert fault_server.seen[0].headers["Authorization"] == "Token t0k"


@pytest.mark.parametrize("status", [429, 502, 504])
def test_it_retries_each_retryable_status(fault_server: FaultServer, status: int) -> None:
    fault_server.script(Reply(status, {"detail": "later"}), Reply(200, {"ok": True}))
    assert _transport(fault_server).get("/api/x") == {"ok": True}
    assert len(fault_server.seen) == 2


def test_a_retry_after_date_is_honoured(fault_server: FaultServer) -> None:
    # given: Retry-After as an HTTP date two seconds ahead (whole seconds: at least ~1 s)
    when = email.utils.formatdate(time.time() + 2, usegmt=True)
    fault_server.script(Reply(503, None, {"Retry-After": when}), Reply(200, {"ok": 1}))
    # when
    _transport(fault_server).get("/api/x")
    # then
    first, second = fault_server.seen
    assert second.at - first.at >= 0.9


def test_it_gives_up_with_rate_limited_carrying_retry_after(fault_server: FaultServer) -> None:
    # given: a server that throttles every call
    fault_server.script(Reply(429, {"detail": "Request was throttled."}, {"Retry-After": "0.05"}))
    # when
    with pytest.raises(RateLimited) as caught:
        _transport(fault_server, retries=2).get("/api/x")
    # then: the first try and two retries, then the server's message and wait
    assert len(fault_server.seen) == 3
    assert caught.value.status == 429
    assert caught.value.retry_after == pytest.approx(0.05)
    assert "throttled" in caught.value.message


def test_a_500_is_not_retried(fault_server: FaultServer) -> None:
    fault_server.script(Reply(500, {"detail": "boom"}))
    with pytest.raises(ServerError, match="boom"):
        _transport(fault_server).get("/api/x")
    assert len(fault_server.seen) == 1


@pytest.mark.parametrize(
    ("status", "body", "kind", "field", "message"),
    [
        (400, {"username": ["No such user."]}, ValidationError, "username", "No such user."),
        (400, {"non_field_errors": ["give one"]}, ValidationError, None, "give one"),
        (400, {"prompt": {"0": ["bad role"]}}, ValidationError, "prompt.0", "bad role"),
        (401, {"detail": "Invalid token."}, AuthenticationFailed, None, "Invalid token."),
        (403, {"detail": "paused: gold", "paused": True}, PermissionDenied, None, "paused: gold"),
        (404, {"detail": "No Project matches the given query."}, NotFound, None, "No Project"),
        (409, {"detail": "The project is archived."}, Conflict, None, "archived"),
    ],
)
def test_errors_carry_the_servers_message_and_field(
    fault_server: FaultServer,
    status: int,
    body: dict[str, object],
    kind: type[PrefloopError],
    field: str | None,
    message: str,
) -> None:
    fault_server.script(Reply(status, body))
    with pytest.raises(kind) as caught:
        _transport(fault_server).post("/api/x", {"a": 1})
    assert caught.value.status == status
    assert caught.value.field == field
    assert message in caught.value.message
    assert caught.value.body == body
    assert len(fault_server.seen) == 1  # refusals are final


def test_line_errors_of_an_upload_are_kept(fault_server: FaultServer) -> None:
    errors = [{"line": 2, "field": "reward", "message": "must be a finite number"}]
    fault_server.script(Reply(400, {"detail": "1 invalid row(s)", "errors": errors}))
    with pytest.raises(ValidationError) as caught:
        _transport(fault_server).post("/api/x", {"scores": []})
    [error] = caught.value.errors
    assert (error.line, error.field) == (2, "reward")
    assert str(error) == "line 2, field 'reward': must be a finite number"


def test_a_slow_get_times_out_and_is_retried(fault_server: FaultServer) -> None:
    # given: a first answer slower than the client's timeout
    fault_server.script(Reply(200, {"late": True}, delay=1.0), Reply(200, {"ok": True}))
    transport = _transport(fault_server, timeout=0.3)
    # when / then: the GET is sent again and gets the second answer
    assert transport.get("/api/x") == {"ok": True}
    assert len(fault_server.seen) == 2


def test_a_slow_post_is_not_sent_twice(fault_server: FaultServer) -> None:
    # given: a POST whose answer is lost to the timeout (the server may have acted on it)
    fault_server.script(Reply(201, {"late": True}, delay=1.0))
    # when / then
    with pytest.raises(PrefloopError, match="no answer"):
        _transport(fault_server, timeout=0.3).post("/api/projects/", {"slug": "x"})
    time.sleep(1.0)
    assert len(fault_server.seen) == 1


def test_an_unreachable_server_is_retried_then_reported() -> None:
    # given: a port nobody listens on
    server = FaultServer()
    url = server.url
    server.httpd.server_close()
    transport = Transport(url, retry=RetryPolicy(retries=2, backoff=0.01))
    # when / then
    with pytest.raises(PrefloopError, match="cannot reach"):
        transport.get("/api/x")


def test_a_retried_upload_sends_the_whole_file_again(
    fault_server: FaultServer, tmp_path: Path
) -> None:
    # given: rows uploaded as gzip JSONL, first answered 503
    fault_server.script(
        Reply(503, None, {"Retry-After": "0"}),
        Reply(202, {"id": 7, "status": "queued", "progress": 0.0, "errors": []}),
    )
    project = _project_on(fault_server)
    rows = [{"prompt": f"q{i}", "response_a": "x", "response_b": "y"} for i in range(50)]
    # when
    job = project.import_rows(rows)
    # then: both tries carried the same complete upload, which unpacks to the rows
    assert job.id == 7 and job.status == "queued"
    first, second = (_uploaded(seen.body) for seen in fault_server.seen[1:])
    assert first == second
    name, packed = second
    assert name == "rows.jsonl.gz"
    lines = gzip.decompress(packed).decode().splitlines()
    assert [json.loads(line) for line in lines] == rows


def _uploaded(body: bytes) -> tuple[str, bytes]:
    """The file name and bytes of a multipart body's `file` part."""
    boundary = body.split(b"\r\n", 1)[0]
    for part in body.split(boundary):
        head, _, content = part.partition(b"\r\n\r\n")
        if b'name="file"' in head:
            name = head.split(b'filename="', 1)[1].split(b'"', 1)[0].decode()
            return name, content.removesuffix(b"\r\n")
    raise AssertionError("no file part")


def _project_on(server: FaultServer) -> Project:
    saved = server.replies
    server.replies = [Reply(200, PROJECT)]
    project = Client(server.url, token="t0k", backoff=0.01).project("p")
    server.replies = saved
    return project


def test_listings_are_iterated_page_after_page(fault_server: FaultServer) -> None:
    # given: three pages linked by `next` (the server's absolute URLs)
    base = fault_server.url
    fault_server.script(
        Reply(200, {"next": f"{base}/api/projects/?offset=2", "results": [PROJECT, PROJECT]}),
        Reply(200, {"next": f"{base}/api/projects/?offset=4", "results": [PROJECT]}),
        Reply(200, {"next": None, "results": [{**PROJECT, "slug": "last"}]}),
    )
    # when
    slugs = [p.slug for p in Client(base, token="t0k").projects()]
    # then
    assert slugs == ["p", "p", "p", "last"]
    assert [s.path for s in fault_server.seen] == [
        "/api/projects/",
        "/api/projects/?offset=2",
        "/api/projects/?offset=4",
    ]
