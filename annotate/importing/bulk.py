"""Writing a large import with set operations: stage every pair, then a few INSERT ... SELECTs.

Pairs are staged in a temporary table as they are read (COPY on PostgreSQL, executemany on
SQLite), with their content hashes computed once. Only temporary tables are written while the
file is read, so a file with invalid lines leaves the project untouched. `write` then runs one
`INSERT ... SELECT ... ON CONFLICT DO NOTHING` per table (prompts, responses, pairs,
judgements) in the caller's transaction: a re-import, or a concurrent import of the same file,
adds nothing twice. Rows are inserted in file order, so ids follow the file as before. The SQL
is the same on both backends. The staged tables are filled in file order and keyed by it (on
SQLite their rowid), so SQLite writes from them without sorting; a pair's first row also
carries how many of its rows are votes. Once the responses are written, the staged texts' ids
are looked up once (`import_rid`), and the sources and pairs join that small table instead of
the project's prompts and responses again.

With `labels="gold"` on a project with criteria, a row's per-criterion labels (`criterion_NAME`
or `criteria`, in the row's a/b terms) are staged too (`import_crit`) and become the new
pair's `gold_criteria`. Gold is checked before anything is written: rows that give one pair
different gold, or a gold that differs from the one an existing pair has, are each refused at
their line and counted.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any

import orjson
from django.db import connection
from django.utils import timezone

from annotate.formats import (
    MAX_REPORTED_ERRORS,
    FieldError,
    ImportFormatError,
    PairIn,
    RowError,
    pair_key,
    prompt_hash,
    sha256,
)
from annotate.importing.judgement_format import ImportShape, parse_criteria
from annotate.models import Comparison, PairStatus, Project

# SQLite's page cache of the database file while an import runs, in KiB (2 MB by default).
# 64 MB took a 300k-pair import from 41-44 s of CPU to 34 s; 256 MB gained less, and a larger
# cache of the temporary tables made it slower.
SQLITE_IMPORT_CACHE_KIB = 65_536
# SQLite settings while an import runs, each given back after it.
_SQLITE_SETTINGS = (
    # A large import would read its own index pages back while inserting into them.
    ("main.cache_size", str(-SQLITE_IMPORT_CACHE_KIB)),
    # Builds with SECURE_DELETE (Debian's) zero every page the temporary tables free: dropping
    # a million staged pairs took 6 s. FAST zeroes freed space inside pages only; the
    # temporary file is unlinked anyway.
    ("temp.secure_delete", "FAST"),
)
# Pairs per COPY / executemany: a few MB of Python objects.
STAGE_BATCH = 5000
COLUMNS = (
    "seq",
    "prompt_hash",
    "messages",
    "turn_count",
    "a_hash",
    "a_text",
    "a_model",
    "b_hash",
    "b_text",
    "b_model",
    "pair_key",
    "tiebreak",
    "label",
    "external_id",
    "meta",
    "line",
)
_TYPES = {"seq": "bigint", "turn_count": "integer", "tiebreak": "bigint", "line": "bigint"}
# PostgreSQL settings for the duration of `write` (the caller's transaction).
_WRITE_SETTINGS = (
    # The statistics of annotate_* know nothing of the rows this transaction just added, so the
    # planner takes a large import's new prompts for one row and nests loops over them (a second
    # 100k-pair import into a database ran for over ten minutes). These set operations want
    # hash joins anyway.
    ("enable_nestloop", "off"),
    # Each statement sorts or hashes every staged row: in memory, not in batches on disk (a
    # 100k-pair import spilled 60 MB per sort at the default 4 MB).
    ("work_mem", "256MB"),
    # Compiling the plans cost 0.2-0.4 s a statement and saved nothing: the time is in writing.
    ("jit", "off"),
)
# Nested loops stay on for a file of at most this many staged pairs: an index lookup per staged
# row beats hashing the project's rows (a 100-row file into a 300k-pair project took 1.0 s with
# them off), and a misjudged loop over so few rows costs little.
NESTLOOP_OFF_ABOVE = 1_000
_TEMP_TABLES = (
    "import_stage",
    "import_rid",
    "import_vote",
    "import_first",
    "import_gold",
    "import_response",
    "import_source",
    "import_judgement",
    "import_outcome",
)
# A gold import's per-criterion labels, staged only where the project has criteria.
_CRITERIA_TABLES = ("import_crit", "import_gold_crit", "import_gold_criteria")
_CRITERIA_COLUMNS = ("seq", "pair_key", "a_hash", "line", "name", "label")


class BulkImport:
    """Stage pairs with `add`, then `write` them; temporary tables are dropped on exit."""

    def __init__(self, project: Project, *, labels: str) -> None:
        self.project = project
        self.labels = labels
        self.staged = 0
        self._buffer: list[tuple[Any, ...]] = []
        self._prompt: tuple[str, str] | None = None  # the last prompt's JSON and hash
        # Gold per criterion is read only where the project has criteria (pairwise; a ranking
        # project imports through rankings.py).
        gold_criteria = (
            labels == "gold" and project.criteria and project.comparison == Comparison.PAIRWISE
        )
        self._shape = ImportShape.of(project) if gold_criteria else None
        self._votes: list[tuple[Any, ...]] = []
        # Rows refused here (a criterion the project lacks); `write` raises them.
        self.errors: list[RowError] = []
        self.error_total = 0
        self._restore: list[tuple[str, Any]] = []  # SQLite's settings, given back on exit
        self._all_created = False  # set by `_pairs`

    def __enter__(self) -> BulkImport:
        self._drop()
        if connection.vendor == "sqlite":
            for name, value in _SQLITE_SETTINGS:
                self._restore.append((name, _scalar(f"PRAGMA {name}")))
                _execute(f"PRAGMA {name} = {value}")
        types = {**_TYPES, "seq": _order_type()}
        columns = ", ".join(f"{name} {types.get(name, 'text')}" for name in COLUMNS)
        _execute(f"CREATE TEMPORARY TABLE import_stage ({columns})")
        if self._shape is not None:
            columns = ", ".join(f"{name} {_TYPES.get(name, 'text')}" for name in _CRITERIA_COLUMNS)
            _execute(f"CREATE TEMPORARY TABLE import_crit ({columns})")
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._drop()
        for name, value in self._restore:
            _execute(f"PRAGMA {name} = {int(value)}")
        self._restore.clear()

    def _drop(self) -> None:
        tables = _TEMP_TABLES + (_CRITERIA_TABLES if self._shape is not None else ())
        for table in tables:
            _execute(f"DROP TABLE IF EXISTS {table}")

    def add(self, pairs: list[PairIn], line: int = 0) -> None:
        """Stage the pairs of one row; `line` is the file's line, for errors."""
        for item in pairs:
            row = self._row(item)
            self._buffer.append((*row, line))
            if self._shape is not None and item.source is not None:
                self._add_criteria(item, row, line)
        if len(self._buffer) >= STAGE_BATCH:
            self._flush()

    def _add_criteria(self, item: PairIn, row: tuple[Any, ...], line: int) -> None:
        """Stage a gold row's per-criterion labels, or note the line's error."""
        assert self._shape is not None and item.source is not None
        try:
            votes = parse_criteria(item.source, None, self._shape)
            if votes and item.label is None:
                raise FieldError("label", "is required with gold criteria: the overall gold")
        except FieldError as exc:
            self.error_total += 1
            if len(self.errors) < MAX_REPORTED_ERRORS:
                self.errors.append(RowError(line, exc.field, exc.message))
            return
        seq, a_hash, key = row[0], row[4], row[10]
        self._votes.extend((seq, key, a_hash, line, name, vote) for name, vote in votes.items())

    def _row(self, item: PairIn) -> tuple[Any, ...]:
        messages = orjson.dumps(item.messages).decode()
        if self._prompt is None or self._prompt[0] != messages:
            # Consecutive rows often share a prompt (the responses format always does).
            self._prompt = (messages, prompt_hash(item.messages))
        p_digest = self._prompt[1]
        a_digest, b_digest = sha256(item.a.text), sha256(item.b.text)
        key = pair_key(p_digest, a_digest, b_digest)
        self.staged += 1
        return (
            self.staged,
            p_digest,
            messages,
            sum(1 for m in item.messages if m["role"] == "user"),
            a_digest,
            item.a.text,
            item.a.model,
            b_digest,
            item.b.text,
            item.b.model,
            key,
            int(key[:15], 16),
            item.label,
            item.external_id,  # at most 200 characters: the parsers refuse longer ids
            orjson.dumps(item.meta).decode(),
        )

    def _flush(self) -> None:
        if self._buffer:
            _load("import_stage", COLUMNS, self._buffer)
            self._buffer.clear()
        if self._votes:
            _load("import_crit", _CRITERIA_COLUMNS, self._votes)
            self._votes.clear()

    def write(self, progress: Callable[[float], None] | None = None) -> dict[str, int]:
        """Insert what is new; return created/existing counts. Caller holds a transaction."""
        self._flush()
        if self.error_total:
            raise ImportFormatError(self.errors, self.error_total)
        steps = [self._prepare, self._prompts, self._responses, self._sources, self._pairs]
        if self.labels == "gold":
            steps.insert(1, self._gold)
        if self.labels == "judgements":
            steps.append(self._judgements)
        steps.append(self._outcomes)
        counts: dict[str, int] = {}
        now = connection.ops.adapt_datetimefield_value(timezone.now())
        settings = [
            (name, value)
            for name, value in _WRITE_SETTINGS
            if name != "enable_nestloop" or self.staged > NESTLOOP_OFF_ABOVE
        ]
        postgres = connection.vendor == "postgresql"
        if postgres:
            for name, value in settings:
                _execute("SELECT set_config(%s, %s, true)", [name, value])
        try:
            for done, step in enumerate(steps, start=1):
                counts.update(step(now))
                if progress:
                    progress(done / len(steps))
        finally:
            if postgres:
                for name, _ in settings:
                    _execute(f"RESET {name}")
        return counts

    def _prepare(self, now: Any) -> dict[str, int]:
        if connection.vendor != "postgresql":  # SQLite joins by index lookups; PostgreSQL hashes
            # Covering: import_first counts each pair's labelled rows from it alone.
            _execute("CREATE INDEX import_stage_key ON import_stage (pair_key, seq, label)")
        # The first row of each pair, without its texts (the responses are written from
        # import_response), and how many of the pair's rows carry a label. Both tables are
        # filled in their order column's order.
        order = _order_type()
        _execute(
            f"CREATE TEMPORARY TABLE import_first (seq {order}, prompt_hash text, a_hash text,"
            " b_hash text, pair_key text, tiebreak bigint, external_id text, meta text,"
            " labelled integer)"
        )
        _execute(
            "INSERT INTO import_first SELECT s.seq, s.prompt_hash, s.a_hash, s.b_hash,"
            " s.pair_key, s.tiebreak, s.external_id, s.meta, g.labelled FROM (SELECT MIN(seq)"
            " AS seq, COUNT(label) AS labelled FROM import_stage GROUP BY pair_key ORDER BY 1) g"
            " JOIN import_stage s ON s.seq = g.seq ORDER BY g.seq"
        )
        # Each row's two responses, a then b: ord is 2 * seq + side.
        _execute(
            f"CREATE TEMPORARY TABLE import_response (ord {order}, prompt_hash text, hash text,"
            " text text, model text)"
        )
        side = "CASE x.side WHEN 0 THEN s.a_{0} ELSE s.b_{0} END"
        _execute(
            "INSERT INTO import_response SELECT 2 * s.seq + x.side, s.prompt_hash,"
            f" {side.format('hash')}, {side.format('text')}, {side.format('model')}"
            " FROM import_stage s CROSS JOIN (SELECT 0 AS side UNION ALL SELECT 1) x"
        )
        if connection.vendor == "postgresql":
            # Temporary tables get no statistics from autovacuum; the joins below need them.
            # Only the columns that joins and groups use: the texts would cost most of it.
            _execute(
                "ANALYZE import_stage (seq, prompt_hash, a_hash, b_hash, pair_key, label),"
                " import_first (seq, prompt_hash, a_hash, b_hash, pair_key),"
                " import_response (prompt_hash, hash, model, ord)"
            )
        return {}

    def _prompts(self, now: Any) -> dict[str, int]:
        created = _execute(
            "INSERT INTO annotate_prompt"
            " (project_id, messages, turn_count, content_hash, created_at)"
            f" SELECT %s, {_json('messages')}, turn_count, prompt_hash, %s FROM import_stage"
            " WHERE seq IN (SELECT MIN(seq) FROM import_stage GROUP BY prompt_hash)"
            " ORDER BY seq ON CONFLICT DO NOTHING",
            [self.project.pk, now],
        )
        # (a count of groups hashes them; COUNT(DISTINCT) would sort every row)
        total = _scalar("SELECT COUNT(*) FROM (SELECT 1 FROM import_stage GROUP BY prompt_hash) g")
        return {"prompts_created": created, "prompts_existing": total - created}

    def _responses(self, now: Any) -> dict[str, int]:
        # The first occurrence of a response names its model.
        created = _execute(
            "INSERT INTO annotate_response (prompt_id, text, model_name, content_hash, created_at)"
            " SELECT p.id, r.text, r.model, r.hash, %s FROM import_response r"
            " JOIN annotate_prompt p ON p.project_id = %s AND p.content_hash = r.prompt_hash"
            " WHERE r.ord IN (SELECT MIN(ord) FROM import_response GROUP BY prompt_hash, hash)"
            " ORDER BY r.ord ON CONFLICT DO NOTHING",
            [now, self.project.pk],
        )
        # Every staged response now has a row: its id once, for the sources and the pairs.
        _execute(
            "CREATE TEMPORARY TABLE import_rid AS SELECT DISTINCT r.id AS response_id,"
            " r.prompt_id, i.prompt_hash, i.hash FROM import_response i"
            " JOIN annotate_prompt p ON p.project_id = %s AND p.content_hash = i.prompt_hash"
            " JOIN annotate_response r ON r.prompt_id = p.id AND r.content_hash = i.hash",
            [self.project.pk],
        )
        if connection.vendor == "postgresql":
            _execute("ANALYZE import_rid")
        else:  # SQLite joins by index lookups; PostgreSQL hashes
            # Covering, so the pairs' two lookups never build an automatic index instead.
            _execute(
                "CREATE INDEX import_rid_key ON import_rid"
                " (prompt_hash, hash, response_id, prompt_id)"
            )
        total = _scalar("SELECT COUNT(*) FROM import_rid")
        return {"responses_created": created, "responses_existing": total - created}

    def _sources(self, now: Any) -> dict[str, int]:
        """Record every model that wrote each response (one text may come from several)."""
        _execute(
            "CREATE TEMPORARY TABLE import_source AS SELECT DISTINCT r.response_id,"
            " i.model AS model_name FROM import_response i"
            " JOIN import_rid r ON r.prompt_hash = i.prompt_hash AND r.hash = i.hash"
            " WHERE i.model <> '' AND NOT EXISTS (SELECT 1 FROM annotate_responsesource o"
            " WHERE o.response_id = r.response_id AND o.model_name = i.model)"
        )
        created = _execute(
            "INSERT INTO annotate_responsesource (response_id, model_name)"
            " SELECT response_id, model_name FROM import_source WHERE true ON CONFLICT DO NOTHING"
        )
        return {"sources_created": created}

    def _pairs(self, now: Any) -> dict[str, int]:
        """Create missing pairs; a new pair's imported judgements are counted at creation."""
        # Every labelled row is a vote, however many rows name the same two texts.
        n = "f.labelled" if self.labels == "judgements" else "0"
        joins = ""
        if self.labels == "gold":
            # The label the pair's labelled rows agree on (`_gold`), wherever the first one is.
            joins = (
                "LEFT JOIN (SELECT pair_key, MIN(label) AS label FROM import_gold"
                " GROUP BY pair_key) g ON g.pair_key = f.pair_key"
            )
        gold = "COALESCE(g.label, '')" if self.labels == "gold" else "''"
        criteria = "NULL"
        if self._shape is not None:
            joins += " LEFT JOIN import_gold_criteria gc ON gc.pair_key = f.pair_key"
            criteria = _json("gc.criteria")
        created = _execute(
            "INSERT INTO annotate_pair (project_id, prompt_id, response_a_id, response_b_id,"
            " content_key, status, tiebreak, judgement_count, extra_judgements,"
            " gold_label, gold_criteria, external_id, meta, created_at)"
            f" SELECT %s, ra.prompt_id, ra.response_id, rb.response_id, f.pair_key,"
            f" CASE WHEN {n} >= %s THEN %s ELSE %s END, f.tiebreak, {n}, 0, {gold},"
            f" {criteria}, f.external_id, {_json('f.meta')}, %s FROM import_first f"
            " JOIN import_rid ra ON ra.prompt_hash = f.prompt_hash AND ra.hash = f.a_hash"
            " JOIN import_rid rb ON rb.prompt_hash = f.prompt_hash AND rb.hash = f.b_hash"
            f" {joins}"
            " WHERE true ORDER BY f.seq ON CONFLICT DO NOTHING",
            [
                self.project.pk,
                self.project.judgements_per_pair,
                PairStatus.COMPLETE,
                PairStatus.PENDING,
                now,
            ],
        )
        total = _scalar("SELECT COUNT(*) FROM import_first")
        # Every staged row named a pair of its own and created it: `_outcomes` need not look.
        self._all_created = created == total == self.staged
        return {"pairs_created": created, "pairs_existing": total - created}

    def _gold(self, now: Any) -> dict[str, int]:
        """Each pair's gold: its labelled rows must agree on it, and on the gold of each
        criterion, and agree with the gold an existing pair has, or nothing is imported.

        A label is read in the pair's terms (those of its first row): a reversed row's a is b.
        """
        _execute(
            "CREATE TEMPORARY TABLE import_gold AS SELECT s.pair_key, s.line,"
            f" {_canonical('s', 'f.a_hash')} AS label FROM import_stage s"
            " JOIN import_first f ON f.pair_key = s.pair_key WHERE s.label IS NOT NULL"
        )
        disagreeing = (
            "SELECT pair_key FROM import_gold GROUP BY pair_key HAVING COUNT(DISTINCT label) > 1"
        )
        errors: list[RowError] = []
        total = _scalar(f"SELECT COUNT(*) FROM import_gold WHERE pair_key IN ({disagreeing})")
        if total:
            shown = _rows(
                f"SELECT pair_key, line FROM import_gold WHERE pair_key IN ({disagreeing})"
                f" ORDER BY line LIMIT {MAX_REPORTED_ERRORS}"
            )
            keys = sorted({key for key, _ in shown})
            lines_by_pair: dict[str, list[int]] = {}
            for key, line in _rows(
                "SELECT pair_key, line FROM import_gold WHERE pair_key IN"
                f" ({', '.join(['%s'] * len(keys))}) ORDER BY line",
                keys,
            ):
                lines_by_pair.setdefault(key, []).append(line)
            errors = [
                RowError(
                    line,
                    "label",
                    f"{_lines(lines_by_pair[key])} give one pair different gold labels",
                )
                for key, line in shown
            ]
        # Only the label conflicts are many enough to count apart from the ones shown.
        others = self._criteria_conflicts() if self._shape is not None else []
        others += self._existing_conflicts()
        errors += others
        total += len(others)
        if total:
            errors.sort(key=lambda error: error.line)
            raise ImportFormatError(errors[:MAX_REPORTED_ERRORS], total)
        if self._shape is not None:
            self._stage_gold_criteria()
        return {}

    def _criteria_conflicts(self) -> list[RowError]:
        """Rows giving one pair different gold for a criterion, in the pair's terms."""
        _execute(
            "CREATE TEMPORARY TABLE import_gold_crit AS SELECT c.pair_key, c.line, c.name,"
            f" {_canonical('c', 'f.a_hash')} AS label FROM import_crit c"
            " JOIN import_first f ON f.pair_key = c.pair_key"
        )
        lines: dict[tuple[str, str], list[int]] = {}
        for key, name, line in _rows(
            "SELECT g.pair_key, g.name, g.line FROM import_gold_crit g JOIN (SELECT pair_key,"
            " name FROM import_gold_crit GROUP BY pair_key, name"
            " HAVING COUNT(DISTINCT label) > 1) d ON d.pair_key = g.pair_key AND d.name = g.name"
            " ORDER BY g.line"
        ):
            lines.setdefault((key, name), []).append(line)
        return [
            RowError(line, "criteria", f"{_lines(at)} give one pair different gold for {name!r}")
            for (_, name), at in lines.items()
            for line in at
        ]

    def _existing_conflicts(self) -> list[RowError]:
        """Rows whose gold differs from the gold the pair already has (in its stored terms)."""
        # (a project without pairs has no gold; asking for a pair with gold would read every
        # pair of a large project without any)
        if not _scalar(
            "SELECT COUNT(*) FROM (SELECT 1 FROM annotate_pair WHERE project_id = %s LIMIT 1) p",
            [self.project.pk],
        ):
            return []
        # From the staged rows (SQLite keeps a CROSS JOIN's left table outside): a lookup each.
        stored = (
            " CROSS JOIN annotate_pair pr JOIN annotate_response ra ON ra.id = pr.response_a_id"
            " WHERE pr.project_id = %s AND pr.content_key = {0}.pair_key AND pr.gold_label <> ''"
        )
        errors = [
            RowError(line, "label", "the pair already has a different gold label")
            for (line,) in _rows(
                f"SELECT s.line FROM import_stage s{stored.format('s')} AND s.label IS NOT NULL"
                f" AND pr.gold_label <> {_canonical('s', 'ra.content_hash')} ORDER BY s.line",
                [self.project.pk],
            )
        ]
        if self._shape is None:
            return errors
        for line, name, vote, gold in _rows(
            f"SELECT c.line, c.name, {_canonical('c', 'ra.content_hash')}, pr.gold_criteria"
            f" FROM import_crit c{stored.format('c')} AND pr.gold_criteria IS NOT NULL"
            " ORDER BY c.line",
            [self.project.pk],
        ):
            given = orjson.loads(gold) if isinstance(gold, str | bytes) else gold
            if (given or {}).get(name, vote) != vote:
                message = f"the pair already has a different gold for {name!r}"
                errors.append(RowError(line, "criteria", message))
        return errors

    def _stage_gold_criteria(self) -> None:
        """Each pair's agreed gold per criterion, as JSON in the project's order of criteria."""
        assert self._shape is not None
        order = {name: i for i, name in enumerate(self._shape.criteria)}
        by_pair: dict[str, dict[str, str]] = {}
        agreed = "SELECT DISTINCT pair_key, name, label FROM import_gold_crit"
        for key, name, label in _rows(agreed):
            by_pair.setdefault(key, {})[name] = label
        rows = [
            (key, orjson.dumps(dict(sorted(votes.items(), key=lambda v: order[v[0]]))).decode())
            for key, votes in by_pair.items()
        ]
        _execute("CREATE TEMPORARY TABLE import_gold_criteria (pair_key text, criteria text)")
        if rows:
            _load("import_gold_criteria", ("pair_key", "criteria"), rows)

    def _judgements(self, now: Any) -> dict[str, int]:
        """Each labelled row is a vote, in the stored pair's a/b terms, with the models it named.

        The n-th row of a file naming the same pair, models and label is that comparison's n-th
        imported vote: it is written only if fewer than n such votes exist, so a re-import (or a
        concurrent import of the same file) adds nothing, and a repeated row is a second vote.
        """
        swapped = "s.a_hash <> ra.content_hash"
        row_a = f"CASE WHEN {swapped} THEN s.b_model ELSE s.a_model END"
        row_b = f"CASE WHEN {swapped} THEN s.a_model ELSE s.b_model END"
        _execute(
            "CREATE TEMPORARY TABLE import_vote AS SELECT pr.id AS pair_id,"
            " pr.created_at AS pair_created_at, s.pair_key, s.seq,"
            f" {_canonical('s', 'ra.content_hash')} AS choice, {row_a} AS model_a,"
            f" {row_b} AS model_b, COALESCE(NULLIF({row_a}, ''), ra.model_name) AS vote_a,"
            f" COALESCE(NULLIF({row_b}, ''), rb.model_name) AS vote_b"
            # From the staged rows: SQLite keeps a CROSS JOIN's left table outside, and left to
            # itself it read every pair of the project (1.5 s for a 100-row file at 1M pairs).
            " FROM import_stage s CROSS JOIN annotate_pair pr"
            " JOIN annotate_response ra ON ra.id = pr.response_a_id"
            " JOIN annotate_response rb ON rb.id = pr.response_b_id"
            " WHERE pr.project_id = %s AND pr.content_key = s.pair_key AND s.label IS NOT NULL",
            [self.project.pk],
        )
        # n: the row's rank among the file's rows for the same comparison; present: such votes
        # stored already; earlier: the pair's imported votes with this label (for new ids).
        _execute(
            "CREATE TEMPORARY TABLE import_judgement AS SELECT v.*, ROW_NUMBER() OVER"
            " (PARTITION BY pair_id, choice, vote_a, vote_b ORDER BY seq) AS n,"
            " 0 AS present, 0 AS earlier FROM import_vote v"
        )
        _execute("DROP TABLE import_vote")
        imported = (
            "FROM annotate_judgement j WHERE j.pair_id = import_judgement.pair_id"
            " AND j.choice = import_judgement.choice AND j.source = 'import'"
            " AND j.annotator_id IS NULL"
        )
        _execute(
            f"UPDATE import_judgement SET earlier = (SELECT COUNT(*) {imported}),"
            f" present = (SELECT COUNT(*) {imported}"
            " AND COALESCE(NULLIF(j.model_a, ''), (SELECT model_name FROM annotate_response"
            " WHERE id = (SELECT response_a_id FROM annotate_pair WHERE id = j.pair_id)))"
            " = import_judgement.vote_a"
            " AND COALESCE(NULLIF(j.model_b, ''), (SELECT model_name FROM annotate_response"
            " WHERE id = (SELECT response_b_id FROM annotate_pair WHERE id = j.pair_id)))"
            " = import_judgement.vote_b)"
            # A pair this transaction created has no votes but the ones inserted below.
            " WHERE pair_created_at <> %s",
            [now],
        )
        # A new vote's id: the pair's k-th imported vote with this label (the first has no
        # suffix, as before). Ids are deterministic, so concurrent imports collide and one wins.
        created = _execute(
            "INSERT INTO annotate_judgement (pair_id, choice, shown_left, rationale, client_id,"
            " source, model_a, model_b, created_at, invalid_reason)"
            " SELECT pair_id, choice, '', '', CAST(%s AS text) || substr(pair_key, 1, 40)"
            " || ':' || choice || CASE WHEN k > 1 THEN ':' || CAST(k AS text) ELSE '' END,"
            " %s, model_a, model_b, %s, %s FROM (SELECT j.*, earlier + ROW_NUMBER() OVER"
            " (PARTITION BY pair_id, choice ORDER BY seq) AS k FROM import_judgement j"
            " WHERE n > present) new ORDER BY seq ON CONFLICT DO NOTHING",
            [f"import:{self.project.pk}:", "import", now, ""],
        )
        # Pairs created above were counted at creation; pairs from before are recounted.
        if _scalar(f"SELECT COUNT(*) FROM ({_OLD_PAIRS} LIMIT 1) o", [now]):
            self._recount(now)
        total = _scalar("SELECT COUNT(*) FROM import_judgement")
        return {"judgements_created": created, "judgements_existing": total - created}

    def _recount(self, now: Any) -> None:
        count = (
            "(SELECT COUNT(*) FROM annotate_judgement j"
            " WHERE j.pair_id = annotate_pair.id AND j.invalidated_at IS NULL)"
        )
        _execute(
            f"UPDATE annotate_pair SET judgement_count = {count},"
            f" status = CASE WHEN {count} >= %s THEN %s ELSE status END"
            f" WHERE id IN ({_OLD_PAIRS}) AND judgement_count <> {count}",
            [self.project.judgements_per_pair, PairStatus.COMPLETE, now],
        )

    def _outcomes(self, now: Any) -> dict[str, int]:
        """What became of each staged comparison: a new pair, merged into one, or nothing new."""
        if self._all_created:  # the usual large first import: one pass over the pairs saved
            return {
                "comparisons": self.staged,
                "comparisons_created": self.staged,
                "comparisons_merged": 0,
                "comparisons_skipped": 0,
            }
        vote = (
            "EXISTS (SELECT 1 FROM import_judgement v WHERE v.seq = s.seq AND v.n > v.present)"
            if self.labels == "judgements"
            else "false"
        )
        _execute(
            "CREATE TEMPORARY TABLE import_outcome AS SELECT s.seq, CASE"
            " WHEN s.seq = f.seq AND pr.created_at = %s THEN 'created'"
            f" WHEN {vote} OR EXISTS (SELECT 1 FROM import_source n"
            " JOIN annotate_response r ON r.id = n.response_id"
            " WHERE r.prompt_id = pr.prompt_id AND ((r.content_hash = s.a_hash"
            " AND n.model_name = s.a_model) OR (r.content_hash = s.b_hash"
            " AND n.model_name = s.b_model))) THEN 'merged' ELSE 'skipped' END AS outcome"
            " FROM import_stage s JOIN import_first f ON f.pair_key = s.pair_key"
            " JOIN annotate_pair pr ON pr.project_id = %s AND pr.content_key = s.pair_key",
            [now, self.project.pk],
        )
        counts = dict(_rows("SELECT outcome, COUNT(*) FROM import_outcome GROUP BY outcome"))
        return {
            "comparisons": self.staged,
            "comparisons_created": counts.get("created", 0),
            "comparisons_merged": counts.get("merged", 0),
            "comparisons_skipped": counts.get("skipped", 0),
        }


