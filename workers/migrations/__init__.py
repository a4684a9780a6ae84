"""The workers schema.

replaced/ holds the migration this one replaces, under its old name: a database that applied it
is handed over to this one by its `replaces`. The old file may go, with that list, once no such
database is left.
"""

from pathlib import Path

# Django lists a migrations package's modules from its __path__, so a second folder on it loads
# the old file as workers.migrations.<old name> without listing it beside the new one.
_REPLACED = str(Path(__file__).with_name("replaced"))
if _REPLACED not in __path__:
    __path__.append(_REPLACED)
