"""The entry point: a connection to one prefloop server, with a token."""

from __future__ import annotations

from collections.abc import Iterator
from types import TracebackType
from typing import Any

import httpx

from prefloop_client.http import RetryPolicy, Transport
from prefloop_client.project import Project


class Client:
    """A prefloop server at `url`, called with an API token.

    `timeout` is seconds per request (or an httpx.Timeout); `retries` is how often a call
    answered 429/502/503/504 (or never sent) is tried again, with exponential backoff that
    honours Retry-After.
    """

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        timeout: float | httpx.Timeout = 30.0,
        retries: int = 4,
        backoff: float = 0.5,
        max_wait: float = 60.0,
        http: httpx.Client | None = None,
    ) -> None:
        policy = RetryPolicy(retries=retries, backoff=backoff, max_wait=max_wait)
        self.transport = Transport(url, token=token, timeout=timeout, retry=policy, http=http)
        self.token = token

    @classmethod
    def login(cls, url: str, username: str, password: str, **options: Any) -> Client:
        """A client with a token for this username and password (`POST /api/auth/token`)."""
        policy = RetryPolicy(retries=options.get("retries", 4))
        timeout = options.get("timeout", 30.0)
        with Transport(url, retry=policy, timeout=timeout) as anonymous:
            data = anonymous.post("/api/auth/token", {"username": username, "password": password})
        return cls(url, token=data["token"], **options)

    def __repr__(self) -> str:
        return f"<Client {self.transport.base_url}>"

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self.transport.close()

    def project(self, slug: str) -> Project:
        """The project with this slug (NotFound when it does not exist or is not yours)."""
        return Project(self.transport, self.transport.get(f"/api/projects/{slug}/"))

    def projects(self) -> Iterator[Project]:
        """Every project the caller is a member of."""
        for row in self.transport.paginate("/api/projects/"):
            yield Project(self.transport, row)

    def create_project(self, slug: str, name: str, **settings: Any) -> Project:
        """Create a project (needs the permission to); the caller becomes its admin."""
        data = self.transport.post("/api/projects/", {"slug": slug, "name": name, **settings})
        return Project(self.transport, data)

    def accept_invitation(self, link: str) -> dict[str, Any]:
        """Join the project an invitation link (or its token) names: `{project, role, joined}`."""
        token = link.rstrip("/").rsplit("/", 1)[-1]
        data: dict[str, Any] = self.transport.post(f"/api/invitations/{token}/accept")
        return data
