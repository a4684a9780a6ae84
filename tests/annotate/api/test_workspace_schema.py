"""The workspace endpoints are in the OpenAPI schema, their write bodies with examples."""

from __future__ import annotations

from typing import Any

import pytest
from drf_spectacular.generators import SchemaGenerator

WORKSPACE = {
    ("/api/projects/{slug}/", "patch"),
    ("/api/projects/{slug}/", "delete"),
    ("/api/projects/{slug}/archive/", "post"),
    ("/api/projects/{slug}/unarchive/", "post"),
    ("/api/projects/{slug}/members/", "get"),
    ("/api/projects/{slug}/members/{user_id}", "patch"),
    ("/api/projects/{slug}/members/{user_id}", "delete"),
    ("/api/projects/{slug}/invitations", "get"),
    ("/api/projects/{slug}/invitations", "post"),
    ("/api/projects/{slug}/invitations/{invitation_id}", "delete"),
    ("/api/invitations/{token}/accept", "post"),
    ("/api/projects/{slug}/pairs", "get"),
    ("/api/projects/{slug}/pairs/{id}", "get"),
    ("/api/projects/{slug}/pairs/{id}/gold", "put"),
    ("/api/projects/{slug}/pairs/{id}/gold", "delete"),
    ("/api/projects/{slug}/pairs/{id}/judgements/{judgement_id}/invalidate", "post"),
    ("/api/projects/{slug}/pairs/{id}/judgements/{judgement_id}/restore", "post"),
    ("/api/projects/{slug}/imports/", "get"),
}


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return SchemaGenerator().get_schema(request=None, public=True)


def test_every_workspace_endpoint_is_in_the_schema(schema: dict[str, Any]) -> None:
    present = {(path, method) for path, item in schema["paths"].items() for method in item}
    assert WORKSPACE - present == set()


def test_workspace_bodies_carry_examples(schema: dict[str, Any]) -> None:
    missing = []
    for path, method in WORKSPACE:
        body = schema["paths"][path][method].get("requestBody")
        if body is None or path.endswith(("/archive/", "/unarchive/", "/restore", "/accept")):
            continue
        if not any("examples" in media for media in body["content"].values()):
            missing.append((method, path))
    assert missing == []


def test_the_pairs_list_documents_the_browsers_filters(schema: dict[str, Any]) -> None:
    operation = schema["paths"]["/api/projects/{slug}/pairs"]["get"]
    names = {p["name"] for p in operation["parameters"]}
    assert {"status", "disagreement", "gold", "model", "annotator", "q", "sort", "after"} <= names
