"""Set up Django for a benchmark script run from the repository root."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def setup() -> None:
    """Configure settings (production mode unless set), migrate, mute embed-ahead."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    # Production mode: DEBUG would record every SQL statement and skew the timings.
    os.environ.setdefault("DEBUG", "false")
    os.environ.setdefault("SECRET_KEY", "benchmark-only-secret-key")
    import django

    django.setup()
    from django.core.management import call_command

    from annotate.signals import responses_imported

    call_command("migrate", verbosity=0)
    # Benchmark data must not queue embedding work for a worker that may run later.
    responses_imported.disconnect(dispatch_uid="rewards-embed-ahead")
