"""AI judges against a real chat-completions server on loopback that answers verdicts we script.

The server reads the two answers out of the judge's prompt, so a judge that prefers the longer
answer is consistent across the swap, one that always says [[A]] is not, and one that writes no
tag is unparsed.
"""

from __future__ import annotations

import functools
import io
import json
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from annotate.models import Judgement, Pair, Project
from annotate.signals import judge_votes
from generation.judge_tasks import run_judge_task
from generation.judges import (
    make_judge,
    pair_questions,
    project_criteria,
    run_judge,
    start_judge_run,
    update_judge,
)
from generation.judges_models import JudgeDecision, JudgeVerdict, Outcome
from generation.models import ModelEndpoint
from tests.annotate.statistics_support import fetched
from tests.conftest import client_for
from tests.factories import make_pairs

ANSWER = re.compile(
    r"\[The Start of Assistant A's Answer\]\n(?P<a>.*?)\n\[The End of Assistant A's Answer\].*"
    r"\[The Start of Assistant B's Answer\]\n(?P<b>.*?)\n\[The End of Assistant B's Answer\]",
    re.DOTALL,
)


def prefers_longer(first: str, second: str) -> str:
    return "A is longer, so better. [[A]]" if len(first) > len(second) else "B wins. [[B]]"


def always_first(first: str, second: str) -> str:
    return "The first one. [[A]]"


def no_tag(first: str, second: str) -> str:
    return "Both are fine, really."


def json_longer(first: str, second: str) -> str:
    verdict = "A" if len(first) > len(second) else "B"
    return json.dumps({"verdict": verdict, "reasoning": "the longer one"})


JUDGES: dict[str, Callable[[str, str], str]] = {
    "longer": prefers_longer,
    "first": always_first,
    "notag": no_tag,
    "json": json_longer,
}