# The staged votes' pairs that existed before this import.
_OLD_PAIRS = "SELECT pair_id FROM import_judgement WHERE pair_created_at <> %s"


def _order_type() -> str:
    """A temporary table's order column: SQLite's rowid, so that scans and lookups by it need no
    sort or index; a plain column on PostgreSQL, which hashes."""
    return "integer primary key" if connection.vendor == "sqlite" else "bigint"


def _canonical(row: str, stored_a_hash: str) -> str:
    """SQL for the row's label in the stored pair's terms: a/b swap when its a is the other."""
    return (
        f"CASE WHEN {row}.label IN ('tie', 'both_bad') OR {row}.a_hash = {stored_a_hash}"
        f" THEN {row}.label"
        f" WHEN {row}.label = 'a' THEN 'b' ELSE 'a' END"
    )


def _lines(lines: list[int]) -> str:
    """'lines 3, 8 and 9', the first few of them."""
    shown = [str(n) for n in lines[:5]]
    more = f" and {len(lines) - 5} more" if len(lines) > 5 else ""
    if not more and len(shown) > 1:
        return f"lines {', '.join(shown[:-1])} and {shown[-1]}"
    return f"lines {', '.join(shown)}{more}"


def _json(column: str) -> str:
    return f"CAST({column} AS jsonb)" if connection.vendor == "postgresql" else column


def _load(table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    """Append rows to a temporary table: COPY on PostgreSQL, executemany on SQLite."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            names = ", ".join(columns)
            with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join(["%s"] * len(columns))
            cursor.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)


def _execute(sql: str, params: list[Any] | None = None) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def _rows(sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall())


def _scalar(sql: str, params: list[Any] | None = None) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]
