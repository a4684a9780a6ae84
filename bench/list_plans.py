"""The query plans of every list page and API list on a large project, on Postgres.

    DATABASE_URL=postgres://... .venv/bin/python bench/list_plans.py [--slug bench-browser]

Runs on a project made by `bench/data_browser.py --keep` (1,000,000 pairs). Adds, once, what the
other lists show at a size they could reach (import and generation jobs, a judge's runs, members,
invitations, a webhook with 300,000 deliveries) and takes the project's counts as a worker
does (the list, the project page and the models page read them stored), then requests each
list, first page and a deep page, as the superuser, and runs EXPLAIN ANALYZE on every
statement the request made. Prints one row per statement that reads a table: its milliseconds
and plan (scan nodes with their index), and flags a Seq Scan or a Sort that reads more than
SCANNED_LIMIT rows.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.django_setup import setup  # noqa: E402

if TYPE_CHECKING:
    from annotate.models import Project

# A scan or sort that touches more rows than this is not a bounded page read.
SCANNED_LIMIT = 5000
DELIVERIES = 300_000


def seed(project: Project) -> dict[str, int]:
    """The rows the other lists show, made once; returns the ids the list URLs need."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.utils import timezone

    from annotate.models import ImportJob, Invitation, Membership, Role
    from generation.judges_models import Judge, JudgeRun
    from generation.models import GenerationJob, ModelEndpoint
    from webhooks.models import Subscription

    users = get_user_model().objects
    endpoint, _ = ModelEndpoint.objects.get_or_create(
        project=project, name="bench-judge", defaults={"base_url": "http://x/v1", "model": "m"}
    )
    rater = users.get_or_create(username="bench-rater")[0]
    judge, _ = Judge.objects.get_or_create(project=project, endpoint=endpoint, rater=rater)
    hook = Subscription.objects.filter(project=project).first()
    if hook is None:
        hook = Subscription.objects.create(
            project=project, url="https://hooks.example.com/bench", events=["pair.completed"]
        )
        for i in range(3):
            Subscription.objects.create(
                project=project, url=f"https://h{i}.example.com/", events=[]
            )
        ImportJob.objects.bulk_create(
            ImportJob(project=project, original_name=f"f{i}.jsonl") for i in range(120)
        )
        GenerationJob.objects.bulk_create(GenerationJob(project=project) for _ in range(120))
        JudgeRun.objects.bulk_create(JudgeRun(judge=judge) for _ in range(120))
        people = users.bulk_create(
            get_user_model()(username=f"bench-member-{i}") for i in range(300)
        )
        Membership.objects.bulk_create(
            Membership(project=project, user=u, role=Role.ANNOTATOR) for u in people
        )
        expires = timezone.now() + timedelta(days=7)
        Invitation.objects.bulk_create(
            Invitation(
                project=project,
                email=f"p{i}@example.org",
                token_hash=f"bench{i}",
                expires_at=expires,
            )
            for i in range(200)
        )
        with connection.cursor() as cursor:
            cursor.execute(
                """INSERT INTO webhooks_delivery (subscription_id, event_id, event, body, status,
                          attempts, next_attempt_at, last_error, created_at)
                   SELECT %s, md5(i::text)::uuid, 'pair.completed', '{}',
                          CASE WHEN i %% 10 = 0 THEN 'failed' ELSE 'delivered' END, 1, now(), '',
                          now()
                   FROM generate_series(1, %s) i""",
                [hook.pk, DELIVERIES],
            )
            cursor.execute(
                """INSERT INTO webhooks_attempt (delivery_id, number, status_code, latency_ms,
                          error, created_at)
                   SELECT id, 1, 200, 5, '', now() FROM webhooks_delivery
                   WHERE subscription_id = %s""",
                [hook.pk],
            )
            cursor.execute("ANALYZE")
    return {"judge": judge.pk, "webhook": hook.pk}


def store_counts(project: Project) -> None:
    """Take the project's counts as a worker would, so the pages read them as they usually do
    (a first read only queues the count and says "counting…")."""
    from annotate.models import StatisticsSnapshot
    from annotate.projects.counts import PROJECT_COUNTS
    from annotate.statistics import compute_snapshot

    snapshot, _ = StatisticsSnapshot.objects.get_or_create(
        project=project, kind=PROJECT_COUNTS, variant=""
    )
    compute_snapshot(snapshot.pk)


def _scans(node: dict[str, Any], out: list[str], flags: list[str]) -> None:
    kind = node["Node Type"]
    rows = node.get("Actual Rows", 0) * node.get("Actual Loops", 1)
    rows += node.get("Rows Removed by Filter", 0) * node.get("Actual Loops", 1)
    where = node.get("Index Name") or node.get("Relation Name") or ""
    if "Scan" in kind or kind == "Sort":
        out.append(f"{kind} {where} ({rows:,} rows)".replace("  ", " "))
        if kind in ("Seq Scan", "Sort") and rows > SCANNED_LIMIT:
            flags.append(f"{kind} {where} {rows:,}")
    for child in node.get("Plans", []):
        _scans(child, out, flags)


