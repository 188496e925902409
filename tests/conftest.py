from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from apiserver.storage import Backend

_prefixes = itertools.count()


@pytest.fixture(params=["memory", "sqlite", pytest.param("etcd", marks=pytest.mark.etcd)])
async def any_backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    backend: Backend
    if request.param == "memory":
        from apiserver.storage.memory import MemoryBackend

        backend = MemoryBackend()
    elif request.param == "sqlite":
        from apiserver.storage.embedded import SQLiteBackend

        backend = SQLiteBackend(tmp_path / "state.db")
    else:
        from apiserver.storage.etcd import EtcdBackend

        server = request.getfixturevalue("etcd_server")
        # one etcd for the session; each test gets its own key space
        backend = EtcdBackend(server.endpoints, key_prefix=f"/t{next(_prefixes)}")
    await backend.start()
    try:
        yield backend
    finally:
        await backend.close()
