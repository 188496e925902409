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


def test_cluster_with_a_node_runs_a_deployment(kplane_cluster_factory) -> None:  # type: ignore[no-untyped-def]
    import time

    cluster = kplane_cluster_factory(nodes=1, runtime="simulated")
    print(f"API server ready in {cluster.startup_seconds:.3f}s")
    apps = client.AppsV1Api(cluster.api_client())
    core = client.CoreV1Api(cluster.api_client())
    apps.create_namespaced_deployment("default", {
        "metadata": {"name": "web"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}})
    deadline = time.monotonic() + 60
    while True:
        pods = core.list_namespaced_pod("default", label_selector="app=web").items
        if len(pods) == 2 and all(p.status.phase == "Running" for p in pods):
            break
        assert time.monotonic() < deadline, [(p.metadata.name, p.status.phase) for p in pods]
        time.sleep(0.1)
    assert "Running" in cluster.kubectl("get", "pods", "-l", "app=web").stdout
