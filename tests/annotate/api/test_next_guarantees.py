"""The queue's guarantees hold on `judgement?next=1` as on `next` then `judgement`: gold
checks, pauses (gold and by hand), the random slice and adaptive overlap.

Each test runs on both paths and expects the same outcome of them.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotate.importing.pipeline import import_file
from annotate.judging import queue
from annotate.models import Assignment, Judgement, Membership, Pair, PairRank, Project, Role
from annotate.projects.members import set_member
from tests.factories import pair_rows, with_gold_checks, write_jsonl

pytestmark = pytest.mark.django_db

PATHS = ("one request", "two requests")


@dataclass(frozen=True)
class Outcome:
    """What the annotator sees after a judgement: the next pair (None: none) and any pause."""

    status: int  # the judgement's
    judgement: int
    next: dict[str, Any] | None
    paused: str  # "" when not paused


class Annotator:
    """An annotator's judging loop over the API, signed in with a token as the page's users
    are, on one of the two paths."""

    def __init__(self, user: User, project: Project, path: str) -> None:
        self.client = APIClient()
        self.client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
        self.project = project
        self.path = path

    def next(self, **body: Any) -> tuple[dict[str, Any] | None, str]:
        """`POST next`: the leased pair (None: nothing left) and the pause's reason."""
        response = self.client.post(f"/api/projects/{self.project.slug}/next", body, format="json")
        if response.status_code == 204:
            return None, ""
        if response.status_code == 403:
            assert response.json()["paused"] is True
            return None, response.json()["detail"]
        assert response.status_code == 200, response.content
        return response.json(), ""

    def judge(self, shown: dict[str, Any], vote: str, *, client_id: str = "") -> Outcome:
        """Judge the shown pair, `vote` in canonical terms ("a", "b"), and get the next one."""
        left_is_a = shown["left"]["text"] == Pair.objects.get(pk=shown["pair"]).response_a.text
        body = {
            "choice": "left" if (vote == "a") == left_is_a else "right",
            "client_id": client_id or str(uuid.uuid4()),
        }
        url = f"/api/assignments/{shown['assignment']}/judgement"
        if self.path == "one request":
            response = self.client.post(f"{url}?next=1", body, format="json")
            assert response.status_code in (200, 201), response.content
            answer = response.json()
            return Outcome(
                response.status_code, answer["judgement"], answer["next"], answer.get("paused", "")
            )
        response = self.client.post(url, body, format="json")
        assert response.status_code in (200, 201), response.content
        assert "next" not in response.json()
        following, paused = self.next()
        return Outcome(response.status_code, response.json()["judgement"], following, paused)


def _external_id(shown: dict[str, Any] | None) -> str | None:
    return None if shown is None else Pair.objects.get(pk=shown["pair"]).external_id


def _gold(shown: dict[str, Any]) -> str:
    return Pair.objects.get(pk=shown["pair"]).gold_label


def _member(name: str, project: Project) -> User:
    user = User.objects.create_user(name)
    set_member(project, username=name, role=Role.ANNOTATOR)
    return user


def _prioritise(project: Project, order: list[str]) -> None:
    """The model's order: the first external id highest."""
    for rank, external_id in enumerate(reversed(order)):
        PairRank.objects.filter(pair__project=project, pair__external_id=external_id).update(
            priority=float(rank)
        )


# ------------------------------------------------------------------------------- gold


@pytest.fixture
def checked(project: Project, tmp_path: Path) -> Project:
    """4 ordinary pending pairs and 3 gold pairs (labels a, b, a), gold served every time."""
    return with_gold_checks(project, tmp_path, 4)


