"""The pytest plugin's fixture: an API server in a thread, usable by the official client."""

from __future__ import annotations

from kubernetes import client

from kplane.testing import LocalCluster


def test_kplane_cluster_fixture(kplane_cluster: LocalCluster) -> None:
    core = client.CoreV1Api(kplane_cluster.api_client())
    names = {ns.metadata.name for ns in core.list_namespace().items}
    assert "default" in names
    core.create_namespaced_config_map("default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="plug")))
    assert core.read_namespaced_config_map("plug", "default").metadata.name == "plug"
    # start-up time is reported, not asserted (speed lives in benchmarks/)
    print(f"kplane_cluster API server ready in {kplane_cluster.startup_seconds:.3f}s")
    assert kplane_cluster.startup_seconds > 0
