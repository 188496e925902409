"""One contract suite, run against every backend (memory, sqlite, a real etcd)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from apiserver.storage import Backend, Compacted, Event, FutureRevision


async def _next_events(backend: Backend, after: int, n: int) -> list[Event]:
    out: list[Event] = []
    it = backend.watch(after=after)

    async def take() -> None:
        async for ev in it:
            out.append(ev)
            if len(out) == n:
                return

    await asyncio.wait_for(take(), 10)
    await it.aclose()  # type: ignore[attr-defined]
    return out


async def test_create_then_get(backend: Backend) -> None:
    r = await backend.create("/registry/configmaps/ns/a", b"1")
    assert r.ok and r.revision > 0
    kv = await backend.get("/registry/configmaps/ns/a")
    assert kv is not None
    assert (kv.value, kv.mod_revision, kv.create_revision) == (b"1", r.revision, r.revision)
    assert await backend.get("/registry/configmaps/ns/missing") is None
    assert await backend.current_revision() == r.revision


async def test_create_existing_returns_current(backend: Backend) -> None:
    first = await backend.create("/registry/configmaps/ns/a", b"1")
    again = await backend.create("/registry/configmaps/ns/a", b"2")
    assert not again.ok
    assert again.current is not None and again.current.value == b"1"
    assert again.current.mod_revision == first.revision


async def test_update_at_expected_revision(backend: Backend) -> None:
    first = await backend.create("/registry/configmaps/ns/a", b"1")
    second = await backend.update("/registry/configmaps/ns/a", b"2", expected_revision=first.revision)
    assert second.ok and second.revision > first.revision
    kv = await backend.get("/registry/configmaps/ns/a")
    assert kv is not None
    assert (kv.value, kv.create_revision, kv.mod_revision) == (b"2", first.revision, second.revision)


async def test_stale_update_returns_current(backend: Backend) -> None:
    first = await backend.create("/registry/configmaps/ns/a", b"1")
    await backend.update("/registry/configmaps/ns/a", b"2", expected_revision=first.revision)
    stale = await backend.update("/registry/configmaps/ns/a", b"3", expected_revision=first.revision)
    assert not stale.ok
    assert stale.current is not None and stale.current.value == b"2"
    kv = await backend.get("/registry/configmaps/ns/a")
    assert kv is not None and kv.value == b"2"


async def test_update_missing_key(backend: Backend) -> None:
    r = await backend.update("/registry/configmaps/ns/nope", b"1", expected_revision=5)
    assert not r.ok and r.current is None


async def test_delete_at_revision_and_stale(backend: Backend) -> None:
    first = await backend.create("/registry/configmaps/ns/a", b"1")
    second = await backend.update("/registry/configmaps/ns/a", b"2", expected_revision=first.revision)
    stale = await backend.delete("/registry/configmaps/ns/a", expected_revision=first.revision)
    assert not stale.ok and stale.current is not None and stale.current.value == b"2"
    done = await backend.delete("/registry/configmaps/ns/a", expected_revision=second.revision)
    assert done.ok and done.revision > second.revision
    assert done.current is not None and done.current.value == b"2"
    assert await backend.get("/registry/configmaps/ns/a") is None
    missing = await backend.delete("/registry/configmaps/ns/a", expected_revision=0)
    assert not missing.ok and missing.current is None


async def test_unconditional_delete(backend: Backend) -> None:
    await backend.create("/registry/configmaps/ns/a", b"1")
    r = await backend.delete("/registry/configmaps/ns/a", expected_revision=0)
    assert r.ok


async def test_recreate_after_delete_has_new_create_revision(backend: Backend) -> None:
    first = await backend.create("/registry/configmaps/ns/a", b"1")
    await backend.delete("/registry/configmaps/ns/a", expected_revision=0)
    again = await backend.create("/registry/configmaps/ns/a", b"2")
    assert again.ok
    kv = await backend.get("/registry/configmaps/ns/a")
    assert kv is not None and kv.create_revision == again.revision > first.revision


async def test_list_prefix_order_limit_and_start_key(backend: Backend) -> None:
    for name in ["b", "a", "c", "d"]:
        await backend.create(f"/registry/configmaps/ns/{name}", name.encode())
    await backend.create("/registry/configmaps/other/x", b"x")
    await backend.create("/registry/configmapsx/ns/y", b"y")
    full = await backend.list("/registry/configmaps/ns/")
    assert [kv.value for kv in full.items] == [b"a", b"b", b"c", b"d"]
    assert not full.more and full.revision == await backend.current_revision()
    page = await backend.list("/registry/configmaps/ns/", limit=2)
    assert [kv.value for kv in page.items] == [b"a", b"b"] and page.more
    rest = await backend.list(
        "/registry/configmaps/ns/", start_key=page.items[-1].key + "\x00", limit=2, revision=page.revision
    )
    assert [kv.value for kv in rest.items] == [b"c", b"d"] and not rest.more
    assert await backend.count("/registry/configmaps/ns/") == 4
    assert await backend.count("/registry/configmaps/") == 5


async def test_list_at_old_revision(backend: Backend) -> None:
    a = await backend.create("/registry/configmaps/ns/a", b"1")
    await backend.create("/registry/configmaps/ns/b", b"1")
    await backend.update("/registry/configmaps/ns/a", b"2", expected_revision=a.revision)
    await backend.delete("/registry/configmaps/ns/b", expected_revision=0)
    old = await backend.list("/registry/configmaps/ns/", revision=a.revision)
    assert [(kv.key, kv.value) for kv in old.items] == [("/registry/configmaps/ns/a", b"1")]
    now = await backend.list("/registry/configmaps/ns/")
    assert [(kv.key, kv.value) for kv in now.items] == [("/registry/configmaps/ns/a", b"2")]
    with pytest.raises(FutureRevision):
        await backend.list("/registry/configmaps/ns/", revision=now.revision + 100)


async def test_pagination_is_a_snapshot_under_concurrent_writes(backend: Backend) -> None:
    for i in range(30):
        await backend.create(f"/registry/configmaps/ns/k{i:03}", b"v0")
    first = await backend.list("/registry/configmaps/ns/", limit=10)
    snapshot = first.revision
    # writes between pages: modify, delete, add
    kv = await backend.get("/registry/configmaps/ns/k015")
    assert kv is not None
    await backend.update(kv.key, b"v1", expected_revision=kv.mod_revision)
    await backend.delete("/registry/configmaps/ns/k020", expected_revision=0)
    await backend.create("/registry/configmaps/ns/k0155", b"new")
    seen = list(first.items)
    more = first.more
    while more:
        page = await backend.list(
            "/registry/configmaps/ns/", start_key=seen[-1].key + "\x00", limit=10, revision=snapshot
        )
        assert page.revision == snapshot
        seen += page.items
        more = page.more
    assert [kv.key for kv in seen] == [f"/registry/configmaps/ns/k{i:03}" for i in range(30)]
    assert all(kv.value == b"v0" for kv in seen)


async def test_watch_events_in_revision_order(backend: Backend) -> None:
    start = await backend.current_revision()
    a = await backend.create("/registry/configmaps/ns/a", b"1")
    b = await backend.update("/registry/configmaps/ns/a", b"2", expected_revision=a.revision)
    c = await backend.delete("/registry/configmaps/ns/a", expected_revision=b.revision)
    events = await _next_events(backend, start, 3)
    assert [(e.type, e.revision) for e in events] == [
        ("create", a.revision), ("update", b.revision), ("delete", c.revision)
    ]
    assert events[0].prev is None and events[0].value == b"1"
    assert events[1].prev == b"1" and events[1].value == b"2"
    assert events[2].prev == b"2"
    assert all(e.key == "/registry/configmaps/ns/a" for e in events)
    assert events[1].create_revision == a.revision


async def test_watch_receives_live_events(backend: Backend) -> None:
    start = await backend.current_revision()
    task = asyncio.create_task(_next_events(backend, start, 5))
    await asyncio.sleep(0.2)
    revs = [(await backend.create(f"/registry/configmaps/ns/w{i}", b"x")).revision for i in range(5)]
    events = await task
    assert [e.revision for e in events] == revs


async def test_concurrent_creates_one_wins(backend: Backend) -> None:
    results = await asyncio.gather(*(backend.create("/registry/configmaps/ns/race", b"%d" % i) for i in range(8)))
    assert sum(r.ok for r in results) == 1


async def test_compaction(backend: Backend) -> None:
    a = await backend.create("/registry/configmaps/ns/a", b"1")
    b = await backend.update("/registry/configmaps/ns/a", b"2", expected_revision=a.revision)
    c = await backend.create("/registry/configmaps/ns/b", b"1")
    await backend.delete("/registry/configmaps/ns/b", expected_revision=c.revision)
    d = await backend.update("/registry/configmaps/ns/a", b"3", expected_revision=b.revision)
    await backend.compact(d.revision)
    assert await backend.compacted_revision() == d.revision
    with pytest.raises(Compacted):
        await backend.list("/registry/configmaps/ns/", revision=a.revision)
    with pytest.raises(Compacted):
        async for _ in backend.watch(after=a.revision):
            break
    # the latest values survive, and the state at the compacted revision can still be read
    kv = await backend.get("/registry/configmaps/ns/a")
    assert kv is not None and kv.value == b"3"
    at = await backend.list("/registry/configmaps/ns/", revision=d.revision)
    assert [kv.value for kv in at.items] == [b"3"]
    # watching from the compacted revision itself still works
    e = await backend.update("/registry/configmaps/ns/a", b"4", expected_revision=d.revision)
    events = await _next_events(backend, d.revision, 1)
    assert events[0].revision == e.revision
    # compacting again at an older revision is a no-op
    await backend.compact(a.revision)
    assert await backend.compacted_revision() == d.revision


async def test_values_are_bytes_exact(backend: Backend) -> None:
    payload = bytes(range(256)) * 40
    await backend.create("/registry/secrets/ns/bin", payload)
    kv = await backend.get("/registry/secrets/ns/bin")
    assert kv is not None and kv.value == payload


async def test_large_list_pages_past_message_limits(backend: Backend) -> None:
    """Thousands of objects (several MiB in all) come back whole from one list call."""
    value = b"x" * 2048
    await asyncio.gather(*(backend.create(f"/registry/configmaps/big/k{i:05}", value) for i in range(2500)))
    res = await backend.list("/registry/configmaps/big/")
    assert len(res.items) == 2500 and not res.more


@pytest.fixture
async def backend(any_backend: Backend) -> AsyncIterator[Backend]:
    yield any_backend