@pytest.mark.parametrize("path", PATHS)
def test_the_next_pair_is_a_gold_check_never_one_shown_before(
    annotator: User, checked: Project, path: str
) -> None:
    # given a gold check shown and skipped, and another shown
    bob = Annotator(annotator, checked, path)
    skipped, _ = bob.next()
    assert skipped is not None and _gold(skipped)
    assert bob.client.post(f"/api/assignments/{skipped['assignment']}/skip").status_code == 200
    shown, _ = bob.next()
    assert shown is not None and _gold(shown)
    # when it is answered right
    answered = bob.judge(shown, _gold(shown))
    # then the next pair is the third gold check, blind: neither of the two shown
    third = answered.next
    assert third is not None and _gold(third) and answered.paused == ""
    assert third["pair"] not in (skipped["pair"], shown["pair"])
    assert "gold" not in str(third)
    lease = Assignment.objects.get(pk=third["assignment"])
    assert not lease.random_slice and lease.closed_at is None
    # when that is answered too, with every gold check seen
    after_gold = bob.judge(third, _gold(third))
    # then ordinary pairs follow, and no gold pair was leased twice
    assert after_gold.next is not None and not _gold(after_gold.next)
    leased = list(Assignment.objects.filter(annotator=annotator).values_list("pair_id", flat=True))
    assert len(leased) == len(set(leased)) == 4


# ------------------------------------------------------------------------------- pauses


@pytest.mark.parametrize("path", PATHS)
def test_failing_the_gold_checks_pauses_with_the_judgement_recorded_once(
    annotator: User, checked: Project, path: str
) -> None:
    # given two gold checks answered wrong
    bob = Annotator(annotator, checked, path)
    shown, _ = bob.next()
    for _ in range(2):
        assert shown is not None
        outcome = bob.judge(shown, "b" if _gold(shown) == "a" else "a")
        assert outcome.paused == ""
        shown = outcome.next
    assert shown is not None and _gold(shown)
    # when the third is answered wrong, and the answer lost and sent again
    wrong = "b" if _gold(shown) == "a" else "a"
    paused = bob.judge(shown, wrong, client_id="third-check")
    again = bob.judge(shown, wrong, client_id="third-check")
    # then no pair follows and the answer says why, as `next` does
    reason = Membership.objects.get(project=checked, user=annotator).paused_reason
    assert reason.startswith("Paused: 0 of 3 check questions right")
    assert (paused.status, paused.next, paused.paused) == (201, None, reason)
    assert (again.status, again.next, again.paused) == (200, None, reason)
    assert bob.next() == (None, reason)
    # and the judgement is stored once, with nothing leased after it
    assert again.judgement == paused.judgement
    assert Judgement.objects.filter(client_id="third-check").count() == 1
    assert Judgement.objects.filter(annotator=annotator).count() == 3
    assert Assignment.objects.filter(annotator=annotator).count() == 3


@pytest.fixture
def pending(project: Project, tmp_path: Path) -> Project:
    """The project with 4 pending pairs, q-3 first in the model's order."""
    import_file(project, write_jsonl(tmp_path / "p.jsonl", pair_rows(4, labelled=False)))
    _prioritise(project, ["q-3", "q-2", "q-1", "q-0"])
    return project


def _pause(admin: User, project: Project, user: User, reason: str) -> None:
    client = APIClient()
    client.force_authenticate(admin)
    url = f"/api/projects/{project.slug}/annotators/{user.pk}/pause"
    assert client.post(url, {"reason": reason}, format="json").status_code == 204


@pytest.mark.parametrize("path", PATHS)
def test_an_annotator_paused_by_an_admin_gets_no_new_pair(
    admin: User, annotator: User, pending: Project, path: str
) -> None:
    # given an annotator shown a pair, then paused by an admin
    bob = Annotator(annotator, pending, path)
    shown, _ = bob.next()
    assert shown is not None
    _pause(admin, pending, annotator, "check your work")
    # when they judge it
    outcome = bob.judge(shown, "a")
    # then it is recorded, nothing new is leased, and the answer says why
    assert (outcome.status, outcome.next, outcome.paused) == (201, None, "check your work")
    assert Judgement.objects.filter(annotator=annotator).count() == 1
    assert Assignment.objects.filter(annotator=annotator).count() == 1


