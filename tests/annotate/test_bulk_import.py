"""The set-based import keeps the file's order and counts labels added to existing pairs."""

from __future__ import annotations

from pathlib import Path

import pytest

from annotate.importing.pipeline import import_file
from annotate.models import Pair, PairStatus
from tests.factories import make_project, pair_rows, write_jsonl

pytestmark = pytest.mark.django_db


def test_pairs_are_stored_in_file_order(tmp_path: Path) -> None:
    # given a file whose rows are not in any hash or key order
    rows = pair_rows(300, labelled=False)
    rows.reverse()
    project = make_project()
    # when
    import_file(project, write_jsonl(tmp_path / "p.jsonl", rows))
    # then ids follow the file, so exports and the queue's ties list pairs as the file did
    stored = list(Pair.objects.order_by("pk").values_list("external_id", flat=True))
    assert stored == [row["id"] for row in rows]


def test_a_second_file_labelling_known_pairs_completes_them(tmp_path: Path) -> None:
    # given pairs imported without labels, with overlap 2
    project = make_project(judgements_per_pair=2)
    rows = pair_rows(4, labelled=False)
    import_file(project, write_jsonl(tmp_path / "unlabelled.jsonl", rows))
    # when two files label them, each with a different winner
    for name, label in (("first", "a"), ("second", "b")):
        labelled = [{**row, "label": label} for row in rows]
        import_file(project, write_jsonl(tmp_path / f"{name}.jsonl", labelled))
    # then every pair has both judgements counted and is complete
    assert set(Pair.objects.values_list("judgement_count", "status")) == {(2, PairStatus.COMPLETE)}


def test_an_import_gives_the_connection_its_page_cache_back(tmp_path: Path) -> None:
    # given the connection's own SQLite page cache (a web or worker process keeps it)
    from django.db import connection

    if connection.vendor != "sqlite":
        pytest.skip("SQLite's page cache; PostgreSQL sets its import settings per transaction")
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA main.cache_size")
        before = cursor.fetchone()[0]
        # when a file is imported (with the larger cache an import runs under)
        import_file(make_project(), write_jsonl(tmp_path / "p.jsonl", pair_rows(3)))
        cursor.execute("PRAGMA main.cache_size")
        # then the connection's cache is as it was
        assert cursor.fetchone()[0] == before
