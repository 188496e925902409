"""SQLite-specific guarantees: durability across kill -9, restarts, bounded size under churn."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from apiserver.storage import StorageError, WriteResult
from apiserver.storage.embedded import SQLiteBackend

ROOT = Path(__file__).resolve().parents[2]

WRITER = """
import asyncio, sys
from pathlib import Path
from apiserver.storage.embedded import SQLiteBackend

async def main() -> None:
    b = SQLiteBackend(Path(sys.argv[1]))
    await b.start()
    i = 0
    while True:
        r = await b.create(f"/registry/configmaps/ns/k{i}", b"value-%d" % i)
        assert r.ok
        print(i, r.revision, flush=True)
        i += 1

asyncio.run(main())
"""


async def test_acknowledged_writes_survive_sigkill(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(db)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()  # wait until it is writing
        assert first, "writer produced no output"
        await asyncio.sleep(0.5)
        os.kill(proc.pid, signal.SIGKILL)
        rest = proc.stdout.read()
    finally:
        proc.kill()
        proc.wait()
    acked = [tuple(map(int, line.split())) for line in (first + rest).splitlines() if line.strip()]
    assert len(acked) > 1

    b = SQLiteBackend(db)
    await b.start()
    try:
        for i, rev in acked:
            kv = await b.get(f"/registry/configmaps/ns/k{i}")
            assert kv is not None, f"acknowledged key k{i} lost"
            assert kv.value == b"value-%d" % i and kv.mod_revision == rev
        last = max(rev for _, rev in acked)
        assert await b.current_revision() >= last
        r = await b.create("/registry/configmaps/ns/after", b"x")
        assert r.ok and r.revision > last
    finally:
        await b.close()


async def test_restart_keeps_objects_and_revisions_increase(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    b = SQLiteBackend(db)
    await b.start()
    a = await b.create("/registry/pods/ns/a", b"a1")
    a2 = await b.update("/registry/pods/ns/a", b"a2", expected_revision=a.revision)
    await b.create("/registry/pods/ns/b", b"b1")
    gone = await b.create("/registry/pods/ns/gone", b"g")
    tomb = await b.delete("/registry/pods/ns/gone", expected_revision=gone.revision)
    await b.compact(tomb.revision)
    rev = await b.current_revision()
    await b.close()

    b = SQLiteBackend(db)
    await b.start()
    try:
        assert await b.current_revision() == rev
        assert await b.compacted_revision() == tomb.revision
        listed = await b.list("/registry/pods/ns/")
        assert [(kv.key, kv.value) for kv in listed.items] == [
            ("/registry/pods/ns/a", b"a2"), ("/registry/pods/ns/b", b"b1")
        ]
        kv = await b.get("/registry/pods/ns/a")
        assert kv is not None and (kv.create_revision, kv.mod_revision) == (a.revision, a2.revision)
        # history written before the restart is still watchable from the compacted revision on
        it = b.watch(after=tomb.revision - 1)
        first = await asyncio.wait_for(it.__anext__(), 5)
        assert (first.type, first.revision, first.prev) == ("delete", tomb.revision, b"g")
        await it.aclose()  # type: ignore[attr-defined]
        again = await b.create("/registry/pods/ns/gone", b"g2")
        assert again.ok and again.revision == rev + 1
        upd = await b.update("/registry/pods/ns/a", b"a3", expected_revision=a2.revision)
        assert upd.ok and upd.revision == rev + 2
    finally:
        await b.close()

    # a delete + compaction right before a restart does not make revisions go back
    b = SQLiteBackend(db)
    await b.start()
    try:
        last = await b.current_revision()
        d = await b.delete("/registry/pods/ns/gone", expected_revision=0)
        await b.compact(d.revision + 1)
        await b.close()
        b = SQLiteBackend(db)
        await b.start()
        assert await b.current_revision() == d.revision == last + 1
        r = await b.create("/registry/pods/ns/c", b"c")
        assert r.revision == d.revision + 1
    finally:
        await b.close()


def _rows(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM kine").fetchone()[0])


def _size(db: Path) -> int:
    return sum(p.stat().st_size for p in db.parent.glob(db.name + "*"))


async def test_update_churn_with_compaction_stays_bounded(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    b = SQLiteBackend(db, synchronous="NORMAL", compact_interval=0, keep_window=100)
    await b.start()
    value = b"v" * 1024
    try:
        kv = (await b.create("/registry/leases/ns/hot", value)).revision
        await b.create("/registry/leases/ns/cold", b"cold")
        sizes: dict[int, int] = {}
        for i in range(1, 20_001):
            r = await b.update("/registry/leases/ns/hot", value, expected_revision=kv)
            assert r.ok
            kv = r.revision
            if i % 1000 == 0:
                await b.compact(await b.current_revision() - 100)
                sizes[i] = _size(db)
                assert _rows(db) <= 2 + 101
        # un-compacted, 20k updates of 1 KiB would take > 40 MiB (value + old_value per row)
        assert sizes[20_000] <= 1.5 * sizes[2_000]
        assert sizes[20_000] < 20_000 * len(value) / 10
        got = await b.get("/registry/leases/ns/hot")
        assert got is not None and got.mod_revision == kv
        cold = await b.get("/registry/leases/ns/cold")
        assert cold is not None and cold.value == b"cold"
        assert await b.current_revision() == 20_002
    finally:
        await b.close()


async def test_periodic_compaction(tmp_path: Path) -> None:
    b = SQLiteBackend(tmp_path / "state.db", synchronous="NORMAL", compact_interval=0.05, keep_window=10)
    await b.start()
    try:
        rev = (await b.create("/registry/leases/ns/x", b"0")).revision
        for _ in range(50):
            rev = (await b.update("/registry/leases/ns/x", b"1", expected_revision=rev)).revision
        for _ in range(100):
            if await b.compacted_revision() == rev - 10:
                break
            await asyncio.sleep(0.05)
        assert await b.compacted_revision() == rev - 10
        assert _rows(tmp_path / "state.db") == 11
    finally:
        await b.close()


async def test_group_commit_batch_mates_have_independent_outcomes(tmp_path: Path) -> None:
    """Writes queued together commit in one transaction, each still its own compare-and-swap: a failed
    compare, a duplicate create or a write SQLite cannot store fails alone, its neighbours succeed."""
    db = tmp_path / "state.db"
    b = SQLiteBackend(db, compact_interval=0)
    await b.start()
    batches: list[int] = []
    commit = b._commit_batch

    def recording(batch: Any) -> Any:  # counts the writes per transaction, nothing else
        batches.append(len(batch))
        return commit(batch)

    b._commit_batch = recording  # type: ignore[method-assign]
    try:
        seeded = {name: (await b.create(f"/registry/configmaps/ns/{name}", b"v1")).revision
                  for name in ("a", "b", "c", "d")}
        start = await b.current_revision()
        batches.clear()
        # another connection holds the write lock: the first write waits for it inside its transaction
        # while the others queue up behind it, so they are taken together
        blocker = sqlite3.connect(db, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        writes = [
            b.update("/registry/configmaps/ns/a", b"v2", expected_revision=seeded["a"]),  # ok
            b.update("/registry/configmaps/ns/a", b"v3", expected_revision=seeded["a"]),  # stale now
            b.update("/registry/configmaps/ns/b", b"v2", expected_revision=seeded["b"]),  # ok
            b.create("/registry/configmaps/ns/c", b"again"),  # exists
            b.create("/registry/configmaps/ns/\ud800", b"x"),  # a key SQLite cannot encode
            b.create("/registry/configmaps/ns/e", b"v1"),  # ok
            b.create("/registry/configmaps/ns/e", b"v1-dup"),  # created just before, same batch
            b.delete("/registry/configmaps/ns/d", expected_revision=seeded["d"]),  # ok
            b.update("/registry/configmaps/ns/missing", b"v", expected_revision=1),  # missing
        ]
        tasks = [asyncio.ensure_future(w) for w in writes]
        await asyncio.sleep(0.3)
        assert not any(t.done() for t in tasks)  # nothing is acknowledged before its commit
        blocker.execute("ROLLBACK")
        blocker.close()
        results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 30)
    finally:
        await b.close()
    assert max(batches) >= len(writes) - 1, batches  # all but (at most) the first in one transaction

    upd_a, stale_a, upd_b, dup_c, bad, new_e, dup_e, del_d, missing = results
    ok = [upd_a, upd_b, new_e, del_d]
    assert all(isinstance(r, WriteResult) and r.ok for r in ok), results
    assert [r.revision for r in ok] == list(range(start + 1, start + 5))  # type: ignore[union-attr]
    assert isinstance(stale_a, WriteResult) and not stale_a.ok
    assert stale_a.current is not None and stale_a.current.value == b"v2"
    assert stale_a.current.mod_revision == upd_a.revision  # type: ignore[union-attr]
    assert isinstance(dup_c, WriteResult) and not dup_c.ok and dup_c.current is not None
    assert dup_c.current.value == b"v1"
    assert isinstance(bad, StorageError)
    assert isinstance(dup_e, WriteResult) and not dup_e.ok and dup_e.current is not None
    assert (dup_e.current.value, dup_e.current.mod_revision) == (b"v1", new_e.revision)  # type: ignore[union-attr]
    assert isinstance(del_d, WriteResult) and del_d.current is not None and del_d.current.value == b"v1"
    assert isinstance(missing, WriteResult) and not missing.ok and missing.current is None

    # durable and watchable, in revision order, after a restart
    b = SQLiteBackend(db, compact_interval=0)
    await b.start()
    try:
        assert await b.current_revision() == start + 4
        listed = await b.list("/registry/configmaps/ns/")
        assert [(kv.key.rsplit("/", 1)[1], kv.value) for kv in listed.items] == [
            ("a", b"v2"), ("b", b"v2"), ("c", b"v1"), ("e", b"v1")
        ]
        it = b.watch(after=start)
        events = [await asyncio.wait_for(it.__anext__(), 5) for _ in range(4)]
        await it.aclose()  # type: ignore[attr-defined]
        assert [(e.type, e.key.rsplit("/", 1)[1], e.revision) for e in events] == [
            ("update", "a", start + 1), ("update", "b", start + 2), ("create", "e", start + 3),
            ("delete", "d", start + 4),
        ]
    finally:
        await b.close()


async def test_concurrent_writes_group_commit_and_stay_ordered(tmp_path: Path) -> None:
    """Many writers at once: fewer transactions than writes, every acknowledged revision distinct, and
    the watch sees them all in strictly increasing revision order."""
    b = SQLiteBackend(tmp_path / "state.db", compact_interval=0)
    await b.start()
    batches: list[int] = []
    commit = b._commit_batch

    def recording(batch: Any) -> Any:
        batches.append(len(batch))
        return commit(batch)

    b._commit_batch = recording  # type: ignore[method-assign]
    try:
        start = await b.current_revision()

        async def writer(w: int) -> list[int]:
            rev = (await b.create(f"/registry/leases/ns/w{w}", b"0")).revision
            revs = [rev]
            for i in range(1, 20):
                r = await b.update(f"/registry/leases/ns/w{w}", b"%d" % i, expected_revision=rev)
                assert r.ok
                rev = r.revision
                revs.append(rev)
            return revs

        per_writer = await asyncio.wait_for(asyncio.gather(*(writer(w) for w in range(32))), 60)
        acked = sorted(r for revs in per_writer for r in revs)
        assert acked == list(range(start + 1, start + 1 + 32 * 20))
        assert len(batches) < len(acked)
        it = b.watch(after=start)
        seen = [(await asyncio.wait_for(it.__anext__(), 5)).revision for _ in range(len(acked))]
        await it.aclose()  # type: ignore[attr-defined]
        assert seen == acked
    finally:
        await b.close()


async def test_close_fails_queued_writes_and_later_ones(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    b = SQLiteBackend(db, compact_interval=0)
    await b.start()
    await b.create("/registry/configmaps/ns/first", b"1")
    blocker = sqlite3.connect(db, isolation_level=None, timeout=30)
    blocker.execute("BEGIN IMMEDIATE")
    tasks = [asyncio.ensure_future(b.create(f"/registry/configmaps/ns/k{i}", b"v")) for i in range(5)]
    await asyncio.sleep(0.2)
    closing = asyncio.ensure_future(b.close())
    await asyncio.sleep(0.2)
    blocker.execute("ROLLBACK")
    blocker.close()
    await asyncio.wait_for(closing, 30)
    results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 30)
    # taken before close: committed; still queued: refused. Either way an answer, no hang.
    assert all((isinstance(r, WriteResult) and r.ok) or isinstance(r, StorageError) for r in results), results
    with pytest.raises(StorageError):
        await b.create("/registry/configmaps/ns/late", b"x")
    b2 = SQLiteBackend(db, compact_interval=0)
    await b2.start()
    try:
        for i, r in enumerate(results):
            kv = await b2.get(f"/registry/configmaps/ns/k{i}")
            assert (kv is not None) == isinstance(r, WriteResult)
    finally:
        await b2.close()