@pytest.mark.parametrize("path", PATHS)
def test_a_paused_annotator_still_gets_the_pair_they_hold(
    admin: User, annotator: User, pending: Project, path: str
) -> None:
    # given an annotator shown q-3 with q-2 prefetched, then paused by an admin
    bob = Annotator(annotator, pending, path)
    shown, _ = bob.next()
    assert shown is not None
    prefetched, _ = bob.next(after=shown["assignment"])
    assert prefetched is not None
    _pause(admin, pending, annotator, "check your work")
    # when they judge q-3
    outcome = bob.judge(shown, "a")
    # then the pair they hold comes next (its lease still counts), and nothing new is leased
    assert _external_id(outcome.next) == "q-2"
    assert outcome.next is not None and outcome.next["assignment"] == prefetched["assignment"]
    assert outcome.paused == ""
    assert Assignment.objects.filter(annotator=annotator).count() == 2
    # and once that is judged, nothing follows
    last = bob.judge(outcome.next, "a")
    assert (last.next, last.paused) == (None, "check your work")


def test_a_former_member_is_not_shown_the_pair_they_held(annotator: User, pending: Project) -> None:
    # given an annotator shown q-3 with q-2 prefetched, then removed from the project
    bob = Annotator(annotator, pending, "one request")
    shown, _ = bob.next()
    assert shown is not None
    prefetched, _ = bob.next(after=shown["assignment"])
    assert prefetched is not None
    Membership.objects.filter(project=pending, user=annotator).delete()
    # then `next` has no pair for them
    url = f"/api/projects/{pending.slug}/next"
    assert bob.client.post(url, {"after": shown["assignment"]}, format="json").status_code == 404
    # when they judge q-3 and ask for the next pair in the same request
    outcome = bob.judge(shown, "a")
    # then the judgement of their lease stands, and no pair follows: not the one they held
    assert (outcome.status, outcome.next, outcome.paused) == (201, None, "")
    assert Judgement.objects.filter(annotator=annotator).count() == 1
    assert Assignment.objects.filter(annotator=annotator).count() == 2


# ------------------------------------------------------------------------------- random slice


@pytest.fixture
def modelled(project: Project, tmp_path: Path) -> Project:
    """8 pending pairs a model orders q-7 first (uncertainty acquisition)."""
    import_file(project, write_jsonl(tmp_path / "p.jsonl", pair_rows(8, labelled=False)))
    _prioritise(project, [f"q-{i}" for i in reversed(range(8))])
    Project.objects.filter(pk=project.pk).update(acquisition="uncertainty")
    project.refresh_from_db()
    return project


def _draws(monkeypatch: pytest.MonkeyPatch, in_slice: Iterator[bool]) -> None:
    """The random slice's draws, in order (True: this lease is in the slice)."""
    randbelow: Callable[[int], int] = queue.secrets.randbelow

    def draw(n: int) -> int:
        if n == 1_000_000:
            return 0 if next(in_slice) else n - 1
        return randbelow(n)

    monkeypatch.setattr(queue.secrets, "randbelow", draw)


def _set_share(project: Project, share: float) -> None:
    Project.objects.filter(pk=project.pk).update(random_slice_share=share)
    project.refresh_from_db()


def _judge_all(bob: Annotator, first: dict[str, Any] | None) -> list[Assignment]:
    """Judge until nothing is left; the leases in the order they were served."""
    served = []
    shown = first
    while shown is not None:
        served.append(Assignment.objects.select_related("pair").get(pk=shown["assignment"]))
        shown = bob.judge(shown, "a").next
    return served


