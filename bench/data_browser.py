"""How fast the data browser (/projects/SLUG/pairs) answers on a large project, on Postgres.

    DATABASE_URL=postgres://... .venv/bin/python bench/data_browser.py [--pairs 1000000]

Fills a fresh project set-based in SQL (two pairs per prompt, three responses per prompt; 30% of
the pairs judged, 10% by two annotators who disagree) and serves a version with random scores,
then times the page for every filter and sort (reward margin included), first page and a page
from the middle (keyset cursor), through Django's test client as a logged-in superuser. Prints
a table, then deletes the project the way the delete button does (hidden at once, rows purged
in batches) and prints how long the purge took, unless --keep.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.django_setup import setup  # noqa: E402

if TYPE_CHECKING:
    from django.test import Client

    from annotate.models import Project

REPEATS = 5


def fill(project_id: int, pairs: int, users: list[int]) -> None:
    """Insert prompts, responses, pairs and judgements with INSERT ... SELECT."""
    from django.db import connection

    prompts = pairs // 2
    statements = [
        """INSERT INTO annotate_prompt (project_id, messages, turn_count, content_hash, created_at)
           SELECT %(p)s, jsonb_build_array(jsonb_build_object('role', 'user', 'content',
                  'Question ' || i || ': explain topic ' || (i %% 997) || ' briefly')),
                  1, md5('prompt' || i), now()
           FROM generate_series(1, %(prompts)s) i""",
        """INSERT INTO annotate_response (prompt_id, text, model_name, content_hash, created_at)
           SELECT pr.id, 'Answer ' || k || ' to ' || pr.id || ': lorem ipsum dolor sit amet',
                  'model-' || k, md5(pr.id || '-' || k), now()
           FROM annotate_prompt pr, generate_series(1, 3) k WHERE pr.project_id = %(p)s""",
        """INSERT INTO annotate_pair (project_id, prompt_id, response_a_id, response_b_id,
                  content_key, status, tiebreak, judgement_count, extra_judgements,
                  gold_label, external_id, meta, created_at)
           SELECT %(p)s, a.prompt_id, a.id, b.id, md5(a.id || '-' || b.id), 'pending',
                  (random() * 1e15)::bigint, 0, 0, '', '', '{}', now()
           FROM annotate_response a JOIN annotate_prompt pr ON pr.id = a.prompt_id
           JOIN annotate_response b ON b.prompt_id = a.prompt_id
           WHERE pr.project_id = %(p)s AND a.model_name = 'model-1'
                 AND b.model_name IN ('model-2', 'model-3')""",
        # Each pair's rank row was added by the pair table's trigger, at priority 0.
        "UPDATE annotate_pairrank SET priority = random() WHERE project_id = %(p)s",
        """INSERT INTO annotate_judgement (pair_id, annotator_id, choice, shown_left, rationale,
                  client_id, source, created_at, invalid_reason, model_a, model_b)
           SELECT id, %(u1)s, 'a', 'a', '', 'bench-1-' || id, 'human', now(), '', '', ''
           FROM annotate_pair WHERE project_id = %(p)s AND id %% 10 < 3""",
        """INSERT INTO annotate_judgement (pair_id, annotator_id, choice, shown_left, rationale,
                  client_id, source, created_at, invalid_reason, model_a, model_b)
           SELECT id, %(u2)s, 'b', 'b', '', 'bench-2-' || id, 'human', now(), '', '', ''
           FROM annotate_pair WHERE project_id = %(p)s AND id %% 10 < 1""",
        """UPDATE annotate_pair SET judgement_count = CASE WHEN id %% 10 < 1 THEN 2 ELSE 1 END,
                  status = 'complete'
           WHERE project_id = %(p)s AND id %% 10 < 3""",
        "UPDATE annotate_pair SET gold_label = 'a' WHERE project_id = %(p)s AND id %% 100 = 7",
        "ANALYZE",
    ]
    params = {"p": project_id, "prompts": prompts, "u1": users[0], "u2": users[1]}
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql, params)


def serve_random_model(project: Project) -> None:
    """A served version with a random score for every response, and the re-rank that stores
    each pair's margin under it: the margin sort's input."""
    from django.db import connection

    from rewards.models import RewardModel
    from rewards.worker.priorities import rewrite_priorities

    if RewardModel.objects.filter(project=project, is_active=True).exists():
        return
    model = RewardModel.objects.create(
        project=project, version=1, mode="heads", backbone="bench", is_active=True
    )
    with connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO rewards_responsescore (response_id, model_id, mean, std, members)
               SELECT r.id, %s, random() * 4 - 2, 0.1, '[]'
               FROM annotate_response r JOIN annotate_prompt p ON p.id = r.prompt_id
               WHERE p.project_id = %s""",
            [model.pk, project.pk],
        )
        cursor.execute("ANALYZE rewards_responsescore")
    rewrite_priorities(project.pk, model_id=model.pk, seed=1, strategy="random")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE annotate_pairrank")


