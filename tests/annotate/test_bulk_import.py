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


def test_an_import_gives_the_connection_its_settings_back(tmp_path: Path) -> None:
    # given the connection's own settings (a web or worker process keeps the connection)
    from django.db import connection

    reads = (
        ["PRAGMA main.cache_size", "PRAGMA temp.secure_delete"]
        if connection.vendor == "sqlite"
        else ["SHOW work_mem"]
    )

    def settings() -> list[object]:
        values = []
        with connection.cursor() as cursor:
            for read in reads:
                cursor.execute(read)
                values.append(cursor.fetchone()[0])
        return values

    before = settings()
    # when a file is imported (under a larger page cache and a cheaper delete, or a larger
    # work_mem)
    import_file(make_project(), write_jsonl(tmp_path / "p.jsonl", pair_rows(3)))
    # then the connection's settings are as they were
    assert settings() == before
