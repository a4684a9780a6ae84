"""Judges steer the humans: fewer votes where they all agree (with an audit share), and the
pairs where they disagree served first. Real judging server on loopback, real queue."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User

from annotate.judging.queue import lease_next_pair
from annotate.judging.recording import record_judgement
from annotate.models import Acquisition, Pair, PairStatus, Project
from annotate.quality.judges import in_audit
from annotate.quality.report import quality_report
from tests.factories import make_pairs
from tests.generation import test_judges
from tests.generation.test_judges import judge_server, judged

NUMBER = re.compile(r"q (\d+)")


def contrary(first: str, second: str) -> str:
    """Prefers the longer answer on odd-numbered questions, the shorter on even ones."""
    odd = int(NUMBER.findall(first)[0]) % 2 == 1
    longer_first = len(first) > len(second)
    return "[[A]]" if longer_first == odd else "[[B]]"


def shown(lease: Any, choice: str) -> str:
    """The side the annotator clicks for a canonical choice."""
    return "left" if (choice == "a") == lease.left_is_a else "right"


@pytest.fixture(autouse=True)
def _loopback_allowed(settings: Any) -> None:
    settings.OUTBOUND_HOSTS = ["127.0.0.1"]


@pytest.fixture
def url(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setitem(test_judges.JUDGES, "contrary", contrary)
    with judge_server() as (root, _):
        yield root


@pytest.mark.django_db
def test_pairs_the_judges_agree_on_need_fewer_votes_except_the_audit_share(
    project: Project, tmp_path: Path, url: str, annotator: User, second_annotator: User
) -> None:
    # given a project that wants 3 votes a pair, 1 where the judges agree, auditing half
    Project.objects.filter(pk=project.pk).update(
        judgements_per_pair=3, judge_settled_votes=1, judge_audit_share=0.5
    )
    project.refresh_from_db()
    make_pairs(project, tmp_path, 16, labelled=False)
    # when a consistent judge votes on every pair
    judged(project, url, "longer")
    # then the pairs outside the audit share need one vote, the audited ones all three
    pairs = list(Pair.objects.filter(project=project))
    audited = {p.pk for p in pairs if in_audit(p.pk, 0.5)}
    assert 0 < len(audited) < len(pairs)
    assert {p.pk for p in pairs if p.min_votes == 1} == {p.pk for p in pairs} - audited
    assert {p.pk for p in pairs if p.min_votes is None} == audited
    # and one human vote completes a shortcut pair, never an audited one
    for _ in range(len(pairs)):
        lease = lease_next_pair(annotator, project)
        assert lease is not None
        record_judgement(
            lease.pk, annotator, choice=shown(lease, "b"), client_id=f"c{lease.pair_id}"
        )
    statuses = dict(Pair.objects.filter(project=project).values_list("pk", "status"))
    assert {pk for pk, s in statuses.items() if s == PairStatus.COMPLETE} == set(statuses) - audited
    # and the quality page reports the shortcut and, once humans judged them, its audit error
    for _ in audited:
        lease = lease_next_pair(second_annotator, project)
        assert lease is not None
        choice = "a" if lease.pair_id == min(audited) else "b"
        record_judgement(
            lease.pk, second_annotator, choice=shown(lease, choice), client_id=f"d{lease.pair_id}"
        )
    shortcut = quality_report(project)["judge_shortcut"]
    assert shortcut["enabled"] and shortcut["shortcut_pairs"] == len(pairs) - len(audited)
    assert shortcut["audit_pairs"] == len(audited)
    # (a 1-1 split on min(audited) has no majority; every other audited pair agrees with b)
    assert shortcut["audit_error"]["k"] == 0
    assert shortcut["audit_error"]["n"] == len(audited) - 1


@pytest.mark.django_db
def test_an_inconsistent_judge_settles_nothing(project: Project, tmp_path: Path, url: str) -> None:
    Project.objects.filter(pk=project.pk).update(judgements_per_pair=3, judge_settled_votes=1)
    make_pairs(project, tmp_path, 6, labelled=False)
    judged(project, url, "longer")
    judged(project, url, "first")  # always [[A]]: never consistent, so no shortcut at all
    assert not Pair.objects.filter(project=project, min_votes__isnull=False).exists()


@pytest.mark.django_db
def test_the_judges_acquisition_serves_pairs_they_disagree_on_first(
    project: Project, tmp_path: Path, url: str, annotator: User
) -> None:
    # given two judges that agree on odd-numbered questions and disagree on even ones
    Project.objects.filter(pk=project.pk).update(acquisition=Acquisition.JUDGES)
    make_pairs(project, tmp_path, 8, labelled=False)
    judged(project, url, "longer")
    judged(project, url, "contrary")
    # then the pairs they disagree on rank above the others
    pairs = Pair.objects.filter(project=project).select_related("response_a", "rank")
    number = {p.pk: int(NUMBER.findall(p.response_a.text)[0]) for p in pairs}
    priority = {p.pk: p.rank.priority for p in pairs}
    even = [priority[pk] for pk, n in number.items() if n % 2 == 0]
    odd = [priority[pk] for pk, n in number.items() if n % 2 == 1]
    assert min(even) > max(odd)
    # and the queue serves one of them first
    lease = lease_next_pair(annotator, project)
    assert lease is not None and number[lease.pair_id] % 2 == 0


def test_disagreement_adds_the_judges_split_their_flips_and_the_gap_to_the_model() -> None:
    import numpy as np

    from rewards.ml.acquisition import judge_disagreement

    counts = np.array([[2, 0, 0], [1, 1, 0], [0, 0, 0], [2, 0, 0]])
    flipped = np.array([0.0, 0.0, 0.5, 0.0])
    model = np.array([np.nan, np.nan, 0.9, 0.1])
    scores = judge_disagreement(counts, flipped, model)
    # agreed, no model: 0; split 1-1: 0.5; no votes but half flipped: 0.5; agreed on a, model
    # says b: 0.9
    assert scores.tolist() == pytest.approx([0.0, 0.5, 0.5, 0.9])
