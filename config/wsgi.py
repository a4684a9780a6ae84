"""WSGI entry point (gunicorn config.wsgi)."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application
from django.urls import reverse

from config.startup import require_secret_key

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()
require_secret_key()
# Import the URLconf, and with it every view module, while the worker boots: left to the first
# request, that import (about a second of CPU) holds up it and every request queued behind it.
reverse("login")
