"""The embedded catalog: one SQLite table through the standard library, the default when MONGODB_URI is unset.

mongoeco emulated MongoDB on SQLite by decoding every stored document on every write, so its cost grew with the
collection. Here each image is one row: the columns the queries filter and sort on are copied out of the document
and indexed, and the whole document is kept as JSON text, so a write touches a few B-tree pages whatever the size.

Storage rules, which callers see when they read documents back:

* `datetime`/`date` values are stored as ISO-8601 strings (`value.isoformat()`) and come back as strings: JSON has
  no date type. The pipeline writes timezone-aware UTC datetimes, so the strings sort and compare in time order,
  and a `datetime` given in a filter is converted the same way before it is compared.
* NaN and ±Infinity are rejected with ValueError (SQLite's JSON has no such numbers); nothing of the batch is written.
* An upsert replaces the whole document (the pipeline always writes complete documents), where MongoDB's `$set`
  would keep fields the new document lacks.

Concurrency: WAL journal, `synchronous=NORMAL` and a 60 s busy timeout, so two processes (two Dagster runs) can write
the same file at once; each batch of an upsert is one `BEGIN IMMEDIATE` … `COMMIT` transaction, so a crash leaves
whole batches only.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from itertools import islice
from pathlib import Path
from typing import Any

from image_assets.catalog.base import stats_row
from image_assets.catalog.order import DEFAULT_ORDER, Order

TABLE = "images"
BATCH = 500
FETCH = 500  # rows per fetchmany while streaming a find
BUSY_TIMEOUT_S = 60.0
# Writer tuning, measured with pipeline-shaped documents and random ids: a 64 MiB page cache keeps the indexes' hot
# pages, and a long WAL between checkpoints (50,000 pages, ~200 MB on disk at most) coalesces their rewrites, since
# each checkpoint copies every page changed since the last one once. At 150,000 documents 10,000 pages doubled
# SQLite's default (1,000); at 400,000, 50,000 pages gave another third (8,100 upserts/s against 6,200).
WRITER_CACHE_KIB = 65_536
WAL_AUTOCHECKPOINT_PAGES = 50_000
SCHEMA_VERSION = 1  # PRAGMA user_version of a catalog file this module wrote
# Top-level fields copied into indexed columns; every other field is read with json_extract.
COLUMNS = ("source", "source_id", "partition_key", "date", "psnr", "original_sha256")
FIELD_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
RANGE_OPERATORS = {"$gte": ">=", "$lte": "<=", "$gt": ">", "$lt": "<"}
REGEX_METACHARACTERS = frozenset(".^$*+?{}[]|()")
LOWER = "imgpipe_lower"  # SQL function: Python's str.lower, Unicode-aware where SQLite's lower() is ASCII only

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    _id TEXT PRIMARY KEY,
    source TEXT,
    source_id TEXT,
    partition_key TEXT,
    date TEXT,
    psnr REAL,
    original_sha256 TEXT,
    doc TEXT NOT NULL
)"""
# The indexes a listing order (order.ORDERS) reads through end with `_id`, so `--limit N` and keyset pages read N
# index entries, and a whole source-day comes out in order without a sort.
INDEXES = {  # name -> indexed columns
    "images_source_source_id": "source, source_id",
    "images_date_id": "date DESC, _id",  # `newest` forwards, `oldest` backwards
    "images_source_date_id": "source, date, _id",
    "images_psnr_id": "psnr, _id",  # `lowest-psnr` forwards, `highest-psnr` backwards
    "images_partition_sha": "partition_key, original_sha256",  # also serves partition_key = ? (its prefix)
}
# Redundant or replaced; each index costs every write (at 1M documents dropping (date, source) took ~10% off).
OBSOLETE_INDEXES = ("images_partition_key", "images_source_date", "images_psnr", "images_date_source")
UNIQUE_INDEXES = frozenset({"images_source_source_id"})
UPSERT = (
    f"INSERT INTO {TABLE} (_id, {', '.join(COLUMNS)}, doc) VALUES ({', '.join('?' * (len(COLUMNS) + 2))}) "
    f"ON CONFLICT(_id) DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in (*COLUMNS, 'doc'))}"
)
# Hashes shared within a partition are found in the (partition_key, original_sha256) index alone; only their rows
# are then read, never the rest of the partition or of the table.
SAME_CONTENT = f"""
    SELECT original_sha256, _id FROM {TABLE}
    WHERE partition_key = ?1 AND original_sha256 IN (
        SELECT original_sha256 FROM {TABLE}
        WHERE partition_key = ?1 AND original_sha256 IS NOT NULL AND original_sha256 != ''
        GROUP BY original_sha256 HAVING count(*) > 1
    )"""

