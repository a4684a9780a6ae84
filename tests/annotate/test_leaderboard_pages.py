"""The leaderboard page, API and CSV: who sees them, what they say, and that they agree."""

from __future__ import annotations

import csv
import io
import pickle
import re
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client

from annotate.importing.pipeline import import_file
from annotate.leaderboard.board import project_leaderboard
from annotate.models import Project, Response
from rewards.models import ResponseScore, RewardModel
from tests.annotate.statistics_support import fetched
from tests.conftest import client_for
from tests.factories import write_jsonl

pytestmark = pytest.mark.django_db

# "strong" beats the two others 3 votes in 4; "weak" loses 3 in 4; "mid" ties with itself.
MATCHES = [("strong", "mid", 12, 4), ("strong", "weak", 12, 4), ("mid", "weak", 10, 6)]


def import_votes(project: Project, tmp_path: Path, matches: list = MATCHES) -> None:
    """Imported judgements between named models: `wins` for the first of each match."""
    rows = []
    for first, second, wins, losses in matches:
        for k in range(wins + losses):
            rows.append(
                {
                    "prompt": f"{first} v {second}, question {k}?",
                    "response_a": f"{first} answers {k}" + " at length" * (k % 3),
                    "response_b": f"{second} answers {k}",
                    "model_a": first,
                    "model_b": second,
                    "label": "a" if k < wins else "b",
                }
            )
    import_file(project, write_jsonl(tmp_path / "votes.jsonl", rows))


def page_client(user: Any) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


ROLE_MATRIX = [
    ("admin", True, 200),
    ("annotator", True, 200),
    ("admin", False, 200),
    ("annotator", False, 403),
    ("outsider", True, 404),
]


@pytest.mark.parametrize(("persona", "shown", "expected"), ROLE_MATRIX)
def test_leaderboard_api_role_matrix(
    request: pytest.FixtureRequest, project: Project, persona: str, shown: bool, expected: int
) -> None:
    # given a project that shows (or hides) its leaderboard to annotators
    Project.objects.filter(pk=project.pk).update(leaderboard_for_annotators=shown)
    # when
    response = client_for(request.getfixturevalue(persona)).get(
        f"/api/projects/{project.slug}/leaderboard"
    )
    # then those allowed are told it is being computed (no worker here), the others refused
    assert response.status_code == (202 if expected == 200 else expected)


@pytest.mark.parametrize("path", ["leaderboard", "leaderboard.csv"])
@pytest.mark.parametrize(("persona", "shown", "expected"), ROLE_MATRIX)
def test_leaderboard_page_and_csv_role_matrix(
    request: pytest.FixtureRequest,
    project: Project,
    persona: str,
    shown: bool,
    expected: int,
    path: str,
) -> None:
    Project.objects.filter(pk=project.pk).update(leaderboard_for_annotators=shown)
    client = page_client(request.getfixturevalue(persona))
    assert fetched(client, f"/projects/{project.slug}/{path}").status_code == expected


def test_anonymous_users_are_sent_to_log_in_or_refused(project: Project) -> None:
    assert fetched(page_client(None), f"/projects/{project.slug}/leaderboard").status_code == 302
    assert fetched(client_for(None), f"/api/projects/{project.slug}/leaderboard").status_code == 401


def test_api_csv_and_page_agree(tmp_path: Path, admin: Any, project: Project) -> None:
    # given votes between three models
    import_votes(project, tmp_path)
    client = page_client(admin)
    # when
    board = fetched(client_for(admin), f"/api/projects/{project.slug}/leaderboard").json()
    table = list(
        csv.DictReader(
            io.StringIO(
                fetched(client, f"/projects/{project.slug}/leaderboard.csv").content.decode()
            )
        )
    )
    page = fetched(client, f"/projects/{project.slug}/leaderboard").content.decode()
    # then the API ranks "strong" first with more votes than anyone
    assert [m["model"] for m in board["models"]] == ["strong", "mid", "weak"]
    assert board["votes"] == 48 and board["models"][0]["votes"] == 32
    assert board["models"][0]["wins"] == 24 and board["models"][0]["losses"] == 8
    # and the CSV and the page say the same
    assert [r["model"] for r in table] == ["strong", "mid", "weak"]
    page_rows = re.findall(r'<tr data-model="([^"]+)">.*?data-rating>([^<]+)<', page, re.S)
    for api, row, (page_model, page_rating) in zip(board["models"], table, page_rows, strict=True):
        assert row["model"] == page_model == api["model"]
        assert int(row["rank"]) == api["rank"]
        assert float(row["rating"]) == pytest.approx(api["rating"], abs=0.005)
        assert float(row["low"]) == pytest.approx(api["interval"][0], abs=0.005)
        assert float(page_rating) == pytest.approx(api["rating"], abs=0.05)
    # and the win-rate matrix is observed shares
    rates = board["win_rates"]
    strong, weak = rates["models"].index("strong"), rates["models"].index("weak")
    assert rates["rates"][strong][weak] == 0.75 and rates["votes"][strong][weak] == 16
    assert rates["wins"][strong][weak] == 12 and rates["wins"][weak][strong] == 4
    assert ">12-4-0-0<" in page


