from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from apiserver.storage import Backend
from tests.cluster import ServerProcess

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


# --- API servers: real `kplane apiserver` processes on 127.0.0.1 ---------------------------------


@pytest.fixture(scope="session")
def apiserver() -> Iterator[ServerProcess]:
    """One memory-backed server for the whole session (tests use their own namespaces)."""
    server = ServerProcess("memory://").start()
    yield server
    server.stop()


@pytest.fixture(scope="session", params=["memory", "sqlite", pytest.param("etcd", marks=pytest.mark.etcd)])
def any_apiserver(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The same server on every storage backend."""
    if request.param == "memory":
        server = ServerProcess("memory://")
    elif request.param == "sqlite":
        d = tmp_path_factory.mktemp("sqlite")
        server = ServerProcess(f"sqlite://{d / 'state.db'}", data_dir=d)
    else:
        # its own etcd: the server compacts, which must not disturb the storage contract tests
        from tests.etcd_server import ETCD_BINARY, EtcdServer

        request.getfixturevalue("etcd_server")  # fails clearly when etcd is not installed
        etcd = EtcdServer(ETCD_BINARY)
        etcd.start()
        request.addfinalizer(etcd.cleanup)
        server = ServerProcess("etcd://" + ",".join(etcd.endpoints))
    server.start()
    yield server
    server.stop()


@pytest.fixture(
    scope="session",
    # the labels of conformance.kubectl.KUBECTL_LABELS (not imported here: imports stay at the top)
    params=[
        pytest.param(label, id=f"kubectl-{label}", marks=pytest.mark.kubectl)
        for label in ("1.37", "preinstalled")
    ],
)
def kubectl_bins(request: pytest.FixtureRequest) -> tuple[str, str]:
    """``(label, path)`` of one real kubectl; a test using this runs once per binary.

    See conformance/kubectl.py (run commands with its ``run_kubectl``). A missing binary fails the
    test with a hint to run scripts/test.sh; it is never skipped.
    """
    from conformance.kubectl import KUBECTL_LABELS, KubectlMissingError, kubectl_binaries

    label: str = request.param
    assert label in KUBECTL_LABELS, f"kubectl_bins params out of sync with KUBECTL_LABELS: {label!r}"
    try:
        binaries = dict(kubectl_binaries())
    except KubectlMissingError as e:
        pytest.fail(str(e), pytrace=False)
    return label, binaries[label]


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """An API server with a controller-manager (leader election on), for controller tests."""
    from tests.cluster import ComponentProcess

    server = ServerProcess("memory://", data_dir=tmp_path_factory.mktemp("cluster")).start()
    cm = ComponentProcess(server, "controller-manager", "--log-level", "info",
                          "--root-ca-file", str(server.data_dir / "pki" / "ca.crt")).start()
    yield server
    cm.stop()
    server.stop()