@pytest.mark.parametrize("path", PATHS)
def test_the_random_slice_is_leased_at_its_share_in_random_order(
    annotator: User, modelled: Project, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given half the leases in the random slice (drawn alternately, starting in the slice)
    _set_share(modelled, 0.5)
    _draws(monkeypatch, itertools.cycle([True, False]))
    bob = Annotator(annotator, modelled, path)
    # when the annotator judges every pair
    first, _ = bob.next()
    served = _judge_all(bob, first)
    # then every other lease is marked as the slice's, and the slice's leases take the first
    # unseen pair in the random order, the others the model's best
    assert [lease.random_slice for lease in served] == [True, False] * 4
    by_tiebreak = list(
        Pair.objects.filter(project=modelled)
        .order_by("tiebreak", "pk")
        .values_list("pk", flat=True)
    )
    by_model = list(
        Pair.objects.filter(project=modelled)
        .order_by("-rank__priority", "pk")
        .values_list("pk", flat=True)
    )
    seen: set[int] = set()
    for lease in served:
        order = by_tiebreak if lease.random_slice else by_model
        assert lease.pair_id == next(pk for pk in order if pk not in seen)
        seen.add(lease.pair_id)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("share", [0.0, 1.0])
def test_a_share_of_none_or_all_leases_none_or_all_in_the_slice(
    annotator: User, modelled: Project, path: str, share: float
) -> None:
    # given the share at either end
    _set_share(modelled, share)
    bob = Annotator(annotator, modelled, path)
    # when the annotator judges every pair
    first, _ = bob.next()
    served = _judge_all(bob, first)
    # then none or all of the leases are the slice's
    assert len(served) == 8
    assert {lease.random_slice for lease in served} == {share == 1.0}


@pytest.mark.parametrize("path", PATHS)
def test_a_random_queue_marks_no_lease_as_the_slice(
    annotator: User, pending: Project, path: str
) -> None:
    # given a random queue, whose share does not apply
    _set_share(pending, 1.0)
    bob = Annotator(annotator, pending, path)
    # when the annotator judges every pair
    first, _ = bob.next()
    served = _judge_all(bob, first)
    # then no lease is marked as the slice's
    assert len(served) == 4 and not any(lease.random_slice for lease in served)


# ------------------------------------------------------------------------------- adaptive overlap


@pytest.mark.parametrize("path", PATHS)
def test_adaptive_overlap_leases_a_third_vote_only_where_the_first_two_disagree(
    annotator: User, second_annotator: User, project: Project, tmp_path: Path, path: str
) -> None:
    # given adaptive overlap (2 votes, up to 3 where they disagree) and pairs q-0, q-1, q-2
    # in that order, with dave and bob each shown q-0 first
    Project.objects.filter(pk=project.pk).update(judgements_per_pair=2, max_judgements_per_pair=3)
    project.refresh_from_db()
    import_file(project, write_jsonl(tmp_path / "p.jsonl", pair_rows(3, labelled=False)))
    _prioritise(project, ["q-0", "q-1", "q-2"])
    dave = Annotator(_member("dave", project), project, path)
    bob = Annotator(annotator, project, path)
    carol = Annotator(second_annotator, project, path)
    dave_shown, _ = dave.next()
    bob_shown, _ = bob.next()
    assert _external_id(dave_shown) == _external_id(bob_shown) == "q-0"
    # when carol (q-0 is full) votes a on q-1 and b on q-2
    carol_shown, _ = carol.next()
    assert _external_id(carol_shown) == "q-1"
    assert carol_shown is not None
    carol_next = carol.judge(carol_shown, "a").next
    assert _external_id(carol_next) == "q-2" and carol_next is not None
    # then nothing is left for her (q-0's two slots are held)
    assert carol.judge(carol_next, "b").next is None
    # when bob votes a on all three
    bob_next = bob.judge(bob_shown, "a").next  # type: ignore[arg-type]
    assert _external_id(bob_next) == "q-1" and bob_next is not None
    bob_next = bob.judge(bob_next, "a").next  # q-1 agrees: complete at 2 votes
    assert _external_id(bob_next) == "q-2" and bob_next is not None
    assert bob.judge(bob_next, "a").next is None  # q-2 disagrees: wants a third
    # and dave votes a on q-0, which completes it
    dave_next = dave.judge(dave_shown, "a").next  # type: ignore[arg-type]
    # then dave gets the pair that disagrees, never the one that agreed
    assert _external_id(dave_next) == "q-2" and dave_next is not None
    # and once q-2 has its third vote, nothing is left
    assert dave.judge(dave_next, "a").next is None
    votes = {p.external_id: (p.judgement_count, p.status) for p in Pair.objects.all()}
    assert votes == {"q-0": (2, "complete"), "q-1": (2, "complete"), "q-2": (3, "complete")}
    leases = Assignment.objects.filter(pair__external_id="q-1").count()
    assert leases == 2