def explain(sql: str) -> tuple[float, str, list[str]]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}")
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    out: list[str] = []
    flags: list[str] = []
    _scans(plan[0]["Plan"], out, flags)
    return plan[0]["Execution Time"], "; ".join(out), flags


def lists(slug: str, ids: dict[str, int], deep: dict[str, str]) -> list[tuple[str, str]]:
    a, p = f"/api/projects/{slug}", f"/projects/{slug}"
    hook, judge = ids["webhook"], ids["judge"]
    return [
        ("pairs (API)", f"{a}/pairs"),
        ("pairs (API), deep page", f"{a}/pairs?after={deep['pair']}"),
        ("pairs by priority (API), deep", f"{a}/pairs?sort=priority&after={deep['priority']}"),
        ("pairs by votes (API)", f"{a}/pairs?sort=votes"),
        ("pairs page", f"{p}/pairs"),
        ("import jobs (API)", f"{a}/imports"),
        ("import jobs (API), page 2", f"{a}/imports?after={deep['import']}"),
        ("members (API)", f"{a}/members"),
        ("members page", f"{p}/members"),
        ("invitations (API)", f"{a}/invitations"),
        ("projects (API)", "/api/projects/"),
        ("projects page", "/"),
        ("project page", f"{p}/"),
        ("models (API)", f"{a}/models"),
        ("models page", f"{p}/models"),
        ("endpoints (API)", f"{a}/endpoints"),
        ("generation jobs (API)", f"{a}/generations"),
        ("generation jobs page", f"{p}/generations"),
        ("judges (API)", f"{a}/judges"),
        ("judge runs (API)", f"{a}/judges/{judge}/runs"),
        ("judges page", f"{p}/judges"),
        ("webhooks (API)", f"{a}/webhooks"),
        ("webhooks page", f"{p}/webhooks"),
        ("deliveries (API)", f"{a}/webhooks/{hook}/deliveries"),
        ("deliveries (API), deep", f"{a}/webhooks/{hook}/deliveries?after={deep['delivery']}"),
        ("deliveries failed (API)", f"{a}/webhooks/{hook}/deliveries?status=failed"),
        ("deliveries page", f"{p}/webhooks/{hook}"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--slug", default="bench-browser")
    args = parser.parse_args()
    os.environ.setdefault("ALLOWED_HOSTS", "testserver")
    setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from annotate.models import ImportJob, Pair, Project
    from webhooks.models import Delivery

    if connection.vendor != "postgresql":
        raise SystemExit("this benchmark needs DATABASE_URL=postgres://...")
    project = Project.objects.get(slug=args.slug)
    ids = seed(project)
    store_counts(project)
    pairs = Pair.objects.filter(project=project)
    middle = pairs.select_related("rank").order_by("-rank__priority", "-id")[pairs.count() // 2]
    job = ImportJob.objects.filter(project=project).order_by("-pk")[49]
    delivery = Delivery.objects.filter(subscription_id=ids["webhook"]).order_by("-pk")[
        DELIVERIES // 2
    ]
    deep = {
        "pair": f"{middle.pk}~{middle.pk}",
        "priority": f"{middle.rank.priority!r}~{middle.pk}",
        "import": f"{job.pk}~{job.pk}",
        "delivery": f"{delivery.pk}~{delivery.pk}",
    }
    # Pages render without collectstatic's manifest.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    root = get_user_model().objects.filter(is_superuser=True).order_by("pk").first()
    if root is None:
        raise SystemExit("no superuser: run bench/data_browser.py --keep first")
    client = Client()
    client.force_login(root)
    print(f"{pairs.count():,} pairs; flagged: Seq Scan or Sort over > {SCANNED_LIMIT:,} rows\n")
    for name, url in lists(project.slug, ids, deep):
        client.get(url)  # warm the caches a request may fill
        with CaptureQueriesContext(connection) as queries:
            status = client.get(url).status_code
        print(f"## {name}: {url} -> {status}, {len(queries)} statements")
        for query in queries:
            sql = query["sql"]
            if not sql.lstrip().upper().startswith("SELECT") or "django_session" in sql:
                continue
            ms, plan, flags = explain(sql)
            mark = f"  FLAG: {', '.join(flags)}\n      SQL: {sql[:300]}" if flags else ""
            print(f"  {ms:8.2f} ms  {plan}{mark}")
        print()


if __name__ == "__main__":
    main()
