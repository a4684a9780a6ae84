"""Gold rankings and gold per criterion: imported with `--labels gold`, served as checks,
counted in the annotator's record (and pausing them); and a ranking item's adaptive overlap."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User

from annotate.formats import ImportFormatError
from annotate.importing.pipeline import import_file
from annotate.judging.gold import gold_record, gold_records, ranking_right
from annotate.judging.overlap import settle, settle_from_votes
from annotate.models import Judgement, Pair, PairStatus, Project
from annotate.projects.members import set_member
from tests.conftest import client_for
from tests.factories import item_response_ids, make_pairs, make_project, write_jsonl

pytestmark = pytest.mark.django_db

HELPFUL = {"name": "helpful", "guidance": "", "required": False}
# Gold over four responses: the first best, the middle two tied, the last worst.
GOLD = [[0], [1, 2], [3]]


def _texts(prompt: str, n: int = 4) -> list[str]:
    return [f"{prompt} answer {i}" for i in range(n)]


def _gold_row(prompt: str, ranking: Any = GOLD, n: int = 4, **extra: Any) -> dict[str, Any]:
    return {"prompt": prompt, "responses": _texts(prompt, n), "ranking": ranking, **extra}


def _project(tmp_path: Path, *users: User, gold: list[dict[str, Any]], **options: Any) -> Project:
    """A ranking project of two ordinary items and the given gold rows, gold served first."""
    project = make_project(
        "ranked",
        comparison="ranking",
        max_ranked=4,
        gold_rate=1.0,
        gold_min_answers=2,
        gold_min_accuracy=0.7,
        **options,
    )
    for user in users:
        set_member(project, username=user.username, role="annotator")
    plain = [{"prompt": f"plain {i}?", "responses": _texts(f"plain {i}")} for i in range(2)]
    import_file(project, write_jsonl(tmp_path / "plain.jsonl", plain))
    import_file(project, write_jsonl(tmp_path / "gold.jsonl", gold), labels="gold")
    return project


def _rank(user: User, project: Project, order: list[list[int]], **criteria: Any) -> Any:
    """Lease the next item and rank it by positions in its import order (criteria likewise)."""
    client = client_for(user)
    lease = client.post(f"/api/projects/{project.slug}/next", {}, format="json")
    if lease.status_code != 200:
        return lease
    body = lease.json()
    ids = item_response_ids(Pair.objects.get(pk=body["pair"]))

    def in_ids(groups: list[list[int]]) -> list[list[int]]:
        return [[ids[i] for i in group] for group in groups]

    payload: dict[str, Any] = {"ranking": in_ids(order), "client_id": str(uuid.uuid4())}
    if criteria:
        payload["criteria"] = {name: in_ids(vote) for name, vote in criteria.items()}
    judged = client.post(f"/api/assignments/{body['assignment']}/judgement", payload, format="json")
    assert judged.status_code == 201, judged.json()
    return Pair.objects.get(pk=body["pair"])


# ---------------------------------------------------------------- the rule


@pytest.mark.parametrize(
    ("given", "right"),
    [
        ([[0], [1, 2], [3]], True),  # the gold itself
        ([[0], [2], [1], [3]], True),  # a gold tie broken either way
        ([[0], [1], [2], [3]], True),
        ([[1], [0], [2], [3]], False),  # two responses the gold orders, swapped
        ([[0, 1], [2], [3]], False),  # or tied
        ([[3], [2], [1], [0]], False),
        ([[0], [1, 2]], False),  # a response left out
    ],
)
def test_a_ranking_is_right_when_it_orders_every_pair_the_gold_orders(
    given: list[list[int]], right: bool
) -> None:
    assert ranking_right(given, GOLD) is right


# ---------------------------------------------------------------- import


def test_gold_rankings_import_as_hidden_gold_in_each_items_ids(
    tmp_path: Path, annotator: User
) -> None:
    # when
    project = _project(
        tmp_path, annotator, gold=[_gold_row("g0"), _gold_row("g1", [[3], [0, 1, 2]])]
    )
    # then: the gold items hold the rankings in response ids, and no vote was made
    first, second = Pair.objects.exclude(gold_label="").order_by("pk")
    ids = item_response_ids(first)
    assert first.gold_ranking == [[ids[0]], sorted([ids[1], ids[2]]), [ids[3]]]
    assert first.gold_label == "a"  # what it says of the item's a (first) and b (second)
    assert second.gold_label == "tie"
    assert Judgement.objects.count() == 0
    assert (
        Pair.objects.filter(project=project, gold_label="", gold_ranking__isnull=True).count() == 2
    )


def test_a_prompt_split_into_items_gives_each_item_its_part_of_the_gold(
    tmp_path: Path, annotator: User
) -> None:
    # given six responses ranked four at a time (items 0-3 and 2-5); the gold ties 0-3
    row = _gold_row("g", [[0, 1, 2, 3], [4], [5]], n=6)
    project = _project(tmp_path, annotator, gold=[row])
    # then the first item, all tied, is no check; the second is
    items = list(
        Pair.objects.filter(project=project, prompt__messages__0__content="g").order_by("pk")
    )
    assert [bool(p.gold_label) for p in items] == [False, True]
    ids = item_response_ids(items[1])
    assert items[1].gold_ranking == [sorted(ids[:2]), [ids[2]], [ids[3]]]


def test_gold_per_criterion_imports_beside_the_gold_ranking(
    tmp_path: Path, annotator: User
) -> None:
    row = _gold_row("g", criteria={"helpful": [[3], [0, 1, 2]]})
    _project(tmp_path, annotator, gold=[row], criteria=[HELPFUL])
    pair = Pair.objects.exclude(gold_label="").get()
    ids = item_response_ids(pair)
    assert pair.gold_criteria == {"helpful": [[ids[3]], sorted(ids[:3])]}


@pytest.mark.parametrize(
    ("row", "field", "message"),
    [
        (_gold_row("g", [[0, 1, 2, 3]]), "ranking", "not all tied"),
        (_gold_row("g", [[0], [1]]), "ranking", "leaves out"),
        (_gold_row("g", criteria={"honest": [[0], [1, 2, 3]]}), "criteria", "'honest' is not"),
        (
            {**_gold_row("g", criteria={"helpful": [[0], [1, 2, 3]]}), "ranking": None},
            "ranking",
            "",
        ),
    ],
)
def test_a_bad_gold_row_is_refused_naming_the_field(
    tmp_path: Path, row: dict[str, Any], field: str, message: str
) -> None:
    project = make_project("ranked", comparison="ranking", max_ranked=4, criteria=[HELPFUL])
    with pytest.raises(ImportFormatError) as caught:
        import_file(project, write_jsonl(tmp_path / "g.jsonl", [row]), labels="gold")
    assert [(e.line, e.field) for e in caught.value.errors] == [(1, field)]
    assert message in caught.value.errors[0].message
    assert Pair.objects.count() == 0


def test_rows_giving_one_item_different_gold_are_a_conflict_and_nothing_is_imported(
    tmp_path: Path,
) -> None:
    # given lines 1 and 3 the same item with different gold; line 2 another
    project = make_project("ranked", comparison="ranking", max_ranked=4)
    rows = [_gold_row("g"), _gold_row("h"), _gold_row("g", [[3], [0, 1, 2]])]
    # when
    with pytest.raises(ImportFormatError) as caught:
        import_file(project, write_jsonl(tmp_path / "g.jsonl", rows), labels="gold")
    # then
    assert [(e.line, e.field) for e in caught.value.errors] == [(3, "ranking")]
    assert "line 1 gives this item another gold" in str(caught.value)
    assert Pair.objects.count() == 0


def test_an_items_gold_is_never_silently_replaced(tmp_path: Path) -> None:
    # given items with gold
    project = make_project("ranked", comparison="ranking", max_ranked=4, criteria=[HELPFUL])
    first = [_gold_row("g", criteria={"helpful": [[0], [1, 2, 3]]}), _gold_row("h")]
    import_file(project, write_jsonl(tmp_path / "a.jsonl", first), labels="gold")
    before = list(Pair.objects.order_by("pk").values_list("gold_ranking", "gold_criteria"))
    # when the same gold comes again, it is no conflict
    import_file(project, write_jsonl(tmp_path / "b.jsonl", first), labels="gold")
    # but other gold for them is, each line counted, and nothing changes
    other = [
        _gold_row("g", criteria={"helpful": [[3], [0, 1, 2]]}),
        _gold_row("h", [[1], [0, 2], [3]]),
    ]
    with pytest.raises(ImportFormatError) as caught:
        import_file(project, write_jsonl(tmp_path / "c.jsonl", other), labels="gold")
    assert [(e.line, e.field) for e in caught.value.errors] == [(1, "criteria"), (2, "ranking")]
    assert caught.value.total == 2
    assert list(Pair.objects.order_by("pk").values_list("gold_ranking", "gold_criteria")) == before


def test_a_criterion_gold_missing_before_is_added(tmp_path: Path) -> None:
    project = make_project("ranked", comparison="ranking", max_ranked=4, criteria=[HELPFUL])
    import_file(project, write_jsonl(tmp_path / "a.jsonl", [_gold_row("g")]), labels="gold")
    row = _gold_row("g", criteria={"helpful": [[1], [0, 2, 3]]})
    import_file(project, write_jsonl(tmp_path / "b.jsonl", [row]), labels="gold")
    pair = Pair.objects.get()
    ids = item_response_ids(pair)
    assert pair.gold_criteria == {"helpful": [[ids[1]], sorted([ids[0], ids[2], ids[3]])]}


def test_ranked_rows_bring_criteria_votes_or_nothing_when_labels_are_ignored(
    tmp_path: Path,
) -> None:
    project = make_project("ranked", comparison="ranking", max_ranked=4, criteria=[HELPFUL])
    row = _gold_row("g", annotator="ann", criteria={"helpful": [[3], [2], [1], [0]]})
    import_file(project, write_jsonl(tmp_path / "i.jsonl", [row]), labels="ignore")
    assert (Pair.objects.count(), Judgement.objects.count()) == (1, 0)
    import_file(project, write_jsonl(tmp_path / "v.jsonl", [row]))
    ids = item_response_ids(Pair.objects.get())
    assert Judgement.objects.get().criteria == {"helpful": [[i] for i in ids[::-1]]}


# ---------------------------------------------------------------- checks and pauses


def test_an_annotator_who_misorders_gold_rankings_is_paused(
    tmp_path: Path, annotator: User, second_annotator: User
) -> None:
    # given two gold items, served first
    project = _project(
        tmp_path, annotator, second_annotator, gold=[_gold_row("g0"), _gold_row("g1")]
    )
    # when one annotator ranks the item's a above its b, as the gold does, but swaps the last
    # two responses, which the gold orders
    served = [_rank(annotator, project, [[0], [1], [3], [2]]) for _ in range(2)]
    # then both were the gold items, both count wrong, and the next lease is refused
    assert all(p.gold_ranking for p in served) and len({p.pk for p in served}) == 2
    assert gold_record(annotator.pk, project) == (0, 2)
    refused = _rank(annotator, project, [[0], [1], [2], [3]])
    assert refused.status_code == 403
    assert "0 of 2 check questions right" in refused.json()["detail"]
    # and one who breaks the gold's tie their own way is right, and carries on to plain items
    for _ in range(2):
        _rank(second_annotator, project, [[0], [2], [1], [3]])
    assert gold_record(second_annotator.pk, project) == (2, 2)
    assert not _rank(second_annotator, project, [[0], [1], [2], [3]]).gold_label


def test_gold_per_criterion_counts_in_the_record(
    tmp_path: Path, annotator: User, second_annotator: User
) -> None:
    # given a gold item whose gold for helpful puts the last response first
    row = _gold_row("g", criteria={"helpful": [[3], [0, 1, 2]]})
    project = _project(tmp_path, annotator, second_annotator, gold=[row], criteria=[HELPFUL])
    # when one annotator ranks overall right but helpful wrong, the other leaves helpful out
    _rank(annotator, project, [[0], [1], [2], [3]], helpful=[[0], [1], [2], [3]])
    _rank(second_annotator, project, [[0], [1], [2], [3]])
    # then each vote with a gold is one check question
    assert gold_record(annotator.pk, project) == (1, 2)
    assert gold_record(second_annotator.pk, project) == (1, 1)
    assert gold_records(project) == {annotator.pk: (1, 2), second_annotator.pk: (1, 1)}
    # and a reviewer's invalidating the criterion's vote takes its question away
    Judgement.objects.filter(annotator=annotator).update(invalid_criteria=["helpful"])
    assert gold_record(annotator.pk, project) == (1, 1)


def test_the_record_costs_the_same_two_queries_whatever_the_shape(
    tmp_path: Path, annotator: User, django_assert_num_queries: Any
) -> None:
    plain = make_project("plain")
    make_pairs(plain, tmp_path, 2, labels="gold")
    ranked = _project(tmp_path, annotator, gold=[_gold_row("g")], criteria=[HELPFUL])
    _rank(annotator, ranked, [[0], [1], [2], [3]])
    for project in (plain, ranked):
        with django_assert_num_queries(2):
            gold_record(annotator.pk, project)


# ---------------------------------------------------------------- adaptive overlap


def _ranked_item(tmp_path: Path, **options: Any) -> tuple[Project, Pair, list[int]]:
    project = make_project("overlap", comparison="ranking", max_ranked=4, **options)
    row = {"prompt": "p?", "responses": _texts("p")}
    import_file(project, write_jsonl(tmp_path / "p.jsonl", [row]))
    pair = Pair.objects.get(project=project)
    return project, pair, item_response_ids(pair)


def _votes(pair: Pair, rankings: list[list[list[int]]], ids: list[int]) -> None:
    """Each ranking (positions in item order) as a vote of its own annotator."""
    for n, order in enumerate(rankings):
        user = User.objects.create_user(f"rater{n}")
        ranking = [sorted(ids[i] for i in group) for group in order]
        place = {rid: i for i, group in enumerate(ranking) for rid in group}
        a, b = place[pair.response_a_id], place[pair.response_b_id]
        choice = "tie" if a == b else "a" if a < b else "b"
        Judgement.objects.create(pair=pair, annotator=user, choice=choice, ranking=ranking)


@pytest.mark.parametrize(
    ("rankings", "status", "extra"),
    [
        # the same ranking twice: done at the minimum
        ([[[0], [1], [2], [3]]] * 2, PairStatus.COMPLETE, 0),
        # the same a/b (0 above 1) but 2 and 3 swapped: one more vote wanted
        ([[[0], [1], [2], [3]], [[0], [1], [3], [2]]], PairStatus.PENDING, 1),
        # a tie against an order is a disagreement too
        ([[[0], [1], [2], [3]], [[0], [1], [2, 3]]], PairStatus.PENDING, 1),
        # at the maximum it is done whatever they say
        ([[[0], [1], [2], [3]], [[0], [1], [3], [2]], [[0], [2], [1], [3]]], "complete", 1),
    ],
)
def test_a_ranking_item_settles_on_the_agreement_of_its_implied_pairs(
    tmp_path: Path, rankings: list[list[list[int]]], status: str, extra: int
) -> None:
    project, pair, ids = _ranked_item(tmp_path, judgements_per_pair=2, max_judgements_per_pair=3)
    _votes(pair, rankings, ids)
    settle_from_votes(pair, project)
    assert (pair.judgement_count, pair.status, pair.extra_judgements) == (
        len(rankings),
        status,
        extra,
    )


def test_plain_choices_settle_as_before(tmp_path: Path) -> None:
    project, pair, _ = _ranked_item(tmp_path, judgements_per_pair=2, max_judgements_per_pair=3)
    settle(pair, project, ["a", "a"])
    assert pair.status == PairStatus.COMPLETE
    settle(pair, project, ["a", "b"])
    assert (pair.status, pair.extra_judgements) == (PairStatus.PENDING, 1)


def test_unanimous_rankings_become_the_items_gold_ranking(tmp_path: Path) -> None:
    # given three votes that agree on the item's a/b but not on the rest
    project, pair, ids = _ranked_item(tmp_path, judgements_per_pair=3, gold_from_unanimous=True)
    _votes(pair, [[[0], [1], [2], [3]]] * 2 + [[[0], [1], [3], [2]]], ids)
    settle_from_votes(pair, project)
    # then the item is done but no gold
    assert (pair.status, pair.gold_label, pair.gold_ranking) == (PairStatus.COMPLETE, "", None)
    # when the third vote is the same ranking as the others
    Judgement.objects.filter(annotator__username="rater2").update(
        ranking=[[ids[0]], [ids[1]], [ids[2]], [ids[3]]]
    )
    settle_from_votes(pair, project)
    # then that ranking is its gold
    assert (pair.gold_label, pair.gold_ranking) == ("a", [[ids[0]], [ids[1]], [ids[2]], [ids[3]]])


def test_through_the_api_a_ranking_item_wants_another_vote_while_its_rankings_differ(
    tmp_path: Path, annotator: User, second_annotator: User, admin: User
) -> None:
    # given one item, two votes wanted, three at most
    project, item, _ = _ranked_item(tmp_path, judgements_per_pair=2, max_judgements_per_pair=3)
    for user in (annotator, second_annotator, admin):
        set_member(project, username=user.username, role="annotator")
    # when two annotators agree on the item's a/b but swap the last two responses
    _rank(annotator, project, [[0], [1], [2], [3]])
    _rank(second_annotator, project, [[0], [1], [3], [2]])
    # then the item wants a third vote
    item.refresh_from_db()
    assert (item.status, item.extra_judgements) == (PairStatus.PENDING, 1)
    assert _rank(admin, project, [[0], [1], [2], [3]]).pk == item.pk
    item.refresh_from_db()
    assert item.status == PairStatus.COMPLETE


# ---------------------------------------------------------------- gold set in review


def test_review_sets_a_gold_ranking_and_gold_per_criterion_and_clears_them(
    tmp_path: Path, admin: User
) -> None:
    # given an ordinary ranking item in a project with a criterion
    project, item, ids = _ranked_item(tmp_path, criteria=[HELPFUL])
    set_member(project, username=admin.username, role="admin")
    url = f"/api/projects/{project.slug}/pairs/{item.pk}/gold"
    client = client_for(admin)
    # when the admin gives it a gold ranking with ties and a gold ranking for the criterion
    gold = [[ids[3]], [ids[0], ids[2]], [ids[1]]]
    helpful = [[ids[0]], [ids[1]], [ids[2]], [ids[3]]]
    answer = client.put(
        url, {"label": "", "ranking": gold, "criteria": {"helpful": helpful}}, format="json"
    )
    # then the item is gold: its label is what the ranking says of a against b
    assert answer.status_code == 200, answer.json()
    item.refresh_from_db()
    assert item.gold_ranking == [[ids[3]], sorted([ids[0], ids[2]]), [ids[1]]]
    assert item.gold_criteria == {"helpful": helpful}
    place = {rid: n for n, group in enumerate(gold) for rid in group}
    assert item.gold_label == (
        "a" if place[item.response_a_id] < place[item.response_b_id] else "b"
    )
    assert answer.json()["gold_ranking"] == item.gold_ranking
    # and bad gold is a 400 naming the field, changing nothing
    repeated = client.put(url, {"label": "", "ranking": [[ids[0]], [ids[0]]]}, format="json")
    assert repeated.status_code == 400 and "ranking" in repeated.json()
    unknown = client.put(url, {"label": "a", "criteria": {"safe": "a"}}, format="json")
    assert unknown.status_code == 400 and "criteria" in unknown.json()
    item.refresh_from_db()
    assert item.gold_criteria == {"helpful": helpful}
    # when it is cleared, all of it goes
    assert client.delete(url).status_code == 200
    item.refresh_from_db()
    assert (item.gold_label, item.gold_ranking, item.gold_criteria) == ("", None, None)


def test_a_gold_ranking_needs_a_ranking_item(tmp_path: Path, admin: User) -> None:
    project = make_project("pairs")
    make_pairs(project, tmp_path, 1, labelled=False)
    set_member(project, username=admin.username, role="admin")
    pair = Pair.objects.get(project=project)
    url = f"/api/projects/{project.slug}/pairs/{pair.pk}/gold"
    answer = client_for(admin).put(
        url, {"label": "", "ranking": [[pair.response_a_id], [pair.response_b_id]]}, format="json"
    )
    assert answer.status_code == 400 and "ranking" in answer.json()


def test_saving_the_same_gold_label_on_the_pair_page_keeps_the_gold_ranking_and_criteria(
    tmp_path: Path, admin: User
) -> None:
    from tests.annotate.workspace_support import logged_in

    # given a ranking item with a gold ranking and a gold ranking for a criterion
    project, item, ids = _ranked_item(tmp_path, criteria=[HELPFUL])
    set_member(project, username=admin.username, role="admin")
    gold = [[ids[3]], [ids[0], ids[2]], [ids[1]]]
    helpful = [[ids[0]], [ids[1]], [ids[2]], [ids[3]]]
    url = f"/api/projects/{project.slug}/pairs/{item.pk}/gold"
    # (a gold ranking alone: the label is what it says of a against b)
    put = client_for(admin).put(url, {"ranking": gold, "criteria": {"helpful": helpful}}, "json")
    assert put.status_code == 200, put.json()
    item.refresh_from_db()
    label = item.gold_label
    # when the admin saves the label shown on the pair page as it is
    page = logged_in(admin, csrf=True)
    page.get(f"/projects/{project.slug}/pairs/{item.pk}")
    token = page.cookies["csrftoken"].value
    page.post(
        f"/projects/{project.slug}/pairs/{item.pk}/gold",
        {"label": label, "csrfmiddlewaretoken": token},
    )
    # then the gold ranking and the gold per criterion are still there
    item.refresh_from_db()
    assert (item.gold_label, item.gold_criteria) == (label, {"helpful": helpful})
    assert item.gold_ranking is not None
    # and a label the ranking does not say replaces the ranking, keeping the criteria
    other = "b" if label == "a" else "a"
    assert client_for(admin).put(url, {"label": other}, "json").status_code == 200
    item.refresh_from_db()
    assert (item.gold_label, item.gold_ranking, item.gold_criteria) == (
        other,
        None,
        {"helpful": helpful},
    )


def test_gold_per_criterion_without_an_overall_gold_is_a_400(tmp_path: Path, admin: User) -> None:
    project, item, ids = _ranked_item(tmp_path, criteria=[HELPFUL])
    set_member(project, username=admin.username, role="admin")
    url = f"/api/projects/{project.slug}/pairs/{item.pk}/gold"
    helpful = [[ids[0]], [ids[1]], [ids[2]], [ids[3]]]
    answer = client_for(admin).put(url, {"label": "", "criteria": {"helpful": helpful}}, "json")
    assert answer.status_code == 400 and "criteria" in answer.json()
    item.refresh_from_db()
    assert (item.gold_label, item.gold_criteria) == ("", None)


def test_a_gold_put_with_neither_a_label_nor_a_ranking_is_a_400(
    tmp_path: Path, admin: User
) -> None:
    project, item, _ = _ranked_item(tmp_path)
    set_member(project, username=admin.username, role="admin")
    url = f"/api/projects/{project.slug}/pairs/{item.pk}/gold"
    assert client_for(admin).put(url, {"label": "a"}, "json").status_code == 200
    for body in ({}, {"criteria": None}):
        answer = client_for(admin).put(url, body, "json")
        assert answer.status_code == 400 and "label" in answer.json()
    item.refresh_from_db()
    assert item.gold_label == "a"
