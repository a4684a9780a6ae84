"""The rewards schema, one migration per step in its history.

replaced/ holds the migrations these were squashed from, under their old names. A database that
stopped part-way along that older chain finishes it through them; every other database (new, or
migrated all the way) takes the squashed ones. Django tells the two apart by each squashed
migration's `replaces`. The old files may go, with those lists, once no such database is left.
"""

from pathlib import Path

# Django lists a migrations package's modules from its __path__, so a second folder on it loads
# the old files as rewards.migrations.<old name> without listing them beside the new ones.
_REPLACED = str(Path(__file__).with_name("replaced"))
if _REPLACED not in __path__:
    __path__.append(_REPLACED)
