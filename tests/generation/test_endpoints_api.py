"""Registering endpoints and starting generations: who may, what is refused, no key shown."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from annotate.formats import ImportFormatError
from annotate.importing.pipeline import import_file
from annotate.models import Project, Prompt
from generation.keys import decrypt_key
from generation.models import GenerationJob, ModelEndpoint
from tests.conftest import client_for
from tests.factories import write_jsonl

URL = "/api/projects/proj/endpoints"
SECRET = "sk-very-secret-key-123"
BODY = {
    "name": "policy-a",
    "base_url": "http://models.internal:8000/v1",
    "model": "tiny",
    "api_key": SECRET,
    "params": {"temperature": 0.7, "max_tokens": 32, "seed": 1},
    "concurrency": 2,
    "requests_per_minute": 120,
    "timeout_s": 30,
}


@pytest.fixture(autouse=True)
def _allowed_host(settings: Any) -> None:
    settings.OUTBOUND_HOSTS = ["models.internal:8000"]


def _no_key_in(response: Any) -> None:
    assert SECRET not in response.content.decode()
    assert "api_key_encrypted" not in response.content.decode()


@pytest.mark.django_db
def test_an_admin_registers_an_endpoint_and_its_key_is_never_returned(
    admin: User, project: Project
) -> None:
    # when
    created = client_for(admin).post(URL, BODY, format="json")
    listed = client_for(admin).get(URL)
    # then
    assert created.status_code == 201, created.content
    assert created.json()["key_source"] == "stored"
    assert listed.json()[0]["params"] == BODY["params"]
    _no_key_in(created)
    _no_key_in(listed)
    stored = ModelEndpoint.objects.get(name="policy-a")
    assert SECRET not in stored.api_key_encrypted
    assert decrypt_key(stored.api_key_encrypted) == SECRET


@pytest.mark.django_db
def test_an_admin_cannot_point_an_endpoint_outside_outbound_hosts(
    admin: User, project: Project
) -> None:
    for url in ("http://169.254.169.254/v1", "http://127.0.0.1:5432/v1", "http://evil.example/v1"):
        # when
        response = client_for(admin).post(URL, {**BODY, "base_url": url}, format="json")
        # then
        assert response.status_code == 400
        assert "OUTBOUND_HOSTS" in response.json()["base_url"][0]
    assert not ModelEndpoint.objects.exists()


@pytest.mark.django_db
def test_loopback_is_refused_when_the_list_is_empty(
    admin: User, project: Project, settings: Any
) -> None:
    # given: no list, so only public addresses (a name is checked again at each call)
    settings.OUTBOUND_HOSTS = []
    for url in ("http://127.0.0.1:11434/v1", "http://[::1]:8000/v1", "http://10.1.2.3/v1"):
        response = client_for(admin).post(URL, {**BODY, "base_url": url}, format="json")
        assert response.status_code == 400 and "base_url" in response.json()


@pytest.mark.django_db
def test_an_annotator_cannot_list_endpoints_and_an_outsider_cannot_see_them(
    admin: User, annotator: User, outsider: User, project: Project
) -> None:
    client_for(admin).post(URL, BODY, format="json")
    assert client_for(annotator).get(URL).status_code == 403
    assert client_for(annotator).post(URL, BODY, format="json").status_code == 403
    assert client_for(outsider).get(URL).status_code == 404
    assert client_for(None).get(URL).status_code in (401, 403)
    assert client_for(annotator).get("/projects/proj/endpoints").status_code in (302, 403)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"params": {"temperature": 9}}, "params"),
        ({"params": {"logit_bias": {}}}, "params"),
        ({"concurrency": 0}, "concurrency"),
        ({"timeout_s": 0}, "timeout_s"),
        ({"api_key_env": "NOT A NAME"}, "api_key_env"),
        ({"api_key_env": "KEY_VAR"}, "api_key_env"),  # beside api_key: one or the other
        ({"name": ""}, "name"),
    ],
)
def test_bad_endpoint_input_is_a_400_naming_the_field(
    admin: User, project: Project, change: dict[str, Any], field: str
) -> None:
    response = client_for(admin).post(URL, {**BODY, **change}, format="json")
    assert response.status_code == 400
    assert field in response.json()


@pytest.mark.django_db
def test_a_second_endpoint_with_the_same_name_is_refused(admin: User, project: Project) -> None:
    client_for(admin).post(URL, BODY, format="json")
    response = client_for(admin).post(URL, BODY, format="json")
    assert response.status_code == 400 and "name" in response.json()


@pytest.mark.django_db
def test_patch_changes_an_endpoint_and_delete_removes_it(admin: User, project: Project) -> None:
    # given
    endpoint_id = client_for(admin).post(URL, BODY, format="json").json()["id"]
    # when: the key moves to an environment variable
    patched = client_for(admin).patch(
        f"{URL}/{endpoint_id}", {"api_key_env": "POLICY_KEY", "concurrency": 8}, format="json"
    )
    # then
    assert patched.status_code == 200
    assert (patched.json()["key_source"], patched.json()["concurrency"]) == ("env", 8)
    assert ModelEndpoint.objects.get(pk=endpoint_id).api_key_encrypted == ""
    _no_key_in(patched)
    assert client_for(admin).delete(f"{URL}/{endpoint_id}").status_code == 204
    assert not ModelEndpoint.objects.exists()


@pytest.mark.django_db
def test_prompts_import_detected_with_ids_and_meta(project: Project, tmp_path: Path) -> None:
    # given
    rows = [
        {"prompt": "what is a cat?", "id": "q1", "meta": {"topic": "cats"}},
        {"prompt": [{"role": "system", "content": "be kind"}, {"role": "user", "content": "hi"}]},
        {"prompt": "what is a cat?"},
    ]
    # when
    summary = import_file(project, write_jsonl(tmp_path / "p.jsonl", rows))
    again = import_file(project, write_jsonl(tmp_path / "p.jsonl", rows))
    # then
    assert (summary.format, summary.prompts_created, summary.prompts_existing) == ("prompts", 2, 0)
    assert again.prompts_created == 0
    first = Prompt.objects.get(external_id="q1")
    assert first.meta == {"topic": "cats"} and first.messages[0]["content"] == "what is a cat?"
    assert not first.pairs.exists()


@pytest.mark.django_db
def test_a_bad_prompts_row_is_named_by_line_and_field(project: Project, tmp_path: Path) -> None:
    rows = [{"prompt": "fine"}, {"prompt": [{"role": "robot", "content": "x"}]}]
    with pytest.raises(ImportFormatError) as caught:
        import_file(project, write_jsonl(tmp_path / "p.jsonl", rows))
    assert "line 2" in str(caught.value) and "prompt[0].role" in str(caught.value)
    assert not Prompt.objects.exists()


@pytest.mark.django_db
def test_starting_a_generation_names_bad_input_and_reports_progress(
    admin: User, annotator: User, project: Project, tmp_path: Path
) -> None:
    # given
    import_file(project, write_jsonl(tmp_path / "p.jsonl", [{"prompt": "hi"}]))
    client_for(admin).post(URL, BODY, format="json")
    generations = "/api/projects/proj/generations"
    # then: bad input is a 400 naming the field
    unknown = client_for(admin).post(
        generations, {"endpoints": ["nope"], "samples": 2}, format="json"
    )
    assert unknown.status_code == 400 and "endpoints" in unknown.json()
    too_many = client_for(admin).post(
        generations, {"endpoints": ["policy-a"], "samples": 1000}, format="json"
    )
    assert too_many.status_code == 400 and "samples" in too_many.json()
    assert client_for(annotator).get(generations).status_code == 403
    # when
    started = client_for(admin).post(
        generations, {"endpoints": ["policy-a"], "samples": 3}, format="json"
    )
    # then
    assert started.status_code == 201, started.content
    job = GenerationJob.objects.get()
    progress = client_for(admin).get(f"{generations}/{job.pk}").json()
    assert progress["status"] == "queued" and progress["endpoints"] == ["policy-a"]
    cancelled = client_for(admin).post(f"{generations}/{job.pk}/cancel").json()
    assert cancelled["status"] == "cancelled"
    _no_key_in(started)


@pytest.mark.django_db
def test_the_pages_list_and_add_endpoints_without_showing_keys(
    admin: User, project: Project
) -> None:
    # given
    client = Client()
    client.force_login(admin)
    form = {**BODY, "params": json.dumps(BODY["params"])}
    # when
    added = client.post("/projects/proj/endpoints/add", form)
    page = client.get("/projects/proj/endpoints")
    refused = client.post(
        "/projects/proj/endpoints/add", {**form, "name": "b", "base_url": "http://10.0.0.1/v1"}
    )
    # then
    assert added.status_code == 302
    assert page.status_code == 200 and "policy-a" in page.content.decode()
    assert refused.status_code == 400 and "OUTBOUND_HOSTS" in refused.content.decode()
    _no_key_in(page)
    _no_key_in(refused)
    assert client.get("/projects/proj/generations").status_code == 200


@pytest.mark.django_db
def test_the_generation_page_starts_a_job_and_shows_its_progress(
    admin: User, project: Project, tmp_path: Path
) -> None:
    # given
    import_file(project, write_jsonl(tmp_path / "p.jsonl", [{"prompt": "hi"}]))
    client_for(admin).post(URL, BODY, format="json")
    client = Client()
    client.force_login(admin)
    # when: a bad request, then a good one
    refused = client.post("/projects/proj/generations/start", {"samples": "2"})
    started = client.post(
        "/projects/proj/generations/start", {"endpoints": ["policy-a"], "samples": "2"}
    )
    # then
    assert refused.status_code == 400 and "endpoints" in refused.content.decode().lower()
    job = GenerationJob.objects.get()
    assert started.status_code == 302 and started["Location"].endswith(f"/generations/{job.pk}")
    page = client.get(started["Location"])
    assert page.status_code == 200 and "0 of 0 samples stored" in page.content.decode()
    cancelled = client.post(f"/projects/proj/generations/{job.pk}/cancel")
    assert cancelled.status_code == 302
    assert GenerationJob.objects.get().status == "cancelled"


def page_client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_the_page_edits_an_endpoint_as_patch_does_and_keeps_the_key_unless_told(
    admin: User, annotator: User, project: Project
) -> None:
    # given: an endpoint with a stored key
    endpoint_id = client_for(admin).post(URL, BODY, format="json").json()["id"]
    edit = f"/projects/proj/endpoints/{endpoint_id}/edit"
    client = page_client(admin)
    form = {
        **BODY,
        "api_key": "",
        "model": "tiny-2",
        "params": json.dumps({"temperature": 0.2}),
        "concurrency": "3",
    }
    # when: the form is sent with a new model, sampling and concurrency, the key left blank
    saved = client.post(edit, form)
    # then: the change is made, the stored key kept
    assert saved.status_code == 302
    endpoint = ModelEndpoint.objects.get(pk=endpoint_id)
    assert (endpoint.model, endpoint.params, endpoint.concurrency) == (
        "tiny-2",
        {"temperature": 0.2},
        3,
    )
    assert decrypt_key(endpoint.api_key_encrypted) == SECRET
    # and the page shows the edit form filled in, without the key
    page = client.get("/projects/proj/endpoints")
    assert 'value="tiny-2"' in page.content.decode()
    _no_key_in(page)
    # when: "remove the stored key" is ticked and sampling is cleared
    client.post(edit, {**form, "params": "", "remove_key": "1"})
    endpoint.refresh_from_db()
    assert (endpoint.api_key_encrypted, endpoint.params) == ("", {})
    # when: bad input, as the API would refuse it
    refused = client.post(edit, {**form, "base_url": "http://10.0.0.1/v1", "params": "[1]"})
    assert refused.status_code == 400
    assert "OUTBOUND_HOSTS" in refused.content.decode()
    assert "must be an object" in refused.content.decode()
    assert ModelEndpoint.objects.get(pk=endpoint_id).base_url == BODY["base_url"]
    # and an annotator may not edit
    assert page_client(annotator).post(edit, form).status_code == 403


@pytest.mark.django_db
def test_the_generation_page_sends_sampling_params_through_the_api_checks(
    admin: User, project: Project, tmp_path: Path
) -> None:
    # given
    import_file(project, write_jsonl(tmp_path / "p.jsonl", [{"prompt": "hi"}]))
    client_for(admin).post(URL, BODY, format="json")
    client = page_client(admin)
    start = "/projects/proj/generations/start"
    form = {"endpoints": ["policy-a"], "samples": "2"}
    # when: parameters the API would refuse
    unknown = client.post(start, {**form, "params": json.dumps({"temprature": 1})})
    hot = client.post(start, {**form, "params": json.dumps({"temperature": 9})})
    broken = client.post(start, {**form, "params": "{not json"})
    # then: each is a 400 naming the problem, echoing what was typed, and no job
    assert unknown.status_code == 400 and "unknown parameter temprature" in unknown.content.decode()
    assert hot.status_code == 400 and "temperature must be between 0 and 2" in hot.content.decode()
    assert broken.status_code == 400 and "{not json" in broken.content.decode()
    assert not GenerationJob.objects.exists()
    # when: good ones
    started = client.post(start, {**form, "params": json.dumps({"temperature": 1.2})})
    # then: the job asks with them over the endpoint's defaults
    assert started.status_code == 302
    job = GenerationJob.objects.get()
    assert job.params == {"temperature": 1.2}
    assert job.job_endpoints.get().params["temperature"] == 1.2
