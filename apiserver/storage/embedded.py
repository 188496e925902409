"""``sqlite://``: the default embedded backend, one append-only log table in a SQLite file.

Every write appends one row whose id is the new revision (a kine-shaped log); reads pick the newest row
per key at or below a revision; compaction drops superseded rows. All database work runs on one
dedicated thread with one connection, so writes are serialized and the event loop never blocks.

Group commit: writes wait in a queue; the database thread takes everything queued (up to
``_MAX_BATCH``) and applies it in one transaction, each write still its own compare-and-swap against the
state left by the writes before it, in queue order. One COMMIT (one fsync with synchronous=FULL) then
makes the batch durable, and only after it does any write of the batch get its result. A write that
fails on its own (an SQLite error, a key SQLite cannot encode) gets a StorageError and is rolled back to
its savepoint, its batch-mates go on; a failed COMMIT fails the whole batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from .interface import (
    Compacted,
    Event,
    EventType,
    FutureRevision,
    KeyValue,
    ListResult,
    StorageError,
    WriteResult,
)

T = TypeVar("T")
_Rows = list[tuple[Any, ...]]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kine (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    created INTEGER NOT NULL,
    deleted INTEGER NOT NULL,
    create_revision INTEGER NOT NULL,
    prev_revision INTEGER NOT NULL,
    value BLOB NOT NULL,
    old_value BLOB,
    UNIQUE (name, prev_revision)
);
CREATE INDEX IF NOT EXISTS kine_name ON kine (name);
CREATE INDEX IF NOT EXISTS kine_name_id ON kine (name, id);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""

# newest row per key at or below a revision, in a key range
_LIST = """
SELECT name, value, create_revision, id FROM kine AS k
WHERE name >= ? AND name < ? AND deleted = 0
  AND id = (SELECT MAX(id) FROM kine AS l WHERE l.name = k.name AND l.id <= ?)
ORDER BY name LIMIT ?
"""
_COUNT = """
SELECT COUNT(*) FROM kine AS k
WHERE name >= ? AND name < ? AND deleted = 0
  AND id = (SELECT MAX(id) FROM kine AS l WHERE l.name = k.name)
