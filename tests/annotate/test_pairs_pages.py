"""The data browser and the pair page: filters, keyset pages, review from the page."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
from django.db import connection

from annotate.importing.pipeline import import_file
from annotate.models import Judgement, Pair, PairRank, PairStatus, Project
from annotate.review.actions import invalidate_judgement
from tests.annotate.workspace_support import judge_next, logged_in
from tests.factories import make_pairs, pair_rows, write_jsonl

pytestmark = pytest.mark.django_db


def _ids(page: str) -> list[int]:
    return [int(i) for i in re.findall(r'<tr data-pair="(\d+)"', page)]


def _list(client: Any, project: Project, **query: str) -> str:
    response = client.get(f"/projects/{project.slug}/pairs", query)
    assert response.status_code == 200
    return response.content.decode()


@pytest.fixture
def mixed(tmp_path: Path, project: Project, annotator: Any, second_annotator: Any) -> Project:
    """Overlap 2; q-5 judged by both (they disagree), q-4 by bob only, q-0 a gold check."""
    project.judgements_per_pair = 2
    project.save()
    rows = pair_rows(6, labelled=False)
    rows[3]["model_b"] = "model-z"
    rows[4]["response_a"] = "The capital of France is Paris."
    import_file(project, write_jsonl(tmp_path / "mixed.jsonl", rows))
    for i, pair in enumerate(Pair.objects.order_by("pk")):
        PairRank.objects.filter(pair=pair).update(priority=i / 10)
    # A gold check: never leased as an ordinary pair (gold_rate is 0 here).
    Pair.objects.filter(external_id="q-0").update(gold_label="a")
    judge_next(annotator, project, "a")  # q-5 has the top priority
    judge_next(second_annotator, project, "b")
    judge_next(annotator, project, "a")  # q-4
    return project


def test_the_filters_narrow_the_table(admin: Any, annotator: Any, mixed: Project) -> None:
    client = logged_in(admin)
    by_ext = {p.external_id: p.pk for p in Pair.objects.all()}
    assert len(_ids(_list(client, mixed))) == 6
    assert set(_ids(_list(client, mixed, status="judged"))) == {by_ext["q-5"], by_ext["q-4"]}
    assert _ids(_list(client, mixed, status="complete")) == [by_ext["q-5"]]
    assert _ids(_list(client, mixed, disagreement="on")) == [by_ext["q-5"]]
    assert _ids(_list(client, mixed, gold="yes")) == [by_ext["q-0"]]
    assert len(_ids(_list(client, mixed, gold="no"))) == 5
    assert _ids(_list(client, mixed, model="model-z")) == [by_ext["q-3"]]
    judged_by_bob = _ids(_list(client, mixed, annotator=str(annotator.pk)))
    assert set(judged_by_bob) == {by_ext["q-5"], by_ext["q-4"]}
    assert _ids(_list(client, mixed, q="paris")) == [by_ext["q-4"]]
    assert _ids(_list(client, mixed, sort="priority"))[:2] == [by_ext["q-5"], by_ext["q-4"]]
    assert _ids(_list(client, mixed, sort="votes"))[0] == by_ext["q-5"]


@pytest.mark.parametrize("id_limit", [0, 5000])
def test_text_search_finds_prompts_and_responses_whether_words_are_rare_or_common(
    admin: Any, mixed: Project, id_limit: int
) -> None:
    # On Postgres, a limit of 0 makes every word "common" (pairs tested in order), the default
    # finds them through the indexed texts; SQLite uses LIKE either way.
    by_ext = {p.external_id: p.pk for p in Pair.objects.all()}
    client = logged_in(admin)
    with patch("annotate.review.browsing.SEARCH_ID_LIMIT", id_limit):
        assert _ids(_list(client, mixed, q="Paris")) == [by_ext["q-4"]]
        assert _ids(_list(client, mixed, q="question 3")) == [by_ext["q-3"]]
        assert len(_ids(_list(client, mixed, q="longer"))) == 6
        assert _ids(_list(client, mixed, q="zebra")) == []


def test_an_invalid_vote_ends_a_disagreement(admin: Any, mixed: Project) -> None:
    judgement = Judgement.objects.filter(pair__external_id="q-5").latest("pk")
    invalidate_judgement(judgement, by=admin, reason="spam")
    assert _ids(_list(logged_in(admin), mixed, disagreement="on")) == []


def test_bad_filter_values_are_a_400(admin: Any, mixed: Project) -> None:
    client = logged_in(admin)
    for query in ({"status": "nope"}, {"annotator": "999999"}, {"after": "x"}, {"sort": "x"}):
        assert client.get(f"/projects/{mixed.slug}/pairs", query).status_code == 400, query


@pytest.mark.parametrize("sort", ["newest", "priority", "votes"])
def test_keyset_pages_cover_every_pair_once(
    tmp_path: Path, admin: Any, project: Project, sort: str
) -> None:
    # given 120 pairs, many with equal priorities and vote counts
    make_pairs(project, tmp_path, 120)
    for i, pair in enumerate(Pair.objects.all()):
        PairRank.objects.filter(pair=pair).update(priority=(i % 3) / 2)
    client = logged_in(admin)

    # when the admin follows "Next page" to the end
    seen: list[int] = []
    query = f"sort={sort}"
    while query:
        page = client.get(f"/projects/{project.slug}/pairs?{query}").content.decode()
        seen += _ids(page)
        match = re.search(r'href="\?([^"]+)">Next page', page)
        query = match.group(1).replace("&amp;", "&") if match else ""

    # then every pair was listed exactly once
    assert sorted(seen) == sorted(Pair.objects.values_list("pk", flat=True))


def test_the_list_runs_a_fixed_number_of_queries(
    tmp_path: Path, admin: Any, project: Project, django_assert_num_queries: Any
) -> None:
    # given more pairs than one page holds
    make_pairs(project, tmp_path, 80)
    client = logged_in(admin)
    client.get(f"/projects/{project.slug}/pairs")  # fills the cached model names

    # then a filtered page costs the same few queries (session, user, the project with the
    # user's role, the served model for the margin sort, annotators for the filter, the page;
    # on Postgres also the indexed lookups of matching prompts and responses, and the count of
    # texts still being indexed for search) whatever its size
    with django_assert_num_queries(9 if connection.vendor == "postgresql" else 6):
        page = client.get(f"/projects/{project.slug}/pairs", {"status": "judged", "q": "question"})
    assert len(_ids(page.content.decode())) == 50


def test_the_pair_page_shows_every_judgement_and_invalidates_one(
    tmp_path: Path, admin: Any, annotator: Any, project: Project
) -> None:
    # given a complete pair judged by bob
    make_pairs(project, tmp_path, 1, labelled=False)
    judgement = judge_next(annotator, project, "b")
    pair = judgement.pair
    client = logged_in(admin)
    url = f"/projects/{project.slug}/pairs/{pair.pk}"

    # then its page shows the responses and the judgement in canonical terms, pseudonymously
    page = client.get(url).content.decode()
    assert "answer two to q 0, longer" in page and "B better" in page
    assert "Shown left" in page and "900 ms" in page
    assert "annotator-" in page and ">bob<" not in page

    # when the admin submits an empty reason, the message sits next to the field
    response = client.post(f"{url}/judgements/{judgement.pk}/invalidate", {"reason": ""})
    assert response.status_code == 400
    assert "This field is required." in response.content.decode()

    # when they give a reason, the judgement is shown invalid and the pair is pending again
    client.post(f"{url}/judgements/{judgement.pk}/invalidate", {"reason": "random clicks"})
    page = client.get(url).content.decode()
    assert "random clicks" in page and "by alice" in page
    pair.refresh_from_db()
    assert (pair.status, pair.judgement_count) == (PairStatus.PENDING, 0)

    # and the gold label can be set and cleared from the page
    client.post(f"{url}/gold", {"label": "tie"})
    pair.refresh_from_db()
    assert pair.gold_label == "tie"
    client.post(f"{url}/gold", {"label": ""})
    pair.refresh_from_db()
    assert pair.gold_label == ""


def test_the_pair_page_escapes_markup_in_responses(
    tmp_path: Path, admin: Any, project: Project
) -> None:
    rows = [
        {
            "prompt": "hi <img src=x onerror=alert(1)>",
            "response_a": "<script>x()</script>",
            "response_b": "**fine**",
        }
    ]
    import_file(project, write_jsonl(tmp_path / "x.jsonl", rows))
    pair = Pair.objects.get()
    page = logged_in(admin).get(f"/projects/{project.slug}/pairs/{pair.pk}").content.decode()
    assert "<script>x()" not in page and "<img src=x" not in page
    assert "<strong>fine</strong>" in page


def test_a_pair_of_another_project_is_404(tmp_path: Path, admin: Any, project: Project) -> None:
    from tests.factories import make_project

    other = make_project("other")
    make_pairs(other, tmp_path, 1)
    pair = Pair.objects.get(project=other)
    assert logged_in(admin).get(f"/projects/{project.slug}/pairs/{pair.pk}").status_code == 404


def test_the_pair_page_shows_a_ranking_its_criteria_ratings_and_an_edit_as_a_diff(
    tmp_path: Path, admin: Any, annotator: Any
) -> None:
    # given a ranking item judged with a criterion, a rating and an edit of the best response
    from annotate.judging.queue import lease_next_pair
    from annotate.judging.recording import record_judgement
    from annotate.projects.members import set_member
    from tests.factories import make_project

    project = make_project(
        "ranked",
        comparison="ranking",
        admin=admin,
        criteria=[{"name": "safe", "guidance": "", "required": False}],
        rating_scale=[1, 2, 3],
        edits="optional",
    )
    set_member(project, username=annotator.username, role="annotator")
    row = {"prompt": "q?", "responses": ["first line\nsecond", "other", "third one"]}
    import_file(project, write_jsonl(tmp_path / "r.jsonl", [row]))
    lease = lease_next_pair(annotator, project)
    assert lease is not None and lease.shown_order is not None
    best = Pair.objects.get().ranked.get(position=0).response_id
    rest = [rid for rid in lease.shown_order if rid != best]
    record_judgement(
        lease.pk,
        annotator,
        client_id="c1",
        ranking=[[best], rest],
        criteria={"safe": [rest, [best]]},
        ratings={str(best): 3},
        edit="first line\nsecond, improved",
    )
    # when
    page = logged_in(admin).get(f"/projects/{project.slug}/pairs/{lease.pair_id}").content.decode()
    # then
    first, second = sorted(rest)
    assert page.count("data-ranked=") == 3
    assert f"#{best} &gt; #{first} = #{second}" in page
    assert f"#{first} = #{second} &gt; #{best}" in page
    assert f"#{best}: 3" in page
    assert "-second" in page and "+second, improved" in page
