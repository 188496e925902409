from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.cluster import ComponentProcess, ServerProcess, wait_for
from tests.kubelet.util import Api


@dataclass
class KubeletCluster:
    server: ServerProcess
    kubelet: ComponentProcess
    api: Api
    node: str


def start_kubelet(server: ServerProcess, node: str, *extra: str) -> ComponentProcess:
    return ComponentProcess(server, "kubelet", "--node-name", node, "--data-dir", str(server.data_dir / node),
                            "--log-level", "info", *extra, log_name=f"kubelet-{node}").start()


def wait_node_ready(api: Api, node: str, kubelet: ComponentProcess, timeout: float = 30) -> None:
    def ready() -> bool:
        assert kubelet.alive(), kubelet.log()
        n = api.get(f"/api/v1/nodes/{node}")
        conds = {c["type"]: c["status"] for c in ((n or {}).get("status") or {}).get("conditions") or []}
        return conds.get("Ready") == "True"

    wait_for(ready, timeout=timeout, message=f"node {node} Ready")


@pytest.fixture(scope="session")
def kl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeletCluster]:
    """An API server and one process-runtime kubelet (node ``kn1``)."""
    server = ServerProcess("memory://", data_dir=tmp_path_factory.mktemp("kubelet")).start()
    # pod IPs are routed on this host (kubelet/network.py): a pod CIDR no concurrent test session uses
    cidr = f"10.{random.randrange(200, 251)}.{random.randrange(0, 256)}.0/24"
    kubelet = start_kubelet(server, "kn1", "--runtime", "process", "--pod-cidr", cidr)
    api = Api(server.url)
    try:
        wait_node_ready(api, "kn1", kubelet)
        yield KubeletCluster(server, kubelet, api, "kn1")
    finally:
        kubelet.stop()
        server.stop()
