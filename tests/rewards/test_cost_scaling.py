"""A run's estimate follows its own epochs and max length, and says what past runs measured."""

from __future__ import annotations

import re
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client

from annotate.models import Judgement, Project
from rewards.costs import DEFAULT_EPOCHS, DEFAULT_MAX_LENGTH, check_cost, mode_cost
from rewards.models import TrainingRun
from tests.annotate.statistics_support import compute_requested, fetched
from tests.conftest import client_for
from tests.factories import make_pairs
from tests.rewards.test_training_subprocess_costs import measured_version

pytestmark = pytest.mark.django_db

# A fine-tune of the default shape that trained at 0.1 judgements/s: 30 judgements take 5 min.
DEFAULT_FINETUNE = {"epochs": None, "max_length": 256}


def retrain(admin: Any, project: Project, body: dict[str, Any]) -> Any:
    """The retrain API's answer to the admin's POST of `body`."""
    url = f"/api/projects/{project.slug}/retrain"
    return client_for(admin).post(url, body, format="json")


def mode_cost_line(page: str, mode: str) -> str:
    """The models page's estimate line for `mode`."""
    found = re.search(rf'<li data-mode="{mode}">(.*?)</li>', page, re.S)
    assert found, f"no {mode} estimate on the page"
    return found.group(1)


def test_ten_times_the_epochs_takes_ten_times_as_long_and_asks_first(
    admin: Any, project: Project, tmp_path: Path, django_capture_on_commit_callbacks: Any
) -> None:
    # given a 2-epoch finetune at 0.1 judgements/s, and 30 judged pairs
    measured_version(project, "finetune", judgements=100, seconds=1000, config=DEFAULT_FINETUNE)
    make_pairs(project, tmp_path, 30)

    # when a 20-epoch run and a default one are asked for, neither confirmed
    refused = retrain(admin, project, {"mode": "finetune", "epochs": 20})
    with django_capture_on_commit_callbacks():
        started = retrain(admin, project, {"mode": "finetune"})

    # then the long one is refused at ten times the time, the default one starts
    assert refused.status_code == 400
    message = refused.json()["confirm"][0]
    assert "about 50 min for 30 judgements" in message
    assert "scaled to 20 epochs of inputs up to 256 tokens" in message
    assert "over the 30 min that starts without asking" in message
    assert started.status_code == 202, started.json()
    assert "about 5 min for 30 judgements" in started.json()["estimate"]
    assert "for 2 epochs of inputs up to 256 tokens" in started.json()["estimate"]
    assert TrainingRun.objects.get().options == {}
    assert mode_cost(project, "finetune").seconds == pytest.approx(300)
    assert mode_cost(project, "finetune", {"epochs": 20}).seconds == pytest.approx(3000)


def test_a_past_version_counts_for_its_own_epochs(project: Project, tmp_path: Path) -> None:
    # given two finetunes at one speed per epoch: 2 epochs in 1000 s, 10 epochs in 5000 s
    measured_version(project, "finetune", judgements=100, seconds=1000, config=DEFAULT_FINETUNE)
    measured_version(
        project, "finetune", judgements=100, seconds=5000, config={**DEFAULT_FINETUNE, "epochs": 10}
    )
    make_pairs(project, tmp_path, 30)

    # when a default run is started from the command
    out = StringIO()
    call_command("retrain", project.slug, "--mode", "finetune", stdout=out)

    # then both give 0.1 judgements/s at 2 epochs (not their mean of 0.06), with no --yes
    assert "Estimate: finetune: about 5 min for 30 judgements on cpu (0.1 judgements/s" in (
        out.getvalue()
    )
    assert "median of the last 2 finetune versions" in out.getvalue()


def test_a_longer_max_length_scales_a_finetune_and_asks_first(
    admin: Any, project: Project, tmp_path: Path
) -> None:
    # given a 256-token finetune whose pairs fed 100 tokens each, and 30 judged pairs
    measured_version(
        project, "finetune", judgements=100, seconds=1000, config=DEFAULT_FINETUNE,
        pairs_per_s=4.0, tokens_per_s=400.0,
    )  # fmt: skip
    make_pairs(project, tmp_path, 30)

    # when a 2048-token run is asked for without confirmation
    answer = retrain(admin, project, {"mode": "finetune", "options": {"max_length": 2048}})

    # then it is estimated at eight times the tokens and refused
    assert answer.status_code == 400
    message = answer.json()["confirm"][0]
    assert "about 40 min for 30 judgements" in message
    assert "scaled to 2 epochs of inputs up to 2048 tokens" in message
    assert not TrainingRun.objects.exists()


def test_the_projects_length_is_estimated_as_the_worker_will_train_it(
    admin: Any, project: Project, tmp_path: Path
) -> None:
    # given the same measured finetune, and a project whose reward model reads 2048 tokens
    measured_version(
        project, "finetune", judgements=100, seconds=1000, config=DEFAULT_FINETUNE,
        pairs_per_s=4.0, tokens_per_s=400.0,
    )  # fmt: skip
    make_pairs(project, tmp_path, 30)
    Project.objects.filter(pk=project.pk).update(reward_max_tokens=2048)

    # when a run with no length of its own is asked for
    answer = retrain(admin, project, {"mode": "finetune"})

    # then it is estimated at the project's length, and refused until confirmed
    assert answer.status_code == 400
    assert "scaled to 2 epochs of inputs up to 2048 tokens" in answer.json()["confirm"][0]


