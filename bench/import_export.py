"""Import and export throughput and export memory on whatever DATABASE_URL points at.

    DATABASE_URL=postgres://... .venv/bin/python bench/import_export.py [--pairs 100000]

Generates N labelled pairs (one prompt per two pairs), imports them into a fresh project and
exports every format as JSONL and Parquet, each export in its own process so its peak RSS is
its own. Prints a table; the project is deleted afterwards unless --keep.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.django_setup import ROOT, setup  # noqa: E402

if TYPE_CHECKING:
    from annotate.models import Project


def generate(path: Path, n: int) -> None:
    with path.open("w") as handle:
        for i in range(n):
            row = {
                "id": f"bench-{i}",
                "prompt": f"Benchmark prompt number {i // 2}: explain topic {i // 2} briefly.",
                "response_a": f"Response A{i} " + "lorem ipsum dolor sit amet " * 8,
                "response_b": f"Response B{i} " + "consectetur adipiscing elit " * 6,
                "model_a": "model-a",
                "model_b": "model-b",
                "label": "a" if i % 3 else "b",
            }
            handle.write(json.dumps(row) + "\n")


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss it restarts at exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def export_once(slug: str, fmt: str, file_type: str) -> dict[str, float]:
    """Run in a child process: export to a temp file, report rows, seconds and peak RSS."""
    setup()
    from annotate.exporting.datasets import export_chunks
    from annotate.models import Project

    project = Project.objects.get(slug=slug)
    with tempfile.NamedTemporaryFile(suffix=f".{file_type}") as out:
        start = time.perf_counter()
        size = 0
        for chunk in export_chunks(project, fmt=fmt, file_type=file_type):
            out.write(chunk)
            size += len(chunk)
        seconds = time.perf_counter() - start
    rows = _count_rows(project, fmt)
    return {"rows": rows, "seconds": seconds, "mb": size / 1e6, "peak_rss_mb": peak_rss_mb()}


def _count_rows(project: Project, fmt: str) -> int:
    from annotate.models import Judgement, Pair

    if fmt == "judgements":
        return Judgement.objects.filter(pair__project=project).count()
    return Pair.objects.filter(project=project, judgement_count__gt=0).count()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=100_000)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark project")
    parser.add_argument(
        "--export-child", nargs=3, metavar=("SLUG", "FORMAT", "FILE"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.export_child:
        print(json.dumps(export_once(*args.export_child)))
        return
    setup()
    from django.conf import settings

    from annotate.importing.pipeline import import_file
    from annotate.models import Project
    from annotate.projects.lifecycle import create_project

    engine = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    slug = f"bench-{int(time.time())}"
    project = create_project(slug=slug)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pairs.jsonl"
        generate(path, args.pairs)
        start = time.perf_counter()
        summary = import_file(project, path)
        import_seconds = time.perf_counter() - start
    print(
        f"# import/export, {args.pairs} pairs, database {engine}, "
        f"{platform.machine()} {__import__('os').cpu_count()} cores"
    )
    print("\n| step | rows | seconds | rows/s | peak RSS MB |\n|---|---|---|---|---|")
    print(
        f"| import (pairs + judgements) | {summary.pairs_created} | {import_seconds:.1f} | "
        f"{summary.pairs_created / import_seconds:,.0f} pairs/s | {peak_rss_mb():.0f} |"
    )
    for fmt in ("trl", "hh", "judgements"):
        for file_type in ("jsonl", "parquet"):
            result = subprocess.run(
                [sys.executable, __file__, "--export-child", slug, fmt, file_type],
                capture_output=True,
                text=True,
                check=True,
                cwd=ROOT,
            )
            r = json.loads(result.stdout.strip().splitlines()[-1])
            print(
                f"| export {fmt} {file_type} | {r['rows']} | {r['seconds']:.1f} | "
                f"{r['rows'] / r['seconds']:,.0f} | {r['peak_rss_mb']:.0f} |"
            )
    if not args.keep:
        Project.objects.filter(pk=project.pk).delete()


if __name__ == "__main__":
    main()