def timed(client: Client, url: str) -> tuple[float, int]:
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - start) * 1000)
    assert response.status_code == 200, (url, response.status_code)
    return statistics.median(times), response.content.decode().count("<tr data-pair=")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--reuse", action="store_true", help="time a project kept by --keep")
    args = parser.parse_args()
    os.environ.setdefault("ALLOWED_HOSTS", "testserver")
    setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client

    from annotate.models import Pair, Project
    from annotate.projects.lifecycle import create_project, delete_project, purge_project
    from annotate.projects.members import set_member

    if connection.vendor != "postgresql":
        raise SystemExit("this benchmark needs DATABASE_URL=postgres://...")
    users = get_user_model().objects
    root = users.filter(username="bench-root").first() or users.create_superuser(
        "bench-root", password="x"
    )
    slug = "bench-browser"
    old = Project.objects.filter(slug=slug).first()
    annotators = [users.get_or_create(username=f"bench-ann-{i}")[0] for i in (1, 2)]
    if args.reuse and old is not None and old.deleted_at is None:
        project = old
        args.pairs = Pair.objects.filter(project=project).count()
    else:
        if old is not None:
            delete_project(old)
            purge_project(old.pk)
        project = create_project(slug=slug)
        for user in annotators:
            set_member(project, username=user.username, role="annotator")
        start = time.perf_counter()
        fill(project.pk, args.pairs, [u.pk for u in annotators])
        print(f"filled {args.pairs} pairs in {time.perf_counter() - start:.0f} s", flush=True)

    serve_random_model(project)
    # Pages render without collectstatic's manifest.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    client = Client()
    client.force_login(root)
    base = f"/projects/{slug}/pairs"
    by_priority = Pair.objects.filter(project=project).select_related("rank")
    middle = by_priority.order_by("-rank__priority", "-id")[args.pairs // 2]
    cases = [
        ("newest, first page", {}),
        ("newest, deep page", {"after": f"{middle.pk}~{middle.pk}"}),
        ("priority, first page", {"sort": "priority"}),
        (
            "priority, deep page",
            {"sort": "priority", "after": f"{middle.rank.priority!r}~{middle.pk}"},
        ),
        ("votes", {"sort": "votes"}),
        ("status=pending", {"status": "pending"}),
        ("status=judged, priority", {"status": "judged", "sort": "priority"}),
        ("disagreement", {"disagreement": "on"}),
        ("gold", {"gold": "yes"}),
        ("source model", {"model": "model-3"}),
        ("judged by annotator", {"annotator": str(annotators[1].pk)}),
        ("text, a word in every prompt", {"q": "explain"}),
        ("text, a word in 0.1% of prompts", {"q": "topic 42"}),
        ("text, no match", {"q": "zebra"}),
        ("reward margin, first page", {"sort": "margin"}),
        ("reward margin, status=judged", {"sort": "margin", "status": "judged"}),
    ]
    print(f"\n| page ({args.pairs:,} pairs) | median ms of {REPEATS} | rows |\n|---|---|---|")
    for name, query in cases:
        ms, rows = timed(client, f"{base}?{urlencode(query)}")
        print(f"| {name} | {ms:.0f} | {rows} |")
    if not args.keep:
        start = time.perf_counter()
        delete_project(project)
        print(f"\ndelete request: {time.perf_counter() - start:.2f} s")
        start = time.perf_counter()
        purge_project(project.pk)
        print(f"purge of every row: {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
