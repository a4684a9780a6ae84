"""Seconds per implied pair for an annotator, ranking against pairwise, on the replayed demo.

    VAR_DIR=/tmp/bench-var .venv/bin/python bench/shapes_pace.py [--k 4] [--prompts N]
        [--no-demo-pairs] [--wpm 238] [--decide-s 2.0] [--key-s 0.28] [--page-s 1.35]
        [--json results.json]

The demo's prompts with at least k distinct responses (annotate/demo/*.jsonl) are judged two
ways by one scripted annotator, each through the API exactly as the annotation page calls it
(`judgement?next=1`: record this page's judgement and lease the next):

- `ranking of k`: a ranking project; each prompt's first k responses are one item, one page,
  that answers k(k-1)/2 pairwise questions (6 for k = 4);
- `pairwise, same pairs`: a pairwise project holding every pair of those same responses, one
  page per pair;
- `pairwise, demo pairs` (unless --no-demo-pairs): the demo's own pairs as they were collected.

The annotator ranks longer answers first and ties answers of a similar length (150-character
buckets), and chooses in a pair by the same rule (the demo pairs: by their recorded label), so
both projects of the same pairs end with the same `trl` export; the bench checks that.

Two figures per page:

- **App time, measured**: wall and CPU time of each `judgement?next=1` request in this process
  (Django's test client, production settings, this box's database), the first lease excluded.
- **Annotator time, modelled, not measured from people.** The demo records no durations, so a
  page costs `page_s` (orienting, KLM's mental preparation M) + reading every text on it once
  at `wpm` words a minute (238: the mean adult silent reading rate for English non-fiction,
  Brysbaert 2019) + `decide_s` per binary comparison the decision needs at least (1 for a pair;
  ceil(log2 k!) to order k, 5 for k = 4) + `key_s` per keystroke (KLM's K for an average
  typist: one choice key for a pair; a number key per response, `=` per tie and Enter for a
  ranking). The model's decisive assumption is that a ranking page reads each response once,
  where pairwise pages read it again in every pair it is in; change the parameters to see how
  much of the gap survives. The modelled seconds are sent as each judgement's `duration_ms`, as
  the page sends the time it measured.

Prints a table and one JSON object (also written to --json). Projects and users are deleted
afterwards.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.django_setup import ROOT, setup  # noqa: E402

DEMO = ROOT / "annotate" / "demo"
BUCKET = 150  # characters: answers whose lengths fall in one bucket are tied


@dataclass(frozen=True)
class ThinkModel:
    """The modelled annotator's seconds per page (see the module's docstring)."""

    wpm: float = 238.0
    decide_s: float = 2.0
    key_s: float = 0.28
    page_s: float = 1.35

    def seconds(self, texts: list[str], comparisons: int, keys: int) -> float:
        words = sum(len(text.split()) for text in texts)
        reading = 60.0 * words / self.wpm
        return self.page_s + reading + self.decide_s * comparisons + self.key_s * keys


def comparisons_to_order(k: int) -> int:
    """The fewest binary comparisons that can fix an order of k: ceil(log2 k!)."""
    return math.ceil(math.log2(math.factorial(k)))


def demo_records() -> list[dict[str, Any]]:
    records = []
    for part in ("labelled", "pending"):
        lines = (DEMO / f"pandalm-{part}.jsonl").read_text(encoding="utf-8").splitlines()
        records += [json.loads(line) for line in lines]
    return records


def demo_items(k: int, prompts: int | None = None) -> list[tuple[str, list[str]]]:
    """(prompt, its first k distinct responses) for the demo's prompts with at least k."""
    answers: dict[str, list[str]] = {}
    for record in demo_records():
        texts = answers.setdefault(record["prompt"], [])
        for text in (record["response_a"], record["response_b"]):
            if text not in texts:
                texts.append(text)
    items = [(prompt, texts[:k]) for prompt, texts in answers.items() if len(texts) >= k]
    return items[:prompts] if prompts is not None else items


def _bucket(text: str) -> int:
    return len(text) // BUCKET


