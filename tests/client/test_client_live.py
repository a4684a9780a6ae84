"""The Python client against a live server (gunicorn) and a real Celery worker: a project made,
fed a DataFrame, judged by two scripted annotators, measured, trained, scored and exported."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import datasets
import pandas as pd
import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.contrib.auth.models import Permission, User
from prefloop_client import (
    Assignment,
    Client,
    Conflict,
    JobFailed,
    NotFound,
    PermissionDenied,
    ValidationError,
)

from tests.factories import DEMO_DATA

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PAIRS = 40


def _user(name: str, *, creates_projects: bool = False) -> User:
    """A user whose password the server can check (it runs the production hashers)."""
    user = User.objects.create_user(name)
    user.password = PBKDF2PasswordHasher().encode(f"{name}-pass", "salt", iterations=1000)
    user.save()
    if creates_projects:
        user.user_permissions.add(Permission.objects.get(codename="add_project"))
    return user


def _demo_rows() -> list[dict[str, Any]]:
    """PAIRS rows of the demo slice that make PAIRS distinct pairs (the slice repeats some)."""
    lines = (DEMO_DATA / "pandalm-pending.jsonl").read_text(encoding="utf-8").splitlines()
    rows: dict[tuple[str, frozenset[str]], dict[str, Any]] = {}
    for row in map(json.loads, lines):
        rows.setdefault((row["prompt"], frozenset((row["response_a"], row["response_b"]))), row)
    return list(rows.values())[:PAIRS]


def _judge_all(client: Client, slug: str, oracle: dict[tuple[str, str], str], flip: int) -> int:
    """A scripted annotator: the recorded label for each pair, flipped on every `flip`-th."""
    project = client.project(slug)
    judged = 0
    while (assignment := project.next()) is not None:
        label = oracle.get((assignment.left, assignment.right))
        if label is None:
            label = {"a": "b", "b": "a", "tie": "tie"}[oracle[(assignment.right, assignment.left)]]
        choice = {"a": "left", "b": "right", "tie": "tie"}[label]
        if flip and judged % flip == flip - 1 and choice != "tie":
            choice = "right" if choice == "left" else "left"
        assignment.judge(choice, duration_ms=4000)
        judged += 1
    return judged


@pytest.fixture
def people() -> dict[str, User]:
    return {
        "alice": _user("alice", creates_projects=True),
        "bob": _user("bob"),
        "carol": _user("carol"),
    }


def test_a_notebook_session_runs_the_whole_loop(
    live_server_url: str, celery_worker: Path, people: dict[str, User], tmp_path: Path
) -> None:
    url = live_server_url
    rows = _demo_rows()
    # given: an admin signed in with a password, making a project with two annotators
    admin = Client.login(url, "alice", "alice-pass")
    project = admin.create_project(
        "live",
        "Live loop",
        judgements_per_pair=2,
        max_judgements_per_pair=2,
        promotion_requires_beating_length=False,
        random_slice_share=0,
    )
    assert project.role == "admin" and project.settings["judgements_per_pair"] == 2
    links = project.invite(["bob@example.org", "carol@example.org", "dan@example.org"])
    bob = Client.login(url, "bob", "bob-pass")
    carol = Client(url, token=Client.login(url, "carol", "carol-pass").token)
    for client, invitation in zip((bob, carol), links[:2], strict=True):
        assert invitation.url is not None
        assert client.accept_invitation(invitation.url)["project"] == "live"
    [unused] = project.invitations()
    assert unused.email == "dan@example.org" and unused.url is None
    project.revoke_invitation(unused)
    assert project.invitations() == []
    assert {m.username: m.role for m in project.members()} == {
        "alice": "admin",
        "bob": "annotator",
        "carol": "annotator",
    }

    # when: a DataFrame is imported (labels left out: the annotators give them)
    frame = pd.DataFrame(rows).drop(columns=["label", "meta"])
    job = project.import_rows(frame).wait(progress=True, timeout=120, poll=0.3)
    # then
    assert job.status == "succeeded" and job.progress == 1.0
    assert project.counts["pairs"] == PAIRS

    # and a file with a bad row fails by line and field, importing nothing
    bad = [
        {"prompt": "q", "response_a": "x", "response_b": "y"},
        {"prompt": "q2", "response_a": "x"},
    ]
    with pytest.raises(JobFailed) as failed:
        project.import_rows(bad, format="pairs").wait(timeout=120, poll=0.3)
    [error] = failed.value.errors
    assert (error.line, error.field) == (2, "response_b")
    assert project.counts["pairs"] == PAIRS

    # when: two scripted annotators judge every pair (carol flips every fifth answer)
    oracle = {(r["response_a"], r["response_b"]): r["label"] for r in rows}
    assert _judge_all(bob, "live", oracle, flip=0) == PAIRS
    assert _judge_all(carol, "live", oracle, flip=5) == PAIRS

    # then: stats, quality and the leaderboard, typed and as DataFrames
    stats = project.stats()
    assert (stats.complete, stats.pending, stats.judgements) == (PAIRS, 0, 2 * PAIRS)
    quality = project.quality()
    assert quality.pairs_compared == PAIRS and quality.completed_pairs == PAIRS
    assert quality.alpha is not None and 0 < quality.alpha < 1
    table = quality.to_pandas()
    assert sorted(table["name"]) == ["bob", "carol"] and set(table["judgements"]) == {PAIRS}
    board = project.leaderboard()
    models = {r["model_a"] for r in rows} | {r["model_b"] for r in rows}
    assert {m.model for m in board.models} == models and board.votes == 2 * PAIRS
    ranks = board.to_pandas()
    assert list(ranks["rank"]) == sorted(ranks["rank"]) and (ranks["low"] <= ranks["high"]).all()
    # and both say the worker computed them from every vote
    for stored in (quality, board):
        assert stored.freshness is not None and stored.freshness.status == "ready"
        assert stored.freshness.votes_reflected == stored.freshness.votes_now == 2 * PAIRS
        assert stored.freshness.computed_at is not None and stored.freshness.votes_behind == 0

    # when: a model is trained and the client waits for it
    run = project.retrain().wait(timeout=300, poll=0.5)
    # then: the new version is served and scores best-of-n
    assert run.status == "succeeded", run.error
    assert run.model is not None and run.model.version == 1
    overview = project.models()
    assert overview.active is not None and overview.active.version == 1
    # and the versions' random-slice tables say how fresh they are, once the worker has them
    deadline = time.monotonic() + 60
    while (slices := project.models().slice_freshness) is not None and slices.status != "ready":
        assert slices.computed_at is None and time.monotonic() < deadline
        time.sleep(0.5)
    assert slices is not None and slices.votes_reflected == 2 * PAIRS
    assert project.activate(1).is_active
    scores = project.score(rows[0]["prompt"], [rows[0]["response_a"], rows[0]["response_b"], "?"])
    assert scores.model == 1 and len(scores.rewards) == 3
    assert all(isinstance(r.reward, float) for r in scores.rewards)

    # and the preferences come out as a datasets.Dataset (from the folder with its card)
    dataset = project.export("trl").to_datasets()
    assert set(dataset.column_names) >= {"prompt", "chosen", "rejected"}
    assert 0 < len(dataset) <= PAIRS
    folder = project.export("trl", license="cc-by-4.0").save_dataset(tmp_path / "live-trl")
    assert "license: cc-by-4.0" in (folder / "README.md").read_text()
    loaded = datasets.load_dataset(str(folder), split="train", cache_dir=str(tmp_path / "hf"))
    assert loaded.num_rows == len(dataset)
    # and as pandas, and as a file
    saved = project.export("trl").save(tmp_path / "prefs.parquet")
    assert pd.read_parquet(saved).shape[0] == len(dataset)
    votes = project.export("judgements", file="jsonl").to_pandas()
    assert len(votes) == 2 * PAIRS


def test_errors_carry_the_servers_words(
    live_server_url: str, celery_worker: Path, people: dict[str, User], tmp_path: Path
) -> None:
    url = live_server_url
    admin = Client.login(url, "alice", "alice-pass")
    project = admin.create_project("errs", "Errors", judgements_per_pair=1)
    [link] = project.invite("bob@example.org")
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in _demo_rows()[:3]))
    # a path is uploaded as it is
    job = project.import_rows(path, labels="ignore").wait(timeout=120, poll=0.3)
    assert job.original_name == "pairs.jsonl" and project.counts["pairs"] == 3

    # bad settings: a 400 naming the field
    with pytest.raises(ValidationError) as invalid:
        admin.create_project("errs2", "Errors", judgements_per_pair=0)
    assert invalid.value.field == "judgements_per_pair"
    assert "greater than or equal to 1" in invalid.value.message
    with pytest.raises(ValidationError) as bad_export:
        project.export("nope").save(tmp_path / "x.jsonl")
    assert bad_export.value.field == "format"
    # a project that is not the caller's: 404; an annotator asking for admin data: 403
    bob = Client.login(url, "bob", "bob-pass")
    bob.accept_invitation(str(link.url))
    with pytest.raises(NotFound):
        Client.login(url, "carol", "carol-pass").project("errs")
    with pytest.raises(PermissionDenied):
        bob.project("errs").quality()
    with pytest.raises(ValidationError) as refused:
        Client.login(url, "bob", "wrong")
    assert "credentials" in refused.value.message.lower()
    # an archived project takes no data: 409
    project.archive()
    assert project.archived_at is not None
    with pytest.raises(Conflict):
        project.import_rows(_demo_rows()[:1])
    assert project.unarchive().archived_at is None
    # and a deleted project is gone at once
    project.delete()
    with pytest.raises(NotFound):
        admin.project("errs")


def test_a_repeated_judgement_is_recorded_once(
    live_server_url: str, celery_worker: Path, people: dict[str, User]
) -> None:
    # given: a leased pair
    url = live_server_url
    admin = Client.login(url, "alice", "alice-pass")
    project = admin.create_project("once", "Once", judgements_per_pair=1)
    project.import_rows(_demo_rows()[:2], labels="ignore").wait(timeout=120, poll=0.3)
    assignment = project.next()
    assert isinstance(assignment, Assignment)
    # when: the same judgement is sent twice (a retry after a lost answer)
    first = assignment.judge("left", strength=2)
    again = assignment.judge("left", strength=2)
    # then: one judgement; a different answer under the same client id is a conflict
    assert first.created and not again.created and again.judgement == first.judgement
    with pytest.raises(Conflict):
        assignment.judge("right")
    assert project.stats().judgements == 1
    skipped = project.next()
    assert skipped is not None and skipped.skip() == "skipped"
    assert project.next() is None


def test_the_workspace_is_driven_from_the_client(
    live_server_url: str, celery_worker: Path, people: dict[str, User]
) -> None:
    url = live_server_url
    admin = Client.login(url, "alice", "alice-pass")
    project = admin.create_project("ws", "Workspace", judgements_per_pair=1)
    # settings: changed by PATCH, refused by field
    assert project.update(guidelines="Prefer the *correct* answer.", lease_seconds=600) is project
    assert project.settings["lease_seconds"] == 600
    with pytest.raises(ValidationError) as refused:
        project.update(lease_seconds=1)
    assert refused.value.field == "lease_seconds"
    assert admin.project("ws").settings["lease_seconds"] == 600

    # when: 60 pairs arrive as a datasets.Dataset (zstd) and 2 as a DataFrame with gaps (NaN)
    rows = [
        {
            "prompt": f"Question {i}?",
            "response_a": f"yes {i}",
            "response_b": f"no {i}",
            "model_a": "m-yes",
            "model_b": "m-no",
        }
        for i in range(60)
    ]
    project.import_rows(datasets.Dataset.from_list(rows), compression="zstd").wait(timeout=120)
    gaps = pd.DataFrame(
        [
            {"prompt": "Gap 1?", "response_a": "a", "response_b": "b", "model_a": "m-yes"},
            {"prompt": "Gap 2?", "response_a": "c", "response_b": "d", "model_b": "m-no"},
        ]
    )
    project.import_rows(gaps).wait(timeout=120)
    # then: both jobs are listed, and the pairs come page after page (50 a page)
    assert [job.status for job in project.imports()] == ["succeeded", "succeeded"]
    pairs = list(project.pairs(sort="newest"))
    assert len(pairs) == 62 and len({p.id for p in pairs}) == 62
    assert sorted(p.prompt for p in project.pairs(q="Gap")) == ["Gap 1?", "Gap 2?"]

    # review: gold set and cleared, a judgement invalidated and restored
    target = pairs[-1].id
    assert project.set_gold(target, "a").gold_label == "a"
    assert project.clear_gold(target).gold_label == ""
    assignment = project.next()
    assert assignment is not None
    judgement = assignment.judge("left").judgement
    invalid = project.invalidate(assignment.pair, judgement, "clicked too fast")
    assert invalid.valid is False and invalid.invalid_reason == "clicked too fast"
    assert [(r.action, r.by) for r in invalid.reviews] == [("invalidated", "alice")]
    assert project.restore(assignment.pair, judgement).valid is True
    detail = project.pair(assignment.pair)
    assert [j.id for j in detail.judgements] == [judgement] and detail.judgements[0].valid
    assert detail.response_a.text in {assignment.left, assignment.right}

    # members: a role changed, a member removed (invited first)
    [link] = project.invite("bob@example.org", role="annotator")
    Client.login(url, "bob", "bob-pass").accept_invitation(str(link.url))
    assert project.set_role("bob", "admin").role == "admin"
    project.remove_member("bob")
    assert [m.username for m in project.members()] == ["alice"]

    # an external reward model: registered, its scores uploaded all-or-nothing by line
    external = project.register_external_model("my-rm")
    scored = external.upload_scores(
        [{"prompt": r["prompt"], "text": r["response_a"], "reward": 1.5} for r in rows[:3]]
    )
    assert scored == 3 and external.model.mode == "external"
    with pytest.raises(ValidationError) as bad_rows:
        external.upload_scores([{"prompt": "Question 0?", "text": "yes 0", "reward": "high"}])
    [error] = bad_rows.value.errors
    assert error.line == 1 and error.field == "reward"

    # webhooks: subscribed (to an allowed host), listed without the secret, paused, removed
    hook = project.add_webhook(
        "http://127.0.0.1:9/hook", ["pair.completed", "import.finished"], "s" * 20
    )
    assert hook.secret == "s" * 20 and hook.is_active
    [listed] = project.webhooks()
    assert listed.id == hook.id and listed.secret == "" and listed.events == hook.events
    assert project.update_webhook(hook, is_active=False).is_active is False
    assert project.webhook(hook).paused_reason == "Paused by a project admin."
    assert project.webhook_deliveries(hook) == []
    project.delete_webhook(hook)
    assert project.webhooks() == []
    with pytest.raises(ValidationError) as refused_hook:
        project.add_webhook("http://10.0.0.1/hook", ["pair.completed"], "s" * 20)
    assert refused_hook.value.field == "url"