def test_length_control_shows_both_rankings_and_the_coefficient(
    tmp_path: Path, admin: Any, project: Project
) -> None:
    import_votes(project, tmp_path)
    board = fetched(
        client_for(admin), f"/api/projects/{project.slug}/leaderboard?length_control=1"
    ).json()
    assert board["length_control"] is True
    assert set(board["length_coefficient"]) == {"elo_per_doubling", "interval"}
    assert all("without_length_control" in m for m in board["models"])
    page = fetched(page_client(admin), f"/projects/{project.slug}/leaderboard?length_control=1")
    assert "Length coefficient" in page.content.decode()
    assert "Without length control" in page.content.decode()
    download = fetched(
        page_client(admin), f"/projects/{project.slug}/leaderboard.csv?length_control=1"
    )
    table = list(csv.DictReader(io.StringIO(download.content.decode())))
    for api, row in zip(board["models"], table, strict=True):
        plain = api["without_length_control"]
        assert float(row["rating_without_length_control"]) == pytest.approx(
            plain["rating"], abs=0.005
        )
        assert int(row["rank_without_length_control"]) == plain["rank"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/projects/proj/leaderboard",
        "/projects/proj/leaderboard",
        "/projects/proj/leaderboard.csv",
    ],
)
def test_a_bad_length_control_flag_is_a_400(admin: Any, project: Project, path: str) -> None:
    client = client_for(admin) if path.startswith("/api") else page_client(admin)
    assert client.get(f"{path}?length_control=maybe").status_code == 400


def test_the_page_and_csv_refuse_a_bad_flag_with_the_api_message(
    admin: Any, project: Project
) -> None:
    # when the same bad flag goes to the API, the page and the CSV
    query = "length_control=maybe"
    api = fetched(client_for(admin), f"/api/projects/{project.slug}/leaderboard?{query}")
    page = fetched(page_client(admin), f"/projects/{project.slug}/leaderboard?{query}")
    download = fetched(page_client(admin), f"/projects/{project.slug}/leaderboard.csv?{query}")
    # then all three are 400 and say the same thing
    message = api.json()["length_control"][0]
    assert api.status_code == page.status_code == download.status_code == 400
    assert page.content.decode() == download.content.decode() == f"length_control: {message}"


def test_the_project_page_links_the_leaderboard_once_two_models_have_votes(
    tmp_path: Path, admin: Any, annotator: Any, project: Project
) -> None:
    # (the page reads the models with votes from the counts a worker stored)
    link = f'href="/projects/{project.slug}/leaderboard"'
    url = f"/projects/{project.slug}/"
    assert link not in fetched(page_client(admin), url).content.decode()
    import_votes(project, tmp_path)
    assert link in fetched(page_client(admin), url).content.decode()
    assert link in page_client(annotator).get(f"/projects/{project.slug}/").content.decode()
    Project.objects.filter(pk=project.pk).update(leaderboard_for_annotators=False)
    assert link not in page_client(annotator).get(f"/projects/{project.slug}/").content.decode()


def test_without_two_models_the_page_says_what_it_needs(admin: Any, project: Project) -> None:
    page = fetched(page_client(admin), f"/projects/{project.slug}/leaderboard").content.decode()
    assert "at least two named models" in page
    assert (
        fetched(client_for(admin), f"/api/projects/{project.slug}/leaderboard").json()["models"]
        == []
    )


