"""URL converters: `<id:pk>` matches what fits a database id, so a huge number is a 404.

Registered when this module is first imported: every URL module that uses `<id:...>` imports
it, so each works on its own (a test may load one URL module without the others).
"""

from __future__ import annotations

from django.urls import register_converter
from django.urls.converters import IntConverter


class IdConverter(IntConverter):
    # 18 digits stay below 2**63 - 1, the largest bigint; longer paths match no route.
    regex = "[0-9]{1,18}"


register_converter(IdConverter, "id")
