"""An external model's uploaded scores, served and re-ranking the queue through a real worker."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from annotate.models import Pair, PairStatus, Project, Response
from rewards.models import RewardModel
from tests.conftest import client_for, wait_until
from tests.rewards.test_loop import _import_pending, _judge_from_gold

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def _uncertainty_order(project: Project, rewards: dict[int, float]) -> list[float]:
    """|P(a beats b) - 0.5| of the pending pairs in the order the queue serves them."""
    pending = Pair.objects.filter(project=project, status=PairStatus.PENDING).order_by(
        "-rank__priority", "tiebreak"
    )
    return [
        abs(1 / (1 + math.exp(-(rewards[p.response_a_id] - rewards[p.response_b_id]))) - 0.5)
        for p in pending
    ]


def test_uploaded_scores_are_served_and_reorder_the_queue(
    celery_worker: Path, admin: Any, annotator: Any, project: Project, tmp_path: Path
) -> None:
    # given real pandalm pairs, 30 judged, uncertainty sampling, and a model trained elsewhere
    # whose reward is log response length (so its verdict is known in advance)
    # (no random slice, so every lease follows the model)
    Project.objects.filter(pk=project.pk).update(acquisition="uncertainty", random_slice_share=0)
    _import_pending(project, tmp_path)
    _judge_from_gold(annotator, project, 30)
    admin_api = client_for(admin)
    registered = admin_api.post(
        f"/api/projects/{project.slug}/external-models", {"name": "trl-rm"}, format="json"
    ).json()
    rewards = {
        r.pk: math.log1p(len(r.text)) for r in Response.objects.filter(prompt__project=project)
    }
    lines = [json.dumps({"response_id": pk, "reward": value}) for pk, value in rewards.items()]
    upload = io.BytesIO("\n".join(lines).encode())
    upload.name = "scores.jsonl"
    # when the scores are uploaded and the version is activated
    uploaded = admin_api.post(
        f"/api/projects/{project.slug}/external-models/{registered['id']}/scores",
        {"file": upload},
        format="multipart",
    )
    assert uploaded.status_code == 200, uploaded.content
    activated = admin_api.post(f"/api/models/{registered['id']}/activate")
    assert activated.status_code == 200
    # then the worker re-ranks the pending pairs by this model's uncertainty
    wait_until(
        lambda: (
            _uncertainty_order(project, rewards) == sorted(_uncertainty_order(project, rewards))
        ),
        timeout=120,
        what="re-rank by the external model",
    )
    closeness = _uncertainty_order(project, rewards)
    assert len(closeness) == Pair.objects.filter(project=project, status="pending").count() > 10
    assert len(set(np.round(closeness, 9))) > 1  # a real ordering, not one flat priority
    # and the next lease is its top pair
    top = Pair.objects.filter(project=project, status=PairStatus.PENDING).order_by(
        "-rank__priority", "tiebreak"
    )[0]
    assert (
        admin_api.post(f"/api/projects/{project.slug}/next", {}, format="json").json()["pair"]
        == top.pk
    )
    # and the models page API tells the truth about it: it is response length
    model = RewardModel.objects.get(pk=registered["id"])
    assert model.is_active and model.mode == "external"
    listed = admin_api.get(f"/api/projects/{project.slug}/models").json()
    assert listed["active"]["id"] == model.pk
    baseline = listed["active"]["baseline"]
    assert baseline["length_correlation"] == 1.0
    assert baseline["verdict"].startswith("no better than response length")