def test_the_reward_models_view_sits_beside_the_human_ranking(
    tmp_path: Path, admin: Any, project: Project
) -> None:
    # given a served reward model that scores "strong" highest and "weak" lowest
    import_votes(project, tmp_path)
    served = RewardModel.objects.create(
        project=project, version=3, mode="heads", backbone="x", is_active=True
    )
    reward = {"strong": 1.0, "mid": 0.0, "weak": -1.0}
    ResponseScore.objects.bulk_create(
        ResponseScore(response=r, model=served, mean=reward[r.model_name], std=0.1)
        for r in Response.objects.filter(prompt__project=project)
    )
    # when
    board = fetched(client_for(admin), f"/api/projects/{project.slug}/leaderboard").json()
    # then
    view = board["reward_model"]
    assert view["version"] == 3 and view["pairs"] == 48
    assert [m["model"] for m in view["models"]] == ["strong", "mid", "weak"]  # human order
    by_model = {m["model"]: m for m in view["models"]}
    assert by_model["strong"]["rank"] == 1 and by_model["weak"]["rank"] == 3
    assert by_model["strong"]["mean_reward"] == pytest.approx(1.0)
    assert by_model["strong"]["rating"] > by_model["mid"]["rating"] > by_model["weak"]["rating"]
    assert view["spearman"] == pytest.approx(1.0) and view["kendall"] == pytest.approx(1.0)
    page = fetched(page_client(admin), f"/projects/{project.slug}/leaderboard").content.decode()
    assert "Served version v3" in page and "Spearman <strong>1.00</strong>" in page


def test_no_served_model_means_no_reward_model_view(
    tmp_path: Path, admin: Any, project: Project
) -> None:
    import_votes(project, tmp_path)
    board = fetched(client_for(admin), f"/api/projects/{project.slug}/leaderboard").json()
    assert board["reward_model"] is None


def test_the_schema_documents_the_leaderboard(admin: Any) -> None:
    schema = client_for(admin).get("/api/schema/", HTTP_ACCEPT="application/json").json()
    operation = schema["paths"]["/api/projects/{slug}/leaderboard"]["get"]
    assert [p["name"] for p in operation["parameters"] if p["in"] == "query"] == [
        "criterion",
        "length_control",
    ]


def test_the_demo_project_ranks_its_five_source_models() -> None:
    # given the demo that `make run` loads
    call_command("load_demo", stdout=io.StringIO())
    demo_admin = User.objects.get(username="admin")
    # when
    page = fetched(page_client(demo_admin), "/projects/demo/leaderboard").content.decode()
    board = fetched(client_for(demo_admin), "/api/projects/demo/leaderboard").json()
    # then
    models = {"bloom-7b", "cerebras-gpt-6.7B", "llama-7b", "opt-7b", "pythia-6.9b"}
    assert {m["model"] for m in board["models"]} == models
    assert all(f'<tr data-model="{name}">' in page for name in models)
    assert (
        'href="/projects/demo/leaderboard"'
        in fetched(page_client(demo_admin), "/projects/demo/").content.decode()
    )


def test_votes_on_responses_without_a_model_name_are_not_counted(
    tmp_path: Path, admin: Any, project: Project
) -> None:
    # given votes where only one side names its model, and one real match
    rows = [
        {
            "prompt": f"q{k}",
            "response_a": f"x{k}",
            "response_b": f"y{k}",
            "model_a": "x",
            "label": "a",
        }
        for k in range(6)
    ]
    import_file(project, write_jsonl(tmp_path / "half-named.jsonl", rows))
    import_votes(project, tmp_path, [("strong", "weak", 3, 1)])
    # when
    board = fetched(client_for(admin), f"/api/projects/{project.slug}/leaderboard").json()
    # then
    assert board["votes"] == 4
    assert {m["model"] for m in board["models"]} == {"strong", "weak"}


def test_new_votes_show_on_the_next_request(tmp_path: Path, admin: Any, project: Project) -> None:
    # given a leaderboard that has been computed once
    import_votes(project, tmp_path, [("strong", "weak", 3, 1)])
    api = client_for(admin)
    assert fetched(api, f"/api/projects/{project.slug}/leaderboard").json()["votes"] == 4
    # when more votes arrive
    import_votes(project, tmp_path, [("mid", "weak", 2, 2)])
    # then
    board = fetched(api, f"/api/projects/{project.slug}/leaderboard").json()
    assert board["votes"] == 8 and len(board["models"]) == 3


def test_the_cached_board_survives_pickling_and_keeps_its_json(
    tmp_path: Path, admin: Any, project: Project
) -> None:
    # given a board built once (the cache pickles what it stores)
    import_votes(project, tmp_path)
    board = project_leaderboard(project, length_control=True)
    # then it round-trips, the cached read equals it, and the API serves its JSON
    assert pickle.loads(pickle.dumps(board)) == board
    assert project_leaderboard(project, length_control=True) == board
    body = fetched(client_for(admin), f"/api/projects/{project.slug}/leaderboard?length_control=1")
    assert body.json()["models"][0]["model"] == board.models[0].model
    assert board.length_coefficient is not None
    assert body.json()["length_coefficient"]["interval"] == list(board.length_coefficient.interval)
