"""One project: settings, import and export, quality and leaderboard, models, judging."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from prefloop_client.data import SUFFIX, Export, encode_jsonl, iter_rows
from prefloop_client.errors import JobFailed
from prefloop_client.jobs import ImportJob, TrainingRun
from prefloop_client.judging import Assignment
from prefloop_client.records import (
    Freshness,
    Leaderboard,
    Quality,
    RewardModel,
    Scores,
    Stats,
    build,
)
from prefloop_client.workspace import WorkspaceActions

if TYPE_CHECKING:
    from collections.abc import Iterable

    from prefloop_client.http import Transport

# Fields of a project's answer that are not settings.
_NOT_SETTINGS = ("id", "name", "slug", "role", "counts", "created_at", "archived_at")


@dataclass
class ModelsOverview:
    """The served version, every version, recent runs and the embedding status.

    Each version's `raw["slice_estimate"]` is the random-slice table a worker stores;
    `slice_freshness` says how fresh those tables are (None without versions).
    """

    active: RewardModel | None
    models: list[RewardModel]
    runs: list[TrainingRun]
    embedding: dict[str, Any] | None = None
    slice_freshness: Freshness | None = None


@dataclass
class ExternalModel:
    """A reward model trained elsewhere, registered here; its scores are uploaded."""

    model: RewardModel
    project: Project = field(repr=False)

    def upload_scores(self, rows: Iterable[dict[str, Any]]) -> int:
        """Rewards per response: `{"response_id" | "prompt" + "text", "reward", "members"?}`.

        All rows are stored or none (ValidationError carries `errors` by line). Returns how many
        responses are scored.
        """
        path = f"{self.project._base}/external-models/{self.model.id}/scores"
        data = self.project._transport.post(path, {"scores": list(rows)})
        self.model = build(RewardModel, data["model"])
        return int(data["scored"])


class Project(WorkspaceActions):
    """A handle on one project; `settings` and `role` as the server last said."""

    def __init__(self, transport: Transport, data: dict[str, Any]) -> None:
        self._transport = transport
        self._load(data)

    def _load(self, data: dict[str, Any]) -> None:
        self.raw = data
        self.id: int = data["id"]
        self.slug: str = data["slug"]
        self.name: str = data["name"]
        self.role: str | None = data.get("role")
        self.archived_at: str | None = data.get("archived_at")
        self.settings = {k: v for k, v in data.items() if k not in _NOT_SETTINGS}

    def __repr__(self) -> str:
        return f"<Project {self.slug!r} role={self.role}>"

    def refresh(self) -> Project:
        self._load(self._transport.get(f"{self._base}/"))
        return self

    @property
    def counts(self) -> dict[str, int]:
        """Pairs, responses, judgements... (read fresh)."""
        return dict(self._transport.get(f"{self._base}/").get("counts", {}))

    # ------------------------------------------------------------ settings and lifecycle

    def update(self, **settings: Any) -> Project:
        """Change settings (project admins); the server checks each like the settings page."""
        self._load(self._transport.patch(f"{self._base}/", settings))
        return self

    def archive(self) -> Project:
        """Hide from annotators and make read-only (still exportable)."""
        self._load(self._transport.post(f"{self._base}/archive", {}, idempotent=True))
        return self

    def unarchive(self) -> Project:
        self._load(self._transport.post(f"{self._base}/unarchive", {}, idempotent=True))
        return self

    def delete(self) -> None:
        """Delete the project: it disappears at once; a worker removes its rows."""
        self._transport.delete(f"{self._base}/")

    # ------------------------------------------------------------ import and export

    def import_rows(
        self,
        data: Any,
        format: str | None = None,
        *,
        labels: str = "judgements",
        compression: str | None = "gzip",
    ) -> ImportJob:
        """Import a file path, a list of dicts, a pandas DataFrame or a `datasets.Dataset`.

        Rows are sent as JSONL, gzip- (or zstd-) compressed; a path is sent as it is (any
        format and compression the server reads). `format` is detected when None. Returns the
        job: `job.wait(progress=True)` follows it and raises with the errors by line.
        """
        fields = {"format": format or "auto", "labels": labels}
        if isinstance(data, str | Path):
            path = Path(data)
            with path.open("rb") as handle:
                files: dict[str, tuple[str, IO[bytes], str]] = {
                    "file": (path.name, handle, "application/octet-stream")
                }
                return self._upload(fields, files)
        with encode_jsonl(iter_rows(data), compression) as encoded:
            files = {"file": (f"rows{SUFFIX[compression]}", encoded, "application/octet-stream")}
            return self._upload(fields, files)

    def _upload(
        self, fields: dict[str, str], files: dict[str, tuple[str, IO[bytes], str]]
    ) -> ImportJob:
        response = self._transport.request(
            "POST", f"{self._base}/imports", data=fields, files=files
        )
        return ImportJob.from_json(self._transport, response.json())

    def imports(self) -> list[ImportJob]:
        """The project's import jobs, newest first."""
        rows = self._transport.paginate(f"{self._base}/imports")
        return [ImportJob.from_json(self._transport, row) for row in rows]

    def import_job(self, job_id: int) -> ImportJob:
        return ImportJob.from_json(self._transport, self._transport.get(f"/api/imports/{job_id}"))

    def export(self, format: str = "trl", **options: Any) -> Export:
        """An export (trl, hh, judgements, rankings, kto, sft; options: file, min_agreement,
        exclude_flagged, criterion, min_chosen_rating, with_edits...).

        `.save(path)`, `.to_pandas()`, `.to_datasets()` or `.rows()` fetch it.
        """
        return Export(self._transport, f"{self._base}/export", {"format": format, **options})

    def rewards(self, version: int | None = None, **options: Any) -> Export:
        """Every scored response's reward, z and percentile under one version (the served one)."""
        params = {"version": version, **options} if version is not None else dict(options)
        return Export(self._transport, f"{self._base}/rewards", params)

    # ------------------------------------------------------------ what the votes say

    def stats(self) -> Stats:
        """Pending and complete pairs, judgements, per annotator (annotators: their own)."""
        return build(Stats, self._transport.get(f"{self._base}/stats"))

    def quality(self, *, timeout: float = 300.0) -> Quality:
        """Agreement, position bias, votes saved, and each annotator with flags (admins).

        The server's worker computes it; the first time, this waits until it is in.
        """
        return Quality.from_json(self._stored(f"{self._base}/quality", timeout=timeout))

    def leaderboard(
        self, *, length_control: bool = False, criterion: str = "", timeout: float = 300.0
    ) -> Leaderboard:
        """The source models ranked from the votes (Bradley-Terry, Elo scale); with
        `criterion`, from the votes on that criterion instead of the overall preference.

        The server's worker computes it; the first time, this waits until it is in.
        """
        params: dict[str, Any] = {"length_control": length_control}
        if criterion:
            params["criterion"] = criterion
        data = self._stored(f"{self._base}/leaderboard", timeout=timeout, **params)
        return Leaderboard.from_json(data)

    def _stored(self, path: str, *, timeout: float, **params: Any) -> Any:
        """A statistic the server stores: asked again while it answers "computing" (202)."""
        deadline = time.monotonic() + timeout
        while True:
            data = self._transport.get(path, **params)
            if data.get("status") != "computing":
                return data
            if time.monotonic() > deadline:
                raise TimeoutError(f"{path} still being computed after {timeout:.0f} s")
            time.sleep(1.0)

    # ------------------------------------------------------------ reward models

    def retrain(self, **options: Any) -> TrainingRun:
        """Queue a training run (options: mode, backbone, members, epochs); `.wait()` on it.

        While a run is live the server returns that run instead of starting another;
        `.cancel()` stops it.
        """
        data = self._transport.post(f"{self._base}/retrain", options, idempotent=True)
        return TrainingRun.from_json(self._transport, data)

    def training_run(self, run_id: int) -> TrainingRun:
        data = self._transport.get(f"/api/training-runs/{run_id}")
        return TrainingRun.from_json(self._transport, data)

    def cancel_run(self, run_id: int) -> TrainingRun:
        """Cancel a queued or running run (admins); Conflict when it had already ended."""
        data = self._transport.post(f"/api/training-runs/{run_id}/cancel")
        return TrainingRun.from_json(self._transport, data)

    def models(self) -> ModelsOverview:
        """The served version, all versions, recent runs, and how fresh the versions'
        random-slice tables are (admins)."""
        data = self._transport.get(f"{self._base}/models")
        return ModelsOverview(
            active=build(RewardModel, data["active"]) if data.get("active") else None,
            models=[build(RewardModel, m) for m in data.get("models", [])],
            runs=[TrainingRun.from_json(self._transport, r) for r in data.get("runs", [])],
            embedding=data.get("embedding"),
            slice_freshness=Freshness.from_json(data.get("slice_freshness")),
        )

    def activate(self, model: RewardModel | int) -> RewardModel:
        """Serve this version (a RewardModel or a version number) and re-rank the queue."""
        if isinstance(model, int):
            matches = [m for m in self.models().models if m.version == model]
            if not matches:
                raise ValueError(f"project {self.slug} has no version {model}")
            model = matches[0]
        data = self._transport.post(f"/api/models/{model.id}/activate", idempotent=True)
        return build(RewardModel, data)

    def score(
        self, prompt: str | list[dict[str, str]], responses: list[str], *, timeout: float = 120.0
    ) -> Scores:
        """Rewards of the served model for each response (best-of-n), waiting for the worker."""
        body = {"prompt": prompt, "responses": responses}
        response = self._transport.request("POST", f"{self._base}/score", json=body)
        deadline = time.monotonic() + timeout
        delay = 0.1
        while response.status_code == 202:
            if time.monotonic() > deadline:
                raise TimeoutError(f"score request still queued after {timeout}s")
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
            url = response.json()["url"]
            response = self._transport.request("GET", url, expect=(500,))
        if response.status_code == 500:
            raise JobFailed(f"scoring failed: {response.json().get('detail', '')}", status=500)
        return Scores.from_json(response.json())

    def register_external_model(self, name: str) -> ExternalModel:
        """Register a reward model trained elsewhere; upload its scores next."""
        data = self._transport.post(f"{self._base}/external-models", {"name": name})
        return ExternalModel(build(RewardModel, data), self)

    # ------------------------------------------------------------ judging

    def next(self, *, after: int | None = None) -> Assignment | None:
        """Lease the next pair for the caller; None when nothing is left.

        A paused annotator gets PermissionDenied with the reason.
        """
        body = {} if after is None else {"after": after}
        response = self._transport.request("POST", f"{self._base}/next", json=body, idempotent=True)
        if response.status_code == 204:
            return None
        data = response.json()
        return Assignment.from_json(self._transport, data)
