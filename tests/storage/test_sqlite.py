"""SQLite-specific guarantees: durability across kill -9, restarts, bounded size under churn."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

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
