from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from apiserver.storage import Backend

if TYPE_CHECKING:
    from tests.etcd_server import EtcdServer

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


@pytest.fixture(scope="session")
def etcd_server() -> Iterator[EtcdServer]:
    """One real etcd (Debian's etcd-server) for the whole session; tests share it by key prefix."""
    from tests.etcd_server import ETCD_BINARY, EtcdServer

    if not os.access(ETCD_BINARY, os.X_OK):
        pytest.fail(
            f"{ETCD_BINARY} is missing: the etcd tests need a real etcd. Run the test setup script "
            "`bash scripts/test.sh` (it installs Debian's etcd-server), or deselect them with `-m 'not etcd'`.",
            pytrace=False,
        )
    server = EtcdServer(ETCD_BINARY)
    try:
        server.start()
        yield server
    finally:
        server.cleanup()