Row = tuple[Any, ...]


class SQLiteCatalog:
    """The catalog in one SQLite file; the same public interface as `mongo.MongoCatalog` (`base.CatalogStore`).

    Two connections: `find` streams through its own, so a half-consumed `find` never holds a read snapshot on the
    connection that takes the write lock (a stale snapshot cannot be upgraded to a writer), and `get`/`count` on the
    other see the latest writes even inside a `find` loop. A lock serializes their use across threads.
    """

    def __init__(self, path: str | Path, *, batch_size: int = BATCH) -> None:
        if str(path) == ":memory:":
            raise ValueError("the embedded catalog needs a file: its two connections must see the same database")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.path = Path(path)
        self.batch_size = batch_size
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._writer = _connect(self.path)
        try:
            self._writer.execute(f"PRAGMA cache_size = -{WRITER_CACHE_KIB}")
            self._writer.execute(f"PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT_PAGES}")
            self.ensure_indexes()
            self._reader = _connect(self.path)
        except BaseException:
            self._writer.close()
            raise

    def ensure_indexes(self) -> None:
        """Create the table and its indexes if missing; a file that holds other tables (an old mongoeco catalog)
        or a newer schema is refused rather than written into."""
        with self._lock:
            if self._schema_complete():
                return
            with self._transaction():
                tables = {row[0] for row in self._writer.execute("SELECT name FROM sqlite_master WHERE type='table'")}
                version = self._writer.execute("PRAGMA user_version").fetchone()[0]
                if tables and TABLE not in tables:
                    raise ValueError(
                        f"{self.path} is not an imgpipe SQLite catalog (an old mongoeco catalog? copy it with "
                        "image_assets.catalog.migrate.migrate_mongoeco into a new file)"
                    )
                if tables and version != SCHEMA_VERSION:
                    raise ValueError(f"{self.path} has catalog schema version {version}; this code knows only 1")
                self._writer.execute(SCHEMA)
                for name, columns in INDEXES.items():
                    unique = "UNIQUE " if name in UNIQUE_INDEXES else ""
                    self._writer.execute(f"CREATE {unique}INDEX IF NOT EXISTS {name} ON {TABLE} ({columns})")
                for name in OBSOLETE_INDEXES:
                    self._writer.execute(f"DROP INDEX IF EXISTS {name}")
                self._writer.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _schema_complete(self) -> bool:
        """A read-only check, so that opening an existing catalog never waits for another process's write lock."""
        if self._writer.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
            return False
        names = {row[0] for row in self._writer.execute("SELECT name FROM sqlite_master WHERE tbl_name = ?", (TABLE,))}
        return {TABLE, *INDEXES} <= names and not names & set(OBSOLETE_INDEXES)

    def upsert(self, documents: Iterable[Mapping[str, Any]]) -> dict[str, int]:
        """Insert or replace documents by `_id`, `batch_size` at a time, each batch one transaction.

        A batch is encoded before its transaction begins, so a document that cannot be stored (NaN, a type JSON
        cannot hold) fails its batch without writing any of it and without holding the write lock while encoding.
        `updated` counts documents that existed and were replaced, rewritten unchanged or not."""
        inserted = updated = 0
        iterator = iter(documents)
        while batch := list(islice(iterator, self.batch_size)):
            rows = [_row(doc) for doc in batch]
            new, replaced = self._write(rows)
            inserted += new
            updated += replaced
        return {"inserted": inserted, "updated": updated}

    def _write(self, rows: list[Row]) -> tuple[int, int]:
        ids = [row[0] for row in rows]
        with self._lock, self._transaction():
            existing = {
                row[0]
                for row in self._writer.execute(
                    f"SELECT _id FROM {TABLE} WHERE _id IN (SELECT value FROM json_each(?))", (json.dumps(ids),)
                )
            }
            self._writer.executemany(UPSERT, rows)
        inserted = 0
        for doc_id in ids:  # an id repeated within the batch is inserted once, then updated
            if doc_id not in existing:
                inserted += 1
                existing.add(doc_id)
        return inserted, len(ids) - inserted

    def remove_stale(self, partition_key: str, keep_ids: Iterable[str]) -> int:
        """Delete the partition's documents that the latest run no longer produced, in one statement."""
        keep = json.dumps(sorted(set(keep_ids)))
        with self._lock, self._transaction():
            cursor = self._writer.execute(
                f"DELETE FROM {TABLE} WHERE partition_key = ? AND _id NOT IN (SELECT value FROM json_each(?))",
                (partition_key, keep),
            )
            return cursor.rowcount

    def find(
        self, query: Mapping[str, Any] | None = None, *, limit: int = 0, order: Order = DEFAULT_ORDER
    ) -> Iterator[dict[str, Any]]:
        """Matching documents in `order` (newest `date` first then by `_id`), streamed `FETCH` rows at a time.

        The filter is translated (and a bad one raises ValueError) here, before the first document is asked for."""
        where, params = translate(query)
        sql = f"SELECT doc FROM {TABLE}{where} {order.sql()}"
        if limit:
            sql += " LIMIT ?"
            params.append(abs(limit))
        return self._stream(sql, params)

    def _stream(self, sql: str, params: list[Any]) -> Iterator[dict[str, Any]]:
        with self._lock:
            cursor = self._reader.execute(sql, params)
        try:
            while True:
                with self._lock:
                    rows = cursor.fetchmany(FETCH)
                if not rows:
                    return
                for (text,) in rows:
                    yield json.loads(text)
        finally:
            with self._lock, suppress(sqlite3.ProgrammingError):  # the catalog may be closed already
                cursor.close()

    def get(self, doc_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._writer.execute(f"SELECT doc FROM {TABLE} WHERE _id = ?", (doc_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def same_content(self, partition_key: str) -> list[list[str]]:
        """Groups of document ids in a partition whose originals have the same SHA-256: one photo cataloged
        twice under different ids (a source that re-lists an upload under a new id, or a copied file).

        Reads the partition through the (partition_key, original_sha256) index (see SAME_CONTENT)."""
        by_hash: dict[str, list[str]] = {}
        with self._lock:
            for sha, doc_id in self._writer.execute(SAME_CONTENT, (partition_key,)):
                by_hash.setdefault(sha, []).append(doc_id)
        return sorted(sorted(ids) for ids in by_hash.values())

    def count(self, query: Mapping[str, Any] | None = None) -> int:
        where, params = translate(query)
        with self._lock:
            return int(self._writer.execute(f"SELECT count(*) FROM {TABLE}{where}", params).fetchone()[0])

    def stats(self, query: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        where, params = translate(query)
        sql = (
            "SELECT source, date, count(*), sum(json_extract(doc, '$.bytes_in')), "
            "sum(json_extract(doc, '$.bytes_out')), avg(psnr), avg(json_extract(doc, '$.ssim')) "
            f"FROM {TABLE}{where} GROUP BY source, date ORDER BY date DESC, source"
        )
        with self._lock:
            rows = self._writer.execute(sql, params).fetchall()
        return [stats_row(*row) for row in rows]

    def close(self) -> None:
        with self._lock:
            for name in ("_reader", "_writer"):
                connection = getattr(self, name, None)
                if connection is not None:
                    connection.close()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """BEGIN IMMEDIATE takes the write lock up front (waiting up to the busy timeout for another writer), so a
        transaction never fails half-way on a lock upgrade; any exception rolls the whole transaction back."""
        self._writer.execute("BEGIN IMMEDIATE")
        try:
            yield
            self._writer.execute("COMMIT")
        except BaseException:
            if self._writer.in_transaction:
                self._writer.execute("ROLLBACK")
            raise


def _connect(path: Path) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), WAL, synchronous=NORMAL, 60 s busy timeout."""
    connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, check_same_thread=False, autocommit=True)
    try:
        connection.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        _enable_wal(connection)
        connection.execute("PRAGMA synchronous = NORMAL")
        connection.create_function(LOWER, 1, _lower, deterministic=True)
    except BaseException:
        connection.close()
        raise
    return connection


def _enable_wal(connection: sqlite3.Connection) -> None:
    """WAL is a property of the file; switching a new file to it needs a moment alone with it, which two processes
    opening a fresh catalog together may not get at once, so a locked switch is retried up to the busy timeout."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            mode = connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)
            continue
        if str(mode).lower() == "wal":
            return
        if time.monotonic() > deadline:
            raise sqlite3.OperationalError(f"cannot switch the catalog to WAL (journal mode stays {mode!r})")
        time.sleep(0.05)


def _lower(value: object) -> str | None:
    return value.lower() if isinstance(value, str) else None


# --- documents -------------------------------------------------------------------------------------------------


def _json_default(value: object) -> str:
    if isinstance(value, dt.date):  # datetime is a date too
        return value.isoformat()
    raise TypeError(f"a catalog document cannot hold {type(value).__name__} values ({value!r})")


def _row(doc: Mapping[str, Any]) -> Row:
    """(_id, indexed columns…, JSON text) for one document; raises ValueError for a field SQLite cannot hold."""
    doc_id = doc.get("_id")
    if not isinstance(doc_id, str):
        raise ValueError(f"catalog documents need a string _id, got {doc_id!r}")
    try:
        text = json.dumps(doc, default=_json_default, allow_nan=False, ensure_ascii=False, separators=(",", ":"))
    except ValueError as exc:
        path = _non_finite_path(doc)
        if path is None:
            raise
        raise ValueError(
            f"catalog document {doc_id!r}: field {path!r} is not a finite number; SQLite's JSON cannot store "
            "NaN or Infinity, so store a finite value (or null) instead"
        ) from exc
    return (doc_id, *(_sql_value(doc.get(column)) for column in COLUMNS), text)


def _non_finite_path(value: object, path: str = "") -> str | None:
    """The dotted path of the first NaN/±Infinity inside a document, for the error message."""
    if isinstance(value, float) and not math.isfinite(value):
        return path
    children: Iterable[tuple[str, object]] = ()
    if isinstance(value, Mapping):
        children = ((str(key), item) for key, item in value.items())
    elif isinstance(value, list | tuple):
        children = ((str(index), item) for index, item in enumerate(value))
    for key, item in children:
        found = _non_finite_path(item, f"{path}.{key}" if path else key)
        if found is not None:
            return found
    return None


def _sql_value(value: object) -> object:
    """The value as SQLite's json_extract would return it from the stored JSON, so that a column and the JSON
    document never disagree: datetimes as ISO strings, objects and arrays as JSON text."""
    if value is None or isinstance(value, str | int | float):
        return value  # bool binds as 1/0, as json_extract returns true/false
    if isinstance(value, dt.date):
        return value.isoformat()
    return json.dumps(value, default=_json_default, allow_nan=False, ensure_ascii=False, separators=(",", ":"))


# --- MongoDB filters -> SQL --------------------------------------------------------------------------------------


def translate(query: Mapping[str, Any] | None) -> tuple[str, list[Any]]:
    """(" WHERE …" or "", parameters) for the MongoDB filter subset the project uses: equality on top-level fields
    and dotted paths, `$gte`/`$lte`/`$gt`/`$lt`/`$in`/`$ne`, `$regex` with literal patterns (the CLI's
    `re.escape`d names) as a substring match, and `$and`/`$or` of such filters (keyset paging). Anything else
    raises ValueError rather than matching wrongly.

    Values are always SQL parameters; field paths are checked against FIELD_PATH and become either a whitelisted
    column name or a json_extract path parameter."""
    params: list[Any] = []
    clauses = _clauses(query or {}, params)
    return (" WHERE " + " AND ".join(clauses), params) if clauses else ("", params)


def _clauses(query: Mapping[str, Any], params: list[Any]) -> list[str]:
    """SQL conditions (to be ANDed) for one filter document; `$and`/`$or` recurse into their filter lists."""
    clauses: list[str] = []
    for field, condition in query.items():
        if field in ("$and", "$or"):
            if (
                not isinstance(condition, list | tuple)
                or not condition
                or not all(isinstance(part, Mapping) for part in condition)
            ):
                raise ValueError(f"{field} needs a non-empty list of filters")
            parts = [" AND ".join(_clauses(part, params)) or "1" for part in condition]
            joiner = " AND " if field == "$and" else " OR "
            clauses.append("(" + joiner.join(f"({part})" for part in parts) + ")")
            continue
        target = _Target(field)
        if isinstance(condition, Mapping) and any(str(key).startswith("$") for key in condition):
            clauses.extend(_operators(target, condition, params))
        else:
            clauses.append(_equals(target, condition, params))
    return clauses


class _Target:
    """Where a field's value is read: its indexed column, or json_extract of the document."""

    def __init__(self, field: object) -> None:
        if not isinstance(field, str) or not FIELD_PATH.match(field):
            raise ValueError(
                f"unsupported catalog filter field {field!r}: use a field name or a dotted path such as "
                "'attribution.photographer' (of the top-level operators, only $and and $or are supported)"
            )
        self.column = field if field in (*COLUMNS, "_id") else None
        self.path = f"$.{field}"

    def value(self, params: list[Any]) -> str:
        if self.column:
            return self.column
        params.append(self.path)
        return "json_extract(doc, ?)"

    def is_text(self, params: list[Any]) -> str:
        if self.column:
            return f"typeof({self.column}) = 'text'"
        params.append(self.path)
        return "json_type(doc, ?) = 'text'"

    def is_number(self, params: list[Any]) -> str:
        if self.column:
            return f"typeof({self.column}) IN ('integer', 'real')"
        params.append(self.path)
        return "json_type(doc, ?) IN ('integer', 'real')"


def _scalar(value: object, context: str) -> object:
    """A filter value as it is stored: a datetime as its ISO string; documents, arrays and NaN are refused."""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{context}: NaN and Infinity cannot be stored in the catalog, so they never match")
    if value is None or isinstance(value, str | int | float):
        return value
    raise ValueError(f"{context}: unsupported value {value!r} (only strings, numbers, booleans, null and dates)")


def _equals(target: _Target, value: object, params: list[Any]) -> str:
    scalar = _scalar(value, f"filter on {target.path[2:]!r}")
    if scalar is None:  # as in MongoDB, null matches a missing field too
        return f"{target.value(params)} IS NULL"
    expression = target.value(params)
    params.append(scalar)
    return f"{expression} = ?"


def _operators(target: _Target, condition: Mapping[str, Any], params: list[Any]) -> Iterator[str]:
    field = target.path[2:]
    if "$options" in condition and "$regex" not in condition:
        raise ValueError(f"filter on {field!r}: $options only goes with $regex")
    for operator, operand in condition.items():
        context = f"filter {operator} on {field!r}"
        if operator in RANGE_OPERATORS:
            yield _compare(target, RANGE_OPERATORS[operator], _scalar(operand, context), context, params)
        elif operator == "$ne":
            scalar = _scalar(operand, context)
            if scalar is None:
                yield f"{target.value(params)} IS NOT NULL"
            else:
                expression = target.value(params)
                params.append(scalar)
                yield f"{expression} IS NOT ?"
        elif operator == "$in":
            yield _in(target, operand, context, params)
        elif operator == "$regex":
            yield _regex(target, operand, condition.get("$options", ""), context, params)
        elif operator != "$options":
            raise ValueError(
                f"unsupported catalog filter operator {operator!r} on {field!r} "
                "(supported: $gte, $lte, $gt, $lt, $in, $ne, $regex with $options 'i')"
            )


def _compare(target: _Target, sql_operator: str, operand: object, context: str, params: list[Any]) -> str:
    """A range comparison that, like MongoDB's, only matches values of the operand's kind (numbers with numbers,
    strings with strings), where SQLite alone would order every number below every string."""
    if isinstance(operand, bool) or operand is None:
        raise ValueError(f"{context}: compare with a number, a string or a date")
    kind: Callable[[list[Any]], str] = target.is_text if isinstance(operand, str) else target.is_number
    guard = kind(params)
    expression = target.value(params)
    params.append(operand)
    return f"({guard} AND {expression} {sql_operator} ?)"


def _in(target: _Target, operand: object, context: str, params: list[Any]) -> str:
    if not isinstance(operand, list | tuple | set | frozenset):
        raise ValueError(f"{context}: $in needs a list of values")
    values = [_scalar(value, context) for value in operand]
    if not values:
        return "0"
    expression = target.value(params)
    params.append(json.dumps([value for value in values if value is not None]))
    clause = f"{expression} IN (SELECT value FROM json_each(?))"
    if None in values:  # null in $in matches a missing field too
        clause = f"({clause} OR {target.value(params)} IS NULL)"
    return clause


def _regex(target: _Target, pattern: object, options: object, context: str, params: list[Any]) -> str:
    """A regex that is a literal (what `re.escape` produces) becomes a substring test; $options 'i' makes it
    case-insensitive with Python's Unicode lower-casing. Any real regular expression raises ValueError."""
    if not isinstance(pattern, str):
        raise ValueError(f"{context}: the pattern must be a string")
    if options not in ("", "i"):
        raise ValueError(f"{context}: unsupported $options {options!r} (only 'i')")
    literal = _regex_literal(pattern, context)
    guard = target.is_text(params)
    if options == "i":
        expression = f"{LOWER}({target.value(params)})"
        literal = literal.lower()
    else:
        expression = target.value(params)
    params.append(literal)
    return f"({guard} AND instr({expression}, ?) > 0)"


def _regex_literal(pattern: str, context: str) -> str:
    """The text an escaped-literal pattern matches: `\\x` is x for any non-alphanumeric x; an unescaped
    metacharacter or an escape like `\\d` means a real regular expression, which is refused."""
    out: list[str] = []
    chars = iter(pattern)
    for char in chars:
        if char == "\\":
            escaped = next(chars, None)
            if escaped is None or escaped.isalnum():
                raise ValueError(f"{context}: only literal (re.escape'd) patterns are supported, not {pattern!r}")
            out.append(escaped)
        elif char in REGEX_METACHARACTERS:
            raise ValueError(f"{context}: only literal (re.escape'd) patterns are supported, not {pattern!r}")
        else:
            out.append(char)
    return "".join(out)
