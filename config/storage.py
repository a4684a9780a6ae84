"""Where uploads and checkpoints are kept: this machine's disk, or S3-compatible object storage.

Web nodes and workers on other machines share no disk, so every file one process writes for
another (an import's upload, a reward-model version) goes through Django's default storage.
`default_storage_from_env` builds its STORAGES entry from the environment: `STORAGE_URL`
(`s3://bucket/prefix?endpoint_url=...&region=...`) or the usual `AWS_*` variables; with neither,
the local MEDIA_ROOT. Credentials are boto3's own (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY,
a profile, or the machine's role), never part of the URL.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from django.core.exceptions import ImproperlyConfigured

from config.env import env_str

FILESYSTEM = "django.core.files.storage.FileSystemStorage"
S3 = "storages.backends.s3.S3Storage"
# STORAGE_URL's query keys and the S3Storage options they set.
URL_OPTIONS = {
    "endpoint_url": "endpoint_url",
    "region": "region_name",
    "addressing_style": "addressing_style",
}
ADDRESSING_STYLES = ("auto", "path", "virtual")
# A stored object being read spools to disk past this size; django-storages' default (0) keeps
# it all in memory, which for a 512 MiB import or a checkpoint of gigabytes is too much.
SPOOL_BYTES = 16 * 1024 * 1024
COPY_CHUNK_BYTES = 1024 * 1024


def default_storage_from_env() -> dict[str, Any]:
    """The STORAGES["default"] entry the environment asks for; the local disk when it says none."""
    url = env_str("STORAGE_URL")
    if url:
        options = parse_storage_url(url)
    elif bucket := env_str("AWS_STORAGE_BUCKET_NAME"):
        options = {"bucket_name": bucket, "location": env_str("AWS_LOCATION").strip("/")}
    else:
        return {"BACKEND": FILESYSTEM}
    options.setdefault("endpoint_url", env_str("AWS_S3_ENDPOINT_URL") or None)
    options.setdefault("region_name", env_str("AWS_S3_REGION_NAME") or None)
    endpoint = options["endpoint_url"]
    if endpoint is not None and urlsplit(endpoint).scheme not in ("http", "https"):
        raise ImproperlyConfigured(f"storage endpoint_url {endpoint!r} is not an http(s) URL")
    if endpoint is not None:
        # MinIO, Ceph, moto and most self-hosted servers answer only path-style requests.
        options.setdefault("addressing_style", "path")
    return {
        "BACKEND": S3,
        "OPTIONS": {
            **options,
            # Two uploads of `pairs.jsonl` are two objects, as on disk (the S3 default replaces).
            "file_overwrite": False,
            "max_memory_size": SPOOL_BYTES,
        },
    }


def parse_storage_url(url: str) -> dict[str, Any]:
    """S3Storage options from `s3://bucket/prefix?endpoint_url=...&region=...&addressing_style=`."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.hostname:
        raise ImproperlyConfigured(
            f"STORAGE_URL={url!r} is not an s3:// URL (s3://bucket/prefix?endpoint_url=...)"
        )
    if parts.username or parts.password:
        raise ImproperlyConfigured(
            "STORAGE_URL holds no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        )
    options: dict[str, Any] = {"bucket_name": parts.hostname, "location": parts.path.strip("/")}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key not in URL_OPTIONS:
            known = ", ".join(URL_OPTIONS)
            raise ImproperlyConfigured(f"STORAGE_URL: unknown option {key!r} (known: {known})")
        options[URL_OPTIONS[key]] = value or None
    style = options.get("addressing_style")
    if style is not None and style not in ADDRESSING_STYLES:
        raise ImproperlyConfigured(
            f"STORAGE_URL: addressing_style={style!r} (use {', '.join(ADDRESSING_STYLES)})"
        )
    return options


@contextmanager
def local_copy(file: Any, *, temp_dir: str | None = None) -> Iterator[Path]:
    """A path on this machine to read a stored file (a FieldFile) from, for the block's length.

    The file itself on local storage; otherwise a temporary copy, deleted afterwards.
    """
    try:
        path = Path(file.storage.path(file.name))
    except NotImplementedError:  # object storage has no local path
        pass
    else:
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="stored-", dir=temp_dir) as folder:
        copy = Path(folder) / Path(file.name).name
        with file.storage.open(file.name, "rb") as source, copy.open("wb") as target:
            shutil.copyfileobj(source, target, COPY_CHUNK_BYTES)
        yield copy