def rank(responses: list[dict[str, Any]]) -> list[list[int]]:
    """The scripted ranking: longer answers first, answers in one length bucket tied."""
    groups: dict[int, list[int]] = {}
    for response in responses:
        groups.setdefault(_bucket(response["text"]), []).append(response["id"])
    return [groups[b] for b in sorted(groups, reverse=True)]


def choose(left: str, right: str) -> str:
    """The scripted pairwise choice, by the same rule as `rank`."""
    a, b = _bucket(left), _bucket(right)
    return "tie" if a == b else ("left" if a > b else "right")


@dataclass
class Shape:
    """One replay: its name, rows to import, and how the annotator answers a lease."""

    name: str
    comparison: str
    rows: list[dict[str, Any]]
    answer: Callable[[dict[str, Any]], tuple[dict[str, Any], list[str], int, int, int]]


def _ranking_answer(
    lease: dict[str, Any], model: ThinkModel
) -> tuple[dict[str, Any], list[str], int, int, int]:
    ranking = rank(lease["responses"])
    k = len(lease["responses"])
    ties = sum(len(group) - 1 for group in ranking)
    texts = [lease["prompt"][-1]["content"], *(r["text"] for r in lease["responses"])]
    return {"ranking": ranking}, texts, math.comb(k, 2), comparisons_to_order(k), k + ties + 1


def _pairwise_answer(
    lease: dict[str, Any], labels: dict[tuple[str, str, str], str] | None = None
) -> tuple[dict[str, Any], list[str], int, int, int]:
    """By length (`choose`), or with `labels` by the pair's recorded label (a, b or tie)."""
    prompt = lease["prompt"][-1]["content"]
    left, right = lease["left"]["text"], lease["right"]["text"]
    choice = choose(left, right)
    if labels is not None:
        if (prompt, left, right) in labels:  # shown as imported: left is a
            choice = {"a": "left", "b": "right"}.get(labels[prompt, left, right], "tie")
        else:  # shown swapped: left is b
            choice = {"a": "right", "b": "left"}.get(labels[prompt, right, left], "tie")
    return {"choice": choice}, [prompt, left, right], 1, 1, 1


def shapes(k: int, prompts: int | None, demo_pairs: bool, model: ThinkModel) -> list[Shape]:
    items = demo_items(k, prompts)
    ranking_rows = [{"prompt": prompt, "responses": texts} for prompt, texts in items]
    same_pairs = [
        {"id": f"p{n}-{i}-{j}", "prompt": prompt, "response_a": texts[i], "response_b": texts[j]}
        for n, (prompt, texts) in enumerate(items)
        for i, j in combinations(range(len(texts)), 2)
    ]
    found = [
        Shape(
            f"ranking of {k}", "ranking", ranking_rows, lambda lease: _ranking_answer(lease, model)
        ),
        Shape("pairwise, same pairs", "pairwise", same_pairs, _pairwise_answer),
    ]
    if demo_pairs:
        records = demo_records()[: None if prompts is None else 2 * prompts]
        labels: dict[tuple[str, str, str], str] = {}
        for r in records:  # a pair the demo repeats keeps its first record's label, as imported
            labels.setdefault((r["prompt"], r["response_a"], r["response_b"]), r["label"])
        fields = ("id", "prompt", "response_a", "response_b")
        rows = [{name: r[name] for name in fields} for r in records]
        found.append(
            Shape(
                "pairwise, demo pairs",
                "pairwise",
                rows,
                lambda lease: _pairwise_answer(lease, labels),
            )
        )
    return found


