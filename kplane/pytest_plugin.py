"""pytest plugin (entry point ``pytest11``): a kplane cluster as a fixture.

    def test_deploy(kplane_cluster):
        apps = kubernetes.client.AppsV1Api(kplane_cluster.api_client())
        ...

Options: ``--kplane-nodes N`` (default 0: the API server and nothing else), ``--kplane-runtime``
(simulated|process), ``--kplane-storage`` (memory:// by default). ``kplane_cluster`` is session-scoped;
``kplane_cluster_factory`` starts extra clusters with their own settings for one test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from .testing import LocalCluster


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("kplane")
    group.addoption("--kplane-nodes", type=int, default=0, help="kubelets in the kplane_cluster fixture")
    group.addoption("--kplane-runtime", default="simulated", choices=["simulated", "process"])
    group.addoption("--kplane-storage", default="memory://")


@pytest.fixture(scope="session")
def kplane_cluster(request: pytest.FixtureRequest) -> Iterator[LocalCluster]:
    cluster = LocalCluster(nodes=request.config.getoption("--kplane-nodes"),
                           runtime=request.config.getoption("--kplane-runtime"),
                           storage=request.config.getoption("--kplane-storage"))
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture
def kplane_cluster_factory() -> Iterator[Callable[..., LocalCluster]]:
    started: list[LocalCluster] = []

    def make(**kwargs: object) -> LocalCluster:
        cluster = LocalCluster(**kwargs).start()  # type: ignore[arg-type]
        started.append(cluster)
        return cluster

    yield make
    for cluster in started:
        cluster.stop()