@contextmanager
def judge_server() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A chat-completions server: `/<judge>/v1/chat/completions` answers as JUDGES[judge]."""
    seen: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["content-length"])))
            seen.append(body)
            match = ANSWER.search(body["messages"][-1]["content"])
            assert match, body
            text = JUDGES[self.path.split("/")[1]](match["a"], match["b"])
            reply = {
                "id": "x",
                "object": "chat.completion",
                "created": 0,
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": text},
                    }
                ],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
            }
            data = json.dumps(reply).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(autouse=True)
def _loopback_allowed(settings: Any) -> None:
    settings.OUTBOUND_HOSTS = ["127.0.0.1"]
    settings.GENERATION_BACKOFF_SECONDS = 0.05


@pytest.fixture
def server() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    with judge_server() as running:
        yield running


def endpoint(project: Project, url: str, name: str, **fields: Any) -> ModelEndpoint:
    fields.setdefault("concurrency", 1)
    return ModelEndpoint.objects.create(
        project=project, name=name, base_url=f"{url}/{name}/v1", model="judge", **fields
    )


def judged(project: Project, url: str, name: str, **fields: Any) -> ModelEndpoint:
    """An endpoint made a judge and run to the end over every pair."""
    ep = endpoint(project, url, name, **fields)
    run = start_judge_run(make_judge(ep), None)
    while run_judge(run.pk):
        pass
    return ep


def human_votes(project: Project, users: list[User], choices: dict[int, list[str]]) -> None:
    """Votes of the given users on pairs, in canonical terms (as the judging page stores them)."""
    for pair_id, picks in choices.items():
        for user, choice in zip(users, picks, strict=False):
            Judgement.objects.create(
                pair_id=pair_id,
                annotator=user,
                choice=choice,
                shown_left="a",
                client_id=f"{user.pk}-{pair_id}",
            )


@pytest.mark.django_db
def test_a_consistent_judge_votes_and_keeps_its_reasoning(
    project: Project, tmp_path: Path, server: tuple[str, list[dict[str, Any]]]
) -> None:
    # given pairs whose response b is the longer one
    make_pairs(project, tmp_path, 4, labelled=False)
    url, seen = server
    # when a judge that prefers the longer answer runs
    ep = judged(project, url, "longer")
    # then it asked twice per pair, once with each side first, and each pair is a vote for b
    assert len(seen) == 8
    assert {b["temperature"] for b in seen} == {0.0}
    decisions = JudgeDecision.objects.filter(judge__endpoint=ep)
    assert [(d.outcome, d.choice) for d in decisions] == [(Outcome.VOTE, "b")] * 4
    verdict = JudgeVerdict.objects.filter(judge__endpoint=ep, order="ab").first()
    assert verdict is not None
    assert (verdict.shown, verdict.choice, verdict.reasoning) == ("B", "b", "B wins.")
    assert "Please act as an impartial judge" in seen[0]["messages"][0]["content"]


@pytest.mark.django_db
def test_swapped_inconsistent_and_unparsed_verdicts_are_not_votes(
    project: Project, tmp_path: Path, server: tuple[str, list[dict[str, Any]]]
) -> None:
    make_pairs(project, tmp_path, 3, labelled=False)
    url, _ = server
    first = judged(project, url, "first")
    notag = judged(project, url, "notag")
    assert set(
        JudgeDecision.objects.filter(judge__endpoint=first).values_list("outcome", "choice")
    ) == {(Outcome.INCONSISTENT, "")}
    assert set(
        JudgeDecision.objects.filter(judge__endpoint=notag).values_list("outcome", "choice")
    ) == {(Outcome.UNPARSED, "")}
    unparsed = JudgeVerdict.objects.filter(judge__endpoint=notag).first()
    assert unparsed is not None and not unparsed.parsed_ok
    assert unparsed.text == "Both are fine, really."
    assert "no verdict" in unparsed.parse_error
    # and neither judge has a single vote anywhere
    assert {j.name: j.votes for j in judge_votes(project)} == {
        "first (AI judge)": {},
        "notag (AI judge)": {},
    }


@pytest.mark.django_db
def test_a_json_verdict_is_accepted(
    project: Project, tmp_path: Path, server: tuple[str, list[dict[str, Any]]]
) -> None:
    make_pairs(project, tmp_path, 2, labelled=False)
    url, _ = server
    ep = judged(project, url, "json")
    decisions = JudgeDecision.objects.filter(judge__endpoint=ep)
    assert {(d.outcome, d.choice) for d in decisions} == {(Outcome.VOTE, "b")}
    assert JudgeVerdict.objects.filter(judge__endpoint=ep).first().reasoning == "the longer one"  # type: ignore[union-attr]


@pytest.mark.django_db
def test_a_run_again_asks_nothing_twice_and_an_edited_template_starts_over(
    project: Project, tmp_path: Path, server: tuple[str, list[dict[str, Any]]]
) -> None:
    make_pairs(project, tmp_path, 2, labelled=False)
    url, seen = server
    ep = judged(project, url, "longer")
    run = start_judge_run(ep.judge, None)
    assert run.total == 0
    run_judge(run.pk)
    assert len(seen) == 4
    # an edited template clears the verdicts, and the next run uses it
    template = ep.judge.user_template + "\nBe brief."
    assert update_judge(ep.judge, user_template=template) == 4
    run = start_judge_run(ep.judge, None)
    run_judge(run.pk)
    assert len(seen) == 8
    assert seen[-1]["messages"][-1]["content"].endswith("Be brief.")


@pytest.mark.django_db
def test_the_judge_is_a_rater_that_cannot_log_in_and_is_never_leased(
    project: Project, tmp_path: Path, server: tuple[str, list[dict[str, Any]]]
) -> None:
    make_pairs(project, tmp_path, 2, labelled=False)
    ep = judged(project, server[0], "longer")
    rater = ep.judge.rater
    assert not rater.is_active and not rater.has_usable_password()
    assert not project.memberships.filter(user=rater).exists()
    # the pending pairs still wait for humans: the judge's votes are not judgements
    assert not Judgement.objects.filter(pair__project=project).exists()
    assert set(Pair.objects.filter(project=project).values_list("judgement_count", flat=True)) == {
        0
    }


@pytest.mark.django_db
def test_judge_votes_appear_on_the_quality_page_and_api_as_a_rater_with_an_interval(
    project: Project,
    tmp_path: Path,
    server: tuple[str, list[dict[str, Any]]],
    admin: User,
    annotator: User,
    second_annotator: User,
    django_user_model: type[User],
) -> None:
    # given 12 pairs with three human votes each, mostly for the longer answer (b)
    make_pairs(project, tmp_path, 12, labelled=False)
    third = django_user_model.objects.create_user("dave", password="x")
    ids = list(Pair.objects.filter(project=project).order_by("pk").values_list("pk", flat=True))
    picks = {pid: ["b", "b", "b"] if k % 4 else ["a", "a", "b"] for k, pid in enumerate(ids)}
    human_votes(project, [annotator, second_annotator, third], picks)
    judged(project, server[0], "longer")
    # when the admin asks for the quality report
    body = fetched(client_for(admin), f"/api/projects/{project.slug}/quality").json()
    # then the judge is among the annotators, as a judge, with a bootstrap interval
    judges = [a for a in body["annotators"] if a["kind"] == "judge"]
    assert [j["name"] for j in judges] == ["longer (AI judge)"]
    judge = judges[0]
    assert judge["agreement"]["k"] == 9 and judge["agreement"]["n"] == 12
    low, high = judge["agreement"]["interval"]
    assert low < 0.75 < high
    assert judge["consistency"]["rate"] == 1.0 and judge["tie_rate"] == 0.0
    assert {a["kind"] for a in body["annotators"]} == {"human", "judge"}
    # (on an a-a-b pair an "a" voter's others are split, so that vote is not compared)
    assert body["human_agreement"]["n"] == 9 * 3 + 3 and body["human_agreement"]["interval"]
    # and the page shows it in the judges' table, beside the humans' agreement
    page = client_for(admin)
    page.force_login(admin)
    html = fetched(page, f"/projects/{project.slug}/quality").content.decode()
    assert 'data-judge="longer (AI judge)"' in html
    assert "75%" in html and 'data-quality="human-agreement"' in html


@pytest.mark.django_db
def test_no_export_or_training_snapshot_contains_judge_votes_by_default(
    project: Project, tmp_path: Path, server: tuple[str, list[dict[str, Any]]]
) -> None:
    from annotate.exporting.datasets import export_rows
    from rewards.worker.snapshot import snapshot_project

    # given pairs only a judge voted on
    make_pairs(project, tmp_path, 5, labelled=False)
    judged(project, server[0], "longer")
    assert len(judge_votes(project)[0].votes) == 5
    # then no export and no snapshot has a row
    for fmt in ("trl", "hh", "judgements"):
        rows, _ = export_rows(project, fmt=fmt)
        assert list(rows) == [], fmt
    snapshot = snapshot_project(project)
    assert snapshot.train == [] and snapshot.validation == [] and snapshot.judgements == 0


@pytest.mark.django_db
def test_the_judges_export_carries_each_judge_in_its_own_column(
    project: Project, tmp_path: Path, server: tuple[str, list[dict[str, Any]]], admin: User
) -> None:
    from tests.conftest import streamed

    make_pairs(project, tmp_path, 3, labelled=False)
    judged(project, server[0], "longer")
    judged(project, server[0], "first")
    response = client_for(admin).get(f"/api/projects/{project.slug}/judges/export")
    rows = [json.loads(line) for line in streamed(response).splitlines()]
    assert len(rows) == 3
    assert {(r["judge:longer"], r["judge:first"]) for r in rows} == {("b", "inconsistent")}
    assert {r["pair_external_id"] for r in rows} == {"q-0", "q-1", "q-2"}


@pytest.mark.django_db
def test_the_api_makes_runs_and_refuses_bad_input_naming_the_field(
    project: Project,
    tmp_path: Path,
    server: tuple[str, list[dict[str, Any]]],
    admin: User,
    annotator: User,
    django_capture_on_commit_callbacks: Any,
) -> None:
    make_pairs(project, tmp_path, 2, labelled=False)
    endpoint(project, server[0], "longer")
    api = client_for(admin)
    base = f"/api/projects/{project.slug}/judges"
    assert client_for(annotator).get(base).status_code == 403
    bad = api.post(base, {"endpoint": "nope"}, format="json")
    assert bad.status_code == 400 and "endpoint" in bad.json()
    bad = api.post(base, {"endpoint": "longer", "user_template": "$answer_a only"}, format="json")
    assert bad.status_code == 400 and "$conversation" in str(bad.json()["user_template"])
    bad = api.post(base, {"endpoint": "longer", "system_template": "$oops"}, format="json")
    assert bad.status_code == 400 and "oops" in str(bad.json()["system_template"])
    made = api.post(base, {"endpoint": "longer"}, format="json")
    assert made.status_code == 201
    judge_id = made.json()["id"]
    assert "[[C]]" in made.json()["system_template"]
    bad = api.post(f"{base}/{judge_id}/runs", {"scope": "everything"}, format="json")
    assert bad.status_code == 400 and "scope" in bad.json()
    with django_capture_on_commit_callbacks(execute=False) as sent:
        started = api.post(f"{base}/{judge_id}/runs", {"scope": "pending"}, format="json")
    assert started.status_code == 202 and started.json()["total"] == 2
    assert len(sent) == 1
    again = api.post(f"{base}/{judge_id}/runs", {"scope": "pending"}, format="json")
    assert again.status_code == 400 and "judge" in again.json()
    bad = api.post(f"{base}/settings", {"judge_audit_share": 2}, format="json")
    assert bad.status_code == 400 and "judge_audit_share" in bad.json()


def tasks_sent(callbacks: list[Any], task: Any) -> int:
    """How many of the on-commit callbacks send `task` (`delay_on_commit`)."""
    return sum(1 for c in callbacks if isinstance(c, functools.partial) and task in c.args)


@pytest.mark.django_db
def test_manage_judge_wait_runs_the_judge_here_and_asks_each_question_once(
    project: Project,
    tmp_path: Path,
    server: tuple[str, list[dict[str, Any]]],
    django_capture_on_commit_callbacks: Any,
) -> None:
    # given
    make_pairs(project, tmp_path, 3, labelled=False)
    url, seen = server
    endpoint(project, url, "longer")
    out = io.StringIO()
    # when
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        call_command("judge", project.slug, "--endpoint", "longer", "--wait", stdout=out)
    # then: the command asked every question itself, and sent no task for a worker to ask again
    assert "succeeded: 3 pairs, 3 votes, 0 inconsistent, 0 unparsed" in out.getvalue()
    assert len(seen) == 6
    assert tasks_sent(callbacks, run_judge_task) == 0


@pytest.mark.django_db
def test_manage_judge_without_wait_queues_the_run_for_the_workers(
    project: Project,
    tmp_path: Path,
    server: tuple[str, list[dict[str, Any]]],
    django_capture_on_commit_callbacks: Any,
) -> None:
    make_pairs(project, tmp_path, 2, labelled=False)
    url, seen = server
    endpoint(project, url, "longer")
    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        call_command("judge", project.slug, "--endpoint", "longer", stdout=out)
    assert "queued: 2 pairs" in out.getvalue()
    assert tasks_sent(callbacks, run_judge_task) == 1 and seen == []


@pytest.mark.django_db
def test_the_judge_prompt_carries_the_project_criteria(
    project: Project, tmp_path: Path, server: tuple[str, list[dict[str, Any]]]
) -> None:
    # given: a project with criteria (one without a name is not a criterion)
    make_pairs(project, tmp_path, 1, labelled=False)
    judge = make_judge(endpoint(project, server[0], "longer"))
    judge.project.criteria = [  # type: ignore[attr-defined]
        {"name": "accuracy", "guidance": "Is it right?", "required": True},
        {"name": "tone", "guidance": "", "required": False},
        {"guidance": "no name"},
    ]
    # when
    criteria = project_criteria(judge.project)
    pair = Pair.objects.select_related("prompt", "response_a", "response_b").get()
    calls = list(pair_questions(judge, [pair]))
    # then: both orders ask with the criteria in the system prompt
    assert [c.name for c in criteria] == ["accuracy", "tone"]
    assert [call.order for call in calls] == ["ab", "ba"]
    for call in calls:
        system = call.messages[0]["content"]
        assert "- accuracy: Is it right?\n- tone\n" in system
    # and a project without criteria gets none
    assert project_criteria(Project(name="plain")) == ()


@pytest.mark.django_db
def test_a_project_that_counts_judges_trains_and_exports_their_votes(
    project: Project, tmp_path: Path, server: tuple[str, list[dict[str, Any]]]
) -> None:
    from rewards.worker.snapshot import snapshot_project

    make_pairs(project, tmp_path, 5, labelled=False)
    judged(project, server[0], "longer")
    Project.objects.filter(pk=project.pk).update(judge_votes_count=True)
    project.refresh_from_db()
    snapshot = snapshot_project(project)
    labels = {p.label for p in [*snapshot.train, *snapshot.validation]}
    assert len(snapshot.train) + len(snapshot.validation) == 5 and labels == {"b"}
    # and its exports carry them: TRL rows decided by the judge, and `source: "judge"` rows
    from annotate.exporting.datasets import export_rows

    trl = list(export_rows(project, fmt="trl")[0])
    assert len(trl) == 5 and all(r["chosen"].endswith(", longer") for r in trl)
    rows = list(export_rows(project, fmt="judgements")[0])
    assert {r["source"] for r in rows} == {"judge"} and len(rows) == 5


def board_rows(n: int) -> list[dict[str, Any]]:
    """Labelled pairs between three models: x beats y beats z, as the humans see it."""
    models = [("model-x", "model-y"), ("model-y", "model-z"), ("model-x", "model-z")]
    rows = []
    for i in range(n):
        a, b = models[i % 3]
        rows.append(
            {
                "id": f"r-{i}",
                "prompt": f"board question {i}?",
                "response_a": f"a short answer {i}",
                "response_b": f"a much longer answer to question {i}",
                "model_a": a,
                "model_b": b,
                "label": "a" if i % 5 else "b",
            }
        )
    return rows


@pytest.mark.django_db
def test_the_leaderboard_from_humans_and_from_a_judge_side_by_side(
    project: Project, tmp_path: Path, server: tuple[str, list[dict[str, Any]]], admin: User
) -> None:
    from annotate.importing.pipeline import import_file
    from annotate.leaderboard.board import project_leaderboard
    from tests.annotate.statistics_support import fetched
    from tests.factories import write_jsonl

    # given humans who mostly prefer the first model, and a judge that prefers longer answers
    import_file(project, write_jsonl(tmp_path / "board.jsonl", board_rows(30)))
    ep = judged(project, server[0], "longer")
    # then the humans' board is the humans' alone, and the judge's board reverses it
    humans = project_leaderboard(project)
    assert humans.votes == 30 and humans.models[0].model == "model-x"
    api = client_for(admin)
    url = f"/api/projects/{project.slug}/judges/{ep.judge.pk}/leaderboard"
    # (fitted by a worker, not by the request: the first answer says it is being computed)
    first = api.get(url)
    assert first.status_code == 202 and first.json()["status"] == "computing"
    body = fetched(api, url).json()
    assert body["status"] == "ready" and body["freshness"]["votes_reflected"] == 30
    assert body["humans"]["votes"] == 30 and body["judge"]["votes"] == 30
    assert body["judge"]["models"][0]["model"] == "model-z"
    assert [m["model"] for m in body["models"]] == ["model-x", "model-y", "model-z"]
    assert body["spearman"] == pytest.approx(-1.0) and body["kendall"] == pytest.approx(-1.0)
    page = client_for(admin)
    page.force_login(admin)
    html = fetched(page, f"/projects/{project.slug}/judges/{ep.judge.pk}/leaderboard")
    html = html.content.decode()
    assert 'data-board="spearman">-1.000' in html
    assert 'data-model="model-z"' in html
    # and a project that counts judges has their votes on its board
    Project.objects.filter(pk=project.pk).update(judge_votes_count=True)
    project.refresh_from_db()
    assert project_leaderboard(project).votes == 60


@pytest.mark.django_db
def test_the_page_makes_a_judge_runs_it_and_saves_settings(
    project: Project,
    tmp_path: Path,
    server: tuple[str, list[dict[str, Any]]],
    admin: User,
    annotator: User,
    client: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    make_pairs(project, tmp_path, 2, labelled=False)
    endpoint(project, server[0], "longer")
    base = f"/projects/{project.slug}/judges"
    client.force_login(annotator)
    assert client.get(base).status_code == 403
    client.force_login(admin)
    assert 'value="longer"' in client.get(base).content.decode()
    client.post(f"{base}/make", {"endpoint": "longer"})
    judge = ModelEndpoint.objects.get(name="longer").judge
    with django_capture_on_commit_callbacks(execute=False) as sent:
        client.post(f"{base}/run", {"judge": judge.pk, "scope": "pending"})
    assert len(sent) == 1 and judge.runs.get().total == 2
    bad = client.post(
        f"{base}/edit", {"judge": judge.pk, "user_template": "$answer_a"}, follow=True
    )
    assert "user_template: must contain $conversation" in bad.content.decode()
    client.post(
        f"{base}/settings",
        {
            "judge_votes_count": ["false", "true"],
            "judge_settled_votes": "1",
            "judge_audit_share": "0.3",
        },
    )
    project.refresh_from_db()
    assert project.judge_votes_count and project.judge_settled_votes == 1
    assert project.judge_audit_share == 0.3


@pytest.mark.django_db
def test_a_ranking_projects_judge_rows_name_their_item(
    admin: User, tmp_path: Path, server: tuple[str, list[dict[str, Any]]]
) -> None:
    from annotate.exporting.datasets import export_rows
    from annotate.importing.pipeline import import_file
    from tests.factories import make_project, write_jsonl

    # given a ranking project of two items whose judge's votes count
    ranked = make_project("ranked-judged", admin=admin, comparison="ranking", max_ranked=3)
    texts = ["x", "y, longer", "z"]  # the judge prefers the longer answer
    rows = [{"prompt": f"q{n}?", "responses": [f"q{n} {t}" for t in texts]} for n in range(2)]
    import_file(ranked, write_jsonl(tmp_path / "items.jsonl", rows))
    judged(ranked, server[0], "longer")
    Project.objects.filter(pk=ranked.pk).update(judge_votes_count=True)
    ranked.refresh_from_db()
    # when
    exported = list(export_rows(ranked, fmt="judgements")[0])
    # then each judge row names its item as a human's row would: the prompt and its responses
    assert {r["source"] for r in exported} == {"judge"} and len(exported) == 2
    assert sorted((r["prompt"], tuple(r["responses"])) for r in exported) == [
        ("q0?", ("q0 x", "q0 y, longer", "q0 z")),
        ("q1?", ("q1 x", "q1 y, longer", "q1 z")),
    ]