"""
_LATEST = "SELECT id, deleted, create_revision, value FROM kine WHERE name = ? ORDER BY id DESC LIMIT 1"
_INSERT = (
    "INSERT INTO kine (name, created, deleted, create_revision, prev_revision, value, old_value)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_EVENTS = (
    "SELECT id, name, created, deleted, create_revision, value, old_value FROM kine"
    " WHERE id > ? ORDER BY id LIMIT ?"
)
_SYNC_MODES = ("OFF", "NORMAL", "FULL", "EXTRA")
_WATCH_BATCH = 500
_MAX_BATCH = 256  # writes per group-commit transaction
_NO_END = "\U0010ffff" * 2  # above every key we store (keys never start with U+10FFFF)


@dataclass(slots=True)
class _Write:
    """A queued write. ``expected`` None = create; for delete 0 means any revision."""

    key: str
    value: bytes
    expected: int | None
    delete: bool
    future: asyncio.Future[WriteResult]


_Outcome = WriteResult | BaseException
_Batch = list[_Write]  # ("list" is a method name inside SQLiteBackend)
_Outcomes = list[_Outcome]


def _prefix_end(prefix: str) -> str:
    """The smallest string greater than every string starting with ``prefix``."""
    chars = list(prefix)
    while chars:
        c = ord(chars.pop())
        if c < 0x10FFFF:
            c += 1
            if 0xD800 <= c <= 0xDFFF:  # surrogates cannot be stored
                c = 0xE000
            return "".join(chars) + chr(c)
    return _NO_END


class SQLiteBackend:
    def __init__(
        self,
        path: Path,
        *,
        synchronous: str = "FULL",
        compact_interval: float = 60.0,
        keep_window: int = 1000,
    ) -> None:
        if synchronous.upper() not in _SYNC_MODES:
            raise ValueError(f"synchronous must be one of {_SYNC_MODES}, not {synchronous!r}")
        self._path = Path(path)
        self._synchronous = synchronous.upper()
        self._compact_interval = compact_interval
        self._keep_window = keep_window
        self._executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None  # used only on the executor thread
        self._loop: asyncio.AbstractEventLoop | None = None
        self._rev = 0  # written only on the executor thread
        self._compacted = 0
        self._changed = asyncio.Event()
        self._closed = False
        self._compactor: asyncio.Task[None] | None = None
        # the group-commit queue: appended on the loop, taken on the database thread
        self._queue: list[_Write] = []
        self._queue_lock = threading.Lock()
        self._flush_scheduled = False  # a _flush job is submitted and has not yet taken the queue

    # --- plumbing -------------------------------------------------------------------------------

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        if self._executor is None or self._closed:
            raise StorageError("sqlite backend is not open")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, fn, *args)
        except sqlite3.Error as e:
            raise StorageError(f"sqlite: {e}") from e

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StorageError("sqlite backend is not open")
        return self._conn

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    # --- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._changed = asyncio.Event()
        self._closed = False
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kplane-sqlite")
        await self._run(self._open)
        if self._compact_interval > 0:
            self._compactor = asyncio.create_task(self._compact_periodically())

    def _open(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self._path, isolation_level=None, timeout=30.0)
        try:
            conn.execute("PRAGMA busy_timeout = 30000")
            conn.execute("PRAGMA auto_vacuum = INCREMENTAL")  # effective only before the first table
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StorageError(f"sqlite: cannot enable WAL mode on {self._path} (got {mode})")
            conn.execute(f"PRAGMA synchronous = {self._synchronous}")
            conn.executescript(_SCHEMA)
            row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'kine'").fetchone()
            self._rev = int(row[0]) if row else 0
            row = conn.execute("SELECT value FROM meta WHERE key = 'compacted'").fetchone()
            self._compacted = int(row[0]) if row else 0
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    async def close(self) -> None:
        if self._closed or self._executor is None:
            self._closed = True
            return
        if self._compactor is not None:
            self._compactor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._compactor
            self._compactor = None
        executor = self._executor
        self._closed = True
        self._notify()
        try:
            # queued behind any _flush job already submitted: writes taken by one are committed first
            await asyncio.get_running_loop().run_in_executor(executor, self._close_conn)
        finally:
            executor.shutdown(wait=False)
            self._executor = None
            with self._queue_lock:
                left, self._queue = self._queue, []
                self._flush_scheduled = False
            for w in left:
                if not w.future.done():
                    w.future.set_exception(StorageError("sqlite backend is closed"))

    def _close_conn(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # --- reads ----------------------------------------------------------------------------------

    async def get(self, key: str) -> KeyValue | None:
        return await self._run(self._get, key)

    def _get(self, key: str) -> KeyValue | None:
        row = self._db().execute(_LATEST, (key,)).fetchone()
        if row is None or row[1]:
            return None
        return KeyValue(key, row[3], row[2], row[0])

    async def list(
        self, prefix: str, *, start_key: str = "", limit: int = 0, revision: int = 0
    ) -> ListResult:
        return await self._run(self._list, prefix, start_key, limit, revision)

    def _list(self, prefix: str, start_key: str, limit: int, revision: int) -> ListResult:
        if revision and revision < self._compacted:
            raise Compacted(revision, self._compacted)
        if revision > self._rev:
            raise FutureRevision(revision, self._rev)
        at = revision or self._rev
        rows = self._db().execute(
            _LIST, (max(prefix, start_key), _prefix_end(prefix), at, limit + 1 if limit > 0 else -1)
        ).fetchall()
        more = limit > 0 and len(rows) > limit
        if more:
            rows = rows[:limit]
        return ListResult([KeyValue(r[0], r[1], r[2], r[3]) for r in rows], at, more)

    async def count(self, prefix: str) -> int:
        return await self._run(self._count, prefix)

    def _count(self, prefix: str) -> int:
        return int(self._db().execute(_COUNT, (prefix, _prefix_end(prefix))).fetchone()[0])

    async def current_revision(self) -> int:
        return self._rev

    async def compacted_revision(self) -> int:
        return self._compacted

    # --- writes ---------------------------------------------------------------------------------

    async def create(self, key: str, value: bytes) -> WriteResult:
        return await self._submit(key, value, None, False)

    async def update(self, key: str, value: bytes, *, expected_revision: int) -> WriteResult:
        return await self._submit(key, value, expected_revision, False)

    async def delete(self, key: str, *, expected_revision: int) -> WriteResult:
        return await self._submit(key, b"", expected_revision, True)

    async def _submit(self, key: str, value: bytes, expected: int | None, delete: bool) -> WriteResult:
        executor = self._executor
        if executor is None or self._closed:
            raise StorageError("sqlite backend is not open")
        future: asyncio.Future[WriteResult] = asyncio.get_running_loop().create_future()
        with self._queue_lock:
            self._queue.append(_Write(key, value, expected, delete, future))
            submit = not self._flush_scheduled
            self._flush_scheduled = True
        if submit:
            executor.submit(self._flush)
        # not shielded: a cancelled caller's write may still be committed (as with any store)
        return await future

    def _flush(self) -> None:
        """On the database thread: commit one batch from the queue; resubmit itself while more wait
        (a job per batch, so reads queued meanwhile get their turn between batches)."""
        with self._queue_lock:
            batch = self._queue[:_MAX_BATCH]
            del self._queue[:_MAX_BATCH]
            more = bool(self._queue)
            self._flush_scheduled = more
        if more and self._executor is not None:
            try:
                self._executor.submit(self._flush)
            except RuntimeError:  # shut down: close() fails what is left
                pass
        if not batch:
            return
        outcomes: _Outcomes
        try:
            outcomes = self._commit_batch(batch)
        except BaseException as e:  # handed to every waiter: none of them was acknowledged
            err: BaseException = e
            if isinstance(e, sqlite3.Error):
                err = StorageError(f"sqlite: {e}")
            outcomes = [err] * len(batch)
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):  # loop already closed
                self._loop.call_soon_threadsafe(self._resolve, batch, outcomes)

    def _resolve(self, batch: _Batch, outcomes: _Outcomes) -> None:
        """On the loop: one wake-up per batch hands every write its result, then watchers are told."""
        for w, outcome in zip(batch, outcomes, strict=True):
            if w.future.done():  # the caller was cancelled
                continue
            if isinstance(outcome, BaseException):
                w.future.set_exception(outcome)
            else:
                w.future.set_result(outcome)
        self._notify()

    def _commit_batch(self, batch: _Batch) -> _Outcomes:
        """One transaction for the whole batch; ``self._rev`` moves only once it is committed."""
        db = self._db()
        rev = self._rev
        outcomes: _Outcomes = []
        db.execute("BEGIN IMMEDIATE")
        try:
            for w in batch:
                try:
                    result = self._apply(db, w, rev)
                except Exception as e:  # this write alone fails (e.g. a key SQLite cannot encode)
                    outcomes.append(StorageError(f"sqlite: {e}" if isinstance(e, sqlite3.Error)
                                                 else f"sqlite: {type(e).__name__}: {e}"))
                    continue
                rev = max(rev, result.revision)
                outcomes.append(result)
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        self._rev = rev
        return outcomes

    def _apply(self, db: sqlite3.Connection, w: _Write, rev: int) -> WriteResult:
        """One compare-and-swap inside the batch's transaction: compare against the key's newest row
        (written by an earlier batch-mate or before), then append a row under a savepoint of its own."""
        key = w.key
        row = db.execute(_LATEST, (key,)).fetchone()
        prev_id = 0 if row is None else int(row[0])
        current = None if row is None or row[1] else KeyValue(key, row[3], row[2], row[0])
        if w.expected is None:
            ok = current is None
        else:
            ok = current is not None and (current.mod_revision == w.expected or (w.delete and w.expected == 0))
        if not ok:
            return WriteResult(False, rev, current)
        db.execute("SAVEPOINT kplane_write")
        try:
            if current is None:  # create
                cur = db.execute(_INSERT, (key, 1, 0, 0, prev_id, w.value, None))
                new = int(cur.lastrowid or 0)
                db.execute("UPDATE kine SET create_revision = ? WHERE id = ?", (new, new))
            else:
                cur = db.execute(
                    _INSERT,
                    (key, 0, int(w.delete), current.create_revision, prev_id, w.value, current.value),
                )
                new = int(cur.lastrowid or 0)
        except BaseException:
            db.execute("ROLLBACK TO kplane_write")
            db.execute("RELEASE kplane_write")
            raise
        db.execute("RELEASE kplane_write")
        return WriteResult(True, new, current if w.delete else None)

    # --- compaction -----------------------------------------------------------------------------

    async def compact(self, revision: int) -> None:
        await self._run(self._compact, revision)

    def _compact(self, revision: int) -> None:
        revision = min(revision, self._rev)
        old = self._compacted
        if revision <= old:
            return
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            # rows superseded at or below `revision`: each row names its predecessor in prev_revision
            db.execute(
                "DELETE FROM kine WHERE id IN (SELECT prev_revision FROM kine"
                " WHERE id > ? AND id <= ? AND prev_revision > 0)",
                (old, revision),
            )
            # deletion tombstones older than `revision` (their predecessors went above)
            db.execute("DELETE FROM kine WHERE id >= ? AND id < ? AND deleted = 1", (old, revision))
            db.execute(
                "INSERT INTO meta (key, value) VALUES ('compacted', ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (revision,),
            )
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        self._compacted = revision
        free = int(db.execute("PRAGMA freelist_count").fetchone()[0])
        if free * 4 > int(db.execute("PRAGMA page_count").fetchone()[0]):
            # execute() steps a pragma once (one page); executescript runs it to completion
            db.executescript("PRAGMA incremental_vacuum;")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

    async def _compact_periodically(self) -> None:
        while True:
            await asyncio.sleep(self._compact_interval)
            target = self._rev - self._keep_window
            if target > self._compacted:
                with contextlib.suppress(StorageError):
                    await self.compact(target)

    # --- watch ----------------------------------------------------------------------------------

    def _events_after(self, after: int) -> tuple[int, _Rows]:
        rows = self._db().execute(_EVENTS, (after, _WATCH_BATCH)).fetchall()
        return self._compacted, rows

    async def watch(self, *, after: int) -> AsyncIterator[Event]:
        if after + 1 < self._compacted:
            raise Compacted(after + 1, self._compacted)
        while not self._closed:
            changed = self._changed
            try:
                compacted, rows = await self._run(self._events_after, after)
            except StorageError:
                if self._closed:
                    return
                raise
            if after + 1 < compacted:
                raise Compacted(after + 1, compacted)
            for rid, name, created, deleted, create_rev, value, old_value in rows:
                etype: EventType = "delete" if deleted else "create" if created else "update"
                after = rid
                yield Event(etype, name, value, rid, create_rev, None if created else old_value)
            if len(rows) < _WATCH_BATCH:
                await changed.wait()
