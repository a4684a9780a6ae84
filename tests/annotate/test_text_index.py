"""Texts are indexed for search by a worker after an import; search finds them before and after."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from annotate.importing.jobs import claim_import_job, run_import_job
from annotate.importing.pipeline import import_file, start_import
from annotate.models import Pair, Project, Prompt, Response, Role
from annotate.review.text_index import index_texts, unindexed_count
from annotate.tasks import index_texts_task
from tests.annotate.workspace_support import logged_in
from tests.conftest import client_for
from tests.factories import pair_rows, write_jsonl

pytestmark = pytest.mark.django_db

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="stored search documents exist on PostgreSQL only; SQLite searches with LIKE",
)


@pytest.fixture
def imported(tmp_path: Path, project: Project) -> Project:
    """Six imported pairs, 18 texts (6 prompts, 12 responses); one response names Paris."""
    rows = pair_rows(6, labelled=False)
    rows[4]["response_a"] = "The capital of France is Paris."
    import_file(project, write_jsonl(tmp_path / "rows.jsonl", rows))
    return project


def _found(project: Project, q: str) -> list[str]:
    page = _page(project, q=q)
    ids = [int(i) for i in re.findall(r'<tr data-pair="(\d+)"', page)]
    return sorted(Pair.objects.filter(pk__in=ids).values_list("external_id", flat=True))


def _page(project: Project, **query: str) -> str:
    admin = project.memberships.get(role=Role.ADMIN).user
    response = logged_in(admin).get(f"/projects/{project.slug}/pairs", query)
    assert response.status_code == 200
    return response.content.decode()


def _unindexed_rows() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT count(*) FROM annotate_prompt WHERE search_document IS NULL)"
            " + (SELECT count(*) FROM annotate_response WHERE search_document IS NULL)"
        )
        return int(cursor.fetchone()[0])


@postgres_only
@pytest.mark.parametrize("id_limit", [0, 5000])
def test_it_finds_rare_and_common_words_in_texts_not_indexed_yet(
    imported: Project, id_limit: int
) -> None:
    # given an import the worker has not indexed
    assert _unindexed_rows() == 18

    # then search finds a rare word and a common one, by ids and by the page-filling scan
    with patch("annotate.review.browsing.SEARCH_ID_LIMIT", id_limit):
        assert _found(imported, "Paris") == ["q-4"]
        assert len(_found(imported, "longer")) == 6
        assert _found(imported, "question 3") == ["q-3"]
        assert _found(imported, "zebra") == []


@postgres_only
@pytest.mark.parametrize("id_limit", [0, 5000])
def test_it_finds_the_texts_the_worker_indexed(imported: Project, id_limit: int) -> None:
    # when the worker indexes the texts, a few rows a transaction
    assert index_texts(batch=5) == 18
    assert _unindexed_rows() == 0 and index_texts() == 0

    # then search finds the same pairs
    with patch("annotate.review.browsing.SEARCH_ID_LIMIT", id_limit):
        assert _found(imported, "Paris") == ["q-4"]
        assert len(_found(imported, "longer")) == 6
        assert _found(imported, "question 3") == ["q-3"]


@postgres_only
def test_a_text_too_large_for_one_document_neither_stops_indexing_nor_search(
    tmp_path: Path, project: Project
) -> None:
    # given an import whose first response is 1.4 MB of distinct words (over PostgreSQL's 1 MB
    # for one document), and a later one that names Paris
    words = " ".join(f"w{i:07d}" for i in range(170_000))
    rows = pair_rows(3, labelled=False)
    rows[0]["response_a"] = "Zanzibar first. " + words
    rows[2]["response_a"] = "The capital of France is Paris."
    import_file(project, write_jsonl(tmp_path / "big.jsonl", rows))
    # then search works before indexing, indexing fills every text, and search finds both after
    assert _found(project, "Zanzibar") == ["q-0"]
    assert index_texts() == 9 and _unindexed_rows() == 0
    assert _found(project, "Zanzibar") == ["q-0"] and _found(project, "Paris") == ["q-2"]


@postgres_only
def test_a_search_reads_the_stored_documents_through_their_gin_indexes(
    tmp_path: Path, project: Project
) -> None:
    # given enough indexed pairs that the planner prefers an index to a scan
    rows = pair_rows(3000, labelled=False)
    rows[1234]["response_a"] = "The capital of France is Paris."
    import_file(project, write_jsonl(tmp_path / "many.jsonl", rows))
    index_texts()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE annotate_prompt, annotate_response")

    # when the page searches for a rare word
    with CaptureQueriesContext(connection) as queries:
        assert _found(project, "Paris") == ["q-1234"]
    searched = [q["sql"] for q in queries if "search_document @@" in q["sql"]]

    # then the prompts and responses it looks up are found through their GIN indexes
    with connection.cursor() as cursor:
        plans = []
        for sql in searched:
            cursor.execute(f"EXPLAIN {sql}")
            plans.append("\n".join(row[0] for row in cursor.fetchall()))
    assert any("annotate_response_search_document" in p for p in plans), plans
    assert any("annotate_prompt_search_document" in p for p in plans), plans


@postgres_only
def test_an_edited_text_is_searched_as_it_now_reads(imported: Project) -> None:
    # given indexed texts
    index_texts()

    # when a response's text changes after it was indexed
    Response.objects.filter(text="The capital of France is Paris.").update(text="A zebra crossing")

    # then search finds its new words, not the old ones, before and after the worker runs again
    assert _found(imported, "zebra") == ["q-4"] and _found(imported, "Paris") == []
    assert index_texts() == 1
    assert _found(imported, "zebra") == ["q-4"] and _found(imported, "Paris") == []


@postgres_only
def test_the_page_says_texts_are_being_indexed_only_while_some_are(imported: Project) -> None:
    notice = "18 texts are still being indexed; matches among them are found more slowly."
    assert notice in _page(imported, q="Paris")
    assert "still being indexed" not in _page(imported)  # no search, no notice
    with patch("annotate.views.review.UNINDEXED_SHOWN", 10):
        assert "Over 10 texts are still being indexed" in _page(imported, q="Paris")

    index_texts()
    assert "still being indexed" not in _page(imported, q="Paris")
    assert unindexed_count(imported, cap=10) == 0


@postgres_only
def test_the_pairs_api_says_how_many_texts_are_still_being_indexed(imported: Project) -> None:
    admin = imported.memberships.get(role=Role.ADMIN).user
    url = f"/api/projects/{imported.slug}/pairs"
    answer = client_for(admin).get(url, {"q": "Paris"}).json()
    assert answer["unindexed_texts"] == 18
    assert [row["external_id"] for row in answer["results"]] == ["q-4"]
    assert client_for(admin).get(url).json()["unindexed_texts"] == 0  # no search: 0

    index_texts()
    answer = client_for(admin).get(url, {"q": "Paris"}).json()
    assert answer["unindexed_texts"] == 0
    assert [row["external_id"] for row in answer["results"]] == ["q-4"]


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_large_run_vacuums_so_searches_read_no_stale_entries(imported: Project) -> None:
    # when the worker (outside any transaction) fills more rows than VACUUM_AFTER
    with patch("annotate.review.text_index.VACUUM_AFTER", 5):
        assert index_texts() == 18

    # then the index of unindexed rows, which every search reads, holds no old row versions
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
        cursor.execute(
            "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF)"
            " SELECT id FROM annotate_response WHERE search_document IS NULL"
        )
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Bitmap Index Scan on annotate_response_unindexed (actual rows=0" in plan, plan
    assert _found(imported, "Paris") == ["q-4"]


def test_the_task_indexes_every_text_without_a_worker(imported: Project) -> None:
    # when the task function runs in this process (no worker)
    indexed = index_texts_task()

    # then every text was indexed (PostgreSQL; SQLite stores none) and search still finds them
    texts = Prompt.objects.count() + Response.objects.count()
    assert indexed == (texts if connection.vendor == "postgresql" else 0)
    assert unindexed_count(imported, cap=100) == 0
    assert _found(imported, "Paris") == ["q-4"]
    assert "still being indexed" not in _page(imported, q="Paris")


def test_a_finished_upload_queues_the_indexing_task(
    project: Project, django_capture_on_commit_callbacks: Any
) -> None:
    # given an uploaded file of new pairs
    rows = "".join(
        f'{{"prompt": "p{i}", "response_a": "x", "response_b": "y"}}\n' for i in range(3)
    )
    job = start_import(
        project,
        project.memberships.get(role=Role.ADMIN).user,
        file=SimpleUploadedFile("rows.jsonl", rows.encode()),
    )
    assert claim_import_job(job.pk)

    # when the worker runs the import
    with django_capture_on_commit_callbacks() as queued:
        run_import_job(job.pk)

    # then it succeeded and queued the indexing of its texts, once committed
    job.refresh_from_db()
    assert job.status == "succeeded"
    assert [c for c in queued if index_texts_task in getattr(c, "args", ())]