@pytest.mark.parametrize(
    ("max_length", "ratio"),
    [
        (2048, 8.0),  # 100 tokens a pair at 256 grow in proportion: 800
        (512, 2.0),
        (128, 1.0),  # the pairs' 100 tokens fit two 128-token inputs: no saving
        (32, 0.64),  # two 32-token inputs hold 64 of them
    ],
)
def test_a_finetune_scales_its_measured_tokens_per_pair_up_to_the_max_length(
    project: Project, tmp_path: Path, max_length: int, ratio: float
) -> None:
    # given a 256-token finetune whose pairs fed 100 tokens each
    measured_version(
        project, "finetune", judgements=100, seconds=1000, config=DEFAULT_FINETUNE,
        pairs_per_s=4.0, tokens_per_s=400.0,
    )  # fmt: skip
    make_pairs(project, tmp_path, 30)

    # when a run cut at another max length is estimated
    cost = mode_cost(project, "finetune", {"max_length": max_length})

    # then its time is the default run's 300 s times the tokens its pairs feed
    assert cost.seconds == pytest.approx(ratio * 300)


def test_a_heads_run_scales_with_max_length_but_not_with_its_epoch_ceiling(
    project: Project, tmp_path: Path
) -> None:
    # given a 256-token heads version that counted no tokens, and 30 judged pairs
    measured_version(
        project, "heads", judgements=100, seconds=10, config={"max_length": 256},
        tokens_per_s=None,
    )  # fmt: skip
    make_pairs(project, tmp_path, 30)

    # when runs cut at other lengths, and one with a higher epoch ceiling, are estimated
    default = mode_cost(project, "heads")
    longer, shorter = (mode_cost(project, "heads", {"max_length": n}) for n in (512, 128))
    ceiling = mode_cost(project, "heads", {"epochs": 2000})

    # then full inputs are assumed, and early stopping makes the ceiling cost nothing
    assert default.seconds == pytest.approx(3.0)
    assert longer.seconds == pytest.approx(6.0) and shorter.seconds == pytest.approx(1.5)
    assert ceiling.seconds == pytest.approx(3.0)
    assert "scaled to inputs up to 512 tokens" in longer.summary


def test_the_models_page_names_the_pairs_tokens_and_mfu_past_runs_measured(
    admin: Any, project: Project
) -> None:
    # given a heads version on a CPU and a finetune on an H100 at 3.4% MFU
    measured_version(project, "heads", judgements=100, seconds=4, tokens_per_s=None)
    measured_version(
        project, "finetune", judgements=100, seconds=50, pairs_per_s=12.5, tokens_per_s=5120.0,
        mfu=0.034, device="H100",
    )  # fmt: skip

    # when the admin opens the models page
    client = Client()
    client.force_login(admin)
    page = fetched(client, f"/projects/{project.slug}/models").content.decode()

    # then each mode's estimate says what its past runs measured
    heads, finetune = mode_cost_line(page, "heads"), mode_cost_line(page, "finetune")
    assert "they measured 3.5 pairs/s" in heads and "tokens/s" not in heads
    assert "about 0 s for 0 judgements on H100" in finetune
    assert "they measured 12.5 pairs/s, 5120 tokens/s, MFU 3.4%" in finetune


@pytest.mark.parametrize(("device", "label"), [("cpu", "no GPU seen"), ("H100", "GPU worker")])
def test_the_mode_choice_says_whether_fine_tunes_ran_on_a_gpu(
    admin: Any, project: Project, device: str, label: str
) -> None:
    # given the newest fine-tune ran on this device
    measured_version(project, "finetune", judgements=100, seconds=50, device=device)
    client = Client()
    client.force_login(admin)
    # when the models page is opened, then the finetune choice says where it runs
    page = fetched(client, f"/projects/{project.slug}/models").content.decode()
    assert f'<option value="finetune">finetune ({label}' in page


def test_an_mfu_of_ten_percent_or_more_is_shown_whole(project: Project) -> None:
    # given a finetune at 42.4% MFU
    measured_version(project, "finetune", judgements=100, seconds=50, mfu=0.424, device="H100")

    # when it is estimated
    summary = mode_cost(project, "finetune").summary

    # then the MFU has no decimal
    assert "MFU 42%" in summary


def test_check_cost_reads_a_large_projects_stored_judgements(
    project: Project, tmp_path: Path, monkeypatch: Any
) -> None:
    # given a project counted as a large one, its first count still running
    monkeypatch.setattr("annotate.projects.counts.COUNT_NOW_BELOW", 1)
    measured_version(project, "finetune", judgements=100, seconds=1000, config=DEFAULT_FINETUNE)
    make_pairs(project, tmp_path, 30)

    # when a run is checked before and after the count is stored, then after more votes
    first = check_cost(project, "finetune", confirm=False)
    compute_requested()
    make_pairs(project, tmp_path, 10, prefix="more")
    later = check_cost(project, "finetune", confirm=False)

    # then it counts only while no count is stored, and reads the stored one afterwards
    assert first.judgements == 30
    assert Judgement.objects.filter(pair__project=project).count() == 40
    assert later.judgements == 30  # as stored, until a worker recounts
    assert "about 5 min for 30 judgements" in later.summary


def test_the_run_defaults_match_the_training_config() -> None:
    from rewards.ml.config import DEFAULT_EPOCHS as TRAINED_EPOCHS
    from rewards.ml.config import TrainConfig

    assert DEFAULT_EPOCHS == TRAINED_EPOCHS
    assert TrainConfig().max_length == DEFAULT_MAX_LENGTH
