"""Reward-model versions in Django storage, and each worker's local copy of them.

The worker that trains a version archives its checkpoint folder (opaque here: whatever
`rewards.ml` wrote) into the default storage, which on a cluster is object storage every machine
reaches. A worker that scores with a version it has not got (another machine trained it, or this
one was replaced) fetches it into its own REWARDS_MODEL_DIR before loading; no process reads
another's disk.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.core.files import File

from rewards.models import RewardModel

# Beside each local copy: the stored archive it came from, written once the copy is complete.
SOURCE_SUFFIX = ".source"


def store_checkpoint(model: RewardModel, folder: Path) -> None:
    """Archive `folder` into the version's `artifact` in storage (an uncompressed tar).

    Weights barely compress, and gzip of a checkpoint of gigabytes would cost minutes.
    """
    settings.REWARDS_MODEL_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile(dir=settings.REWARDS_MODEL_DIR) as handle:
        with tarfile.open(fileobj=handle, mode="w") as archive:
            archive.add(folder, arcname=".")
        handle.seek(0)
        model.artifact.save(f"{model.project.slug}-v{model.version}.tar", File(handle))


def cache_checkpoint(model: RewardModel, folder: Path) -> Path:
    """Keep this machine's copy of a version it just trained, so loading it fetches nothing."""
    target = _local_folder(model)
    with _locked(target):
        _replace(target, model, lambda staging: _link_tree(folder, staging))
    return target


def local_model_dir(model: RewardModel) -> Path:
    """The version's checkpoint folder on this machine, fetched from storage once when missing."""
    from rewards.ml.checkpoint import read_metadata

    target = _local_folder(model)
    if not model.artifact:  # a folder placed by hand, or a version stored before archives
        read_metadata(target)  # ValueError when it holds no checkpoint
        return target
    with _locked(target):
        if not _is_current(target, model):
            _replace(target, model, lambda staging: _extract(model, staging))
    return target


def _local_folder(model: RewardModel) -> Path:
    return settings.REWARDS_MODEL_DIR / f"model-{model.pk}"


def _is_current(target: Path, model: RewardModel) -> bool:
    """The folder came from the version's archive and still holds a checkpoint."""
    from rewards.ml.checkpoint import read_metadata

    source = target.with_name(target.name + SOURCE_SUFFIX)
    if not (source.is_file() and source.read_text() == model.artifact.name):
        return False
    try:
        read_metadata(target)
    except ValueError:
        return False
    return True


def _replace(target: Path, model: RewardModel, fill: Callable[[Path], None]) -> None:
    """Fill a staging folder beside `target`, then rename it there: never half a checkpoint."""
    staging = Path(tempfile.mkdtemp(prefix=f"{target.name}-", dir=target.parent))
    try:
        fill(staging)
        source = target.with_name(target.name + SOURCE_SUFFIX)
        source.unlink(missing_ok=True)
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
        source.write_text(model.artifact.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _extract(model: RewardModel, staging: Path) -> None:
    # Archives of either kind: plain tar, or the gzip ones stored before.
    with model.artifact.open("rb") as handle, tarfile.open(fileobj=handle, mode="r:*") as tar:
        tar.extractall(staging, filter="data")


def _link_tree(source: Path, staging: Path) -> None:
    """Hard links where the two folders share a disk (instant for gigabytes), else copies."""
    shutil.copytree(source, staging, copy_function=_link_or_copy, dirs_exist_ok=True)


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


@contextmanager
def _locked(target: Path) -> Iterator[None]:
    """One process at a time fills a version's folder (the worker pool, a second worker)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.with_name(target.name + ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