def replay(shape: Shape, model: ThinkModel, stamp: str) -> dict[str, Any]:
    """Import the shape's rows into a fresh project and judge every page through the API."""
    from django.contrib.auth import get_user_model
    from rest_framework.test import APIClient

    from annotate.exporting.datasets import export_rows
    from annotate.importing.pipeline import import_file
    from annotate.models import Membership, Role
    from annotate.projects.lifecycle import create_project

    slug = f"bench-pace-{shape.comparison}-{len(shape.rows)}-{stamp}"
    options: dict[str, Any] = {"comparison": shape.comparison}
    if shape.comparison == "ranking":
        options["max_ranked"] = max(len(r["responses"]) for r in shape.rows)
    project = create_project(slug=slug, **options)
    user = get_user_model().objects.create_user(slug)
    try:
        Membership.objects.create(project=project, user=user, role=Role.ANNOTATOR)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "rows.jsonl"
            path.write_text("".join(json.dumps(r) + "\n" for r in shape.rows), encoding="utf-8")
            import_file(project, path, labels="ignore")
        client = APIClient()
        client.force_authenticate(user)
        lease = client.post(f"/api/projects/{slug}/next", secure=True).json()
        walls: list[float] = []
        cpus: list[float] = []
        pages = pairs = 0
        modelled = 0.0
        while lease:
            body, texts, implied, comparisons, keys = shape.answer(lease)
            seconds = model.seconds(texts, comparisons, keys)
            body |= {"client_id": f"pace-{pages}", "duration_ms": round(1000 * seconds)}
            url = f"/api/assignments/{lease['assignment']}/judgement?next=1"
            wall, cpu = time.perf_counter(), time.process_time()
            response = client.post(url, body, format="json", secure=True)
            walls.append(1000 * (time.perf_counter() - wall))
            cpus.append(1000 * (time.process_time() - cpu))
            assert response.status_code == 201, (response.status_code, response.content[:300])
            lease = response.json()["next"]
            pages += 1
            pairs += implied
            modelled += seconds
        rows, _ = export_rows(project, fmt="trl")
        trl = Counter((r["prompt"], r["chosen"], r["rejected"]) for r in rows)
        return {
            "shape": shape.name,
            "pages": pages,
            "implied_pairs": pairs,
            "app_ms_per_page": sum(walls) / max(pages, 1),
            "app_cpu_ms_per_page": sum(cpus) / max(pages, 1),
            "app_ms_p50": statistics.median(walls) if walls else 0.0,
            "app_ms_per_pair": sum(walls) / max(pairs, 1),
            "annotator_s_per_page": modelled / max(pages, 1),
            "annotator_s_per_pair": modelled / max(pairs, 1),
            "trl_rows": sum(trl.values()),
            "_trl": trl,
        }
    finally:
        project.delete()
        user.delete()


def measure(
    k: int = 4,
    prompts: int | None = None,
    demo_pairs: bool = True,
    model: ThinkModel | None = None,
) -> dict[str, Any]:
    """Replay every shape; the rows of the table, the model, and whether the two projects of
    the same pairs export the same `trl` pairs."""
    model = model or ThinkModel()
    stamp = str(int(time.time() * 1000))
    rows = [replay(shape, model, stamp) for shape in shapes(k, prompts, demo_pairs, model)]
    same = rows[0].pop("_trl") == rows[1].pop("_trl")
    for row in rows[2:]:
        row.pop("_trl")
    return {"k": k, "model": asdict(model), "same_trl_export": same, "rows": rows}


def table(result: dict[str, Any]) -> str:
    head = (
        "| shape | pages | implied pairs | decisive (trl) | app ms/page (CPU) "
        "| app ms/implied pair | modelled annotator s/page | modelled annotator s/implied pair |"
    )
    lines = [head, "|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        lines.append(
            f"| {r['shape']} | {r['pages']} | {r['implied_pairs']} | {r['trl_rows']} "
            f"| {r['app_ms_per_page']:.1f} ({r['app_cpu_ms_per_page']:.1f}) "
            f"| {r['app_ms_per_pair']:.1f} | {r['annotator_s_per_page']:.1f} "
            f"| {r['annotator_s_per_pair']:.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, default=4, help="responses per ranking (3..8)")
    parser.add_argument("--prompts", type=int, help="only the first N prompts with k responses")
    parser.add_argument("--no-demo-pairs", action="store_true")
    defaults = ThinkModel()
    for field in ("wpm", "decide_s", "key_s", "page_s"):
        flag = "--" + field.replace("_", "-")
        parser.add_argument(flag, type=float, default=getattr(defaults, field), dest=field)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    setup()
    from django.conf import settings

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    model = ThinkModel(args.wpm, args.decide_s, args.key_s, args.page_s)
    result = measure(args.k, args.prompts, not args.no_demo_pairs, model)
    print(table(result))
    print(f"same trl export from the ranking and the pairwise pages: {result['same_trl_export']}")
    print(json.dumps(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
