"""Background work the server runs for a call: imports and training runs, with `wait()`."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tqdm.auto import tqdm

from prefloop_client.errors import JobFailed, LineError
from prefloop_client.records import RewardModel, build, line_errors

if TYPE_CHECKING:
    from prefloop_client.http import Transport

FINISHED = ("succeeded", "done", "failed")


class _Job:
    """Polls its own URL until the job is finished (shared by imports and runs)."""

    _transport: Transport
    id: int
    status: str
    progress: float

    def _path(self) -> str:
        raise NotImplementedError

    def _update(self, data: dict[str, Any]) -> None:
        raise NotImplementedError

    def _failure(self) -> JobFailed:
        raise NotImplementedError

    @property
    def done(self) -> bool:
        return self.status in FINISHED

    def refresh(self) -> _Job:
        """Read the job's state again."""
        self._update(self._transport.get(self._path()))
        return self

    def wait(
        self,
        *,
        progress: bool = False,
        timeout: float | None = None,
        poll: float = 1.0,
        raise_on_failure: bool = True,
    ) -> _Job:
        """Poll until the job succeeds or fails; a tqdm bar with `progress=True`.

        Raises JobFailed (with the errors by line, for an import) when it fails, and
        TimeoutError when `timeout` seconds pass first.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        bar = tqdm(total=100, desc=self._path(), unit="%", disable=not progress)
        try:
            while True:
                bar.update(round(self.progress * 100) - bar.n)
                bar.set_postfix_str(self.status)
                if self.done:
                    break
                if deadline is not None and time.monotonic() > deadline:
                    raise TimeoutError(f"{self._path()} still {self.status} after {timeout}s")
                time.sleep(poll)
                self.refresh()
        finally:
            bar.close()
        if raise_on_failure and self.status == "failed":
            raise self._failure()
        return self


@dataclass
class ImportJob(_Job):
    """An upload being imported by a worker: status, progress (0..1), result or errors."""

    id: int
    status: str
    progress: float = 0.0
    project: str = ""
    original_name: str = ""
    format: str = ""
    labels: str = ""
    result: dict[str, Any] = field(default_factory=dict)
    errors: list[LineError] = field(default_factory=list)
    notice: str = ""
    created_at: datetime | None = None
    finished_at: datetime | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)
    _transport: Transport = field(default=None, repr=False, compare=False)  # type: ignore[assignment]

    @classmethod
    def from_json(cls, transport: Transport, data: dict[str, Any]) -> ImportJob:
        errors = line_errors(data.get("errors") or [])
        return build(cls, data, errors=errors, _transport=transport)

    def _path(self) -> str:
        return f"/api/imports/{self.id}"

    def _update(self, data: dict[str, Any]) -> None:
        fresh = ImportJob.from_json(self._transport, data)
        fresh.notice = self.notice if "notice" not in data else fresh.notice
        self.__dict__.update(fresh.__dict__)

    def _failure(self) -> JobFailed:
        shown = "\n".join(str(e) for e in self.errors[:10])
        total = self.result.get("invalid_rows", len(self.errors))
        return JobFailed(
            f"import {self.id} failed ({total} invalid line(s)):\n{shown}",
            errors=self.errors,
            body=self.raw,
        )

    def wait(self, **kwargs: Any) -> ImportJob:
        """Poll until imported; raises JobFailed carrying `errors` by line when refused."""
        super().wait(**kwargs)
        return self


@dataclass
class TrainingRun(_Job):
    """A reward-model training run: status, progress, message, and the version it made."""

    id: int
    status: str
    progress: float = 0.0
    project: str = ""
    trigger: str = ""
    mode: str = ""
    message: str = ""
    error: str = ""
    attempts: int = 0
    model: RewardModel | None = None
    notice: str = ""
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)
    _transport: Transport = field(default=None, repr=False, compare=False)  # type: ignore[assignment]

    @classmethod
    def from_json(cls, transport: Transport, data: dict[str, Any]) -> TrainingRun:
        model = build(RewardModel, data["model"]) if data.get("model") else None
        return build(cls, data, model=model, _transport=transport)

    def _path(self) -> str:
        return f"/api/training-runs/{self.id}"

    def _update(self, data: dict[str, Any]) -> None:
        self.__dict__.update(TrainingRun.from_json(self._transport, data).__dict__)

    def _failure(self) -> JobFailed:
        return JobFailed(f"training run {self.id} failed: {self.error}", body=self.raw)

    def wait(self, **kwargs: Any) -> TrainingRun:
        """Poll until the run finished; raises JobFailed with the server's error if it failed."""
        super().wait(**kwargs)
        return self

    def cancel(self) -> TrainingRun:
        """Cancel the run while queued or running (admins): it fails, the served model stays.

        Raises Conflict, with the server's reason, when it had already ended.
        """
        self._update(self._transport.post(f"{self._path()}/cancel"))
        return self
