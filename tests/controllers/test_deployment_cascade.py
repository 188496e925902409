"""`kubectl delete deploy` with each cascade mode, through the deployment, replicaset and GC controllers."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.cluster import ServerProcess, wait_for
from tests.controllers.util import kubectl, live_pods, new_namespace


@pytest.fixture
def http(cluster: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=cluster.url, timeout=30) as c:
        yield c


def replicasets(http: httpx.Client, ns: str) -> list[dict]:
    return list(http.get(f"/apis/apps/v1/namespaces/{ns}/replicasets").json()["items"])


def deploy(cluster: ServerProcess, http: httpx.Client, ns: str) -> None:
    kubectl(cluster, "create", "deployment", "web", "--image=nginx", "--replicas=3", "-n", ns)
    wait_for(lambda: len(replicasets(http, ns)) == 1 and len(live_pods(http, ns)) == 3, timeout=30,
             message="one ReplicaSet and three pods")
    [rs] = replicasets(http, ns)
    assert rs["metadata"]["ownerReferences"][0]["kind"] == "Deployment"
    for pod in live_pods(http, ns):
        assert pod["metadata"]["ownerReferences"][0]["name"] == rs["metadata"]["name"]
        assert pod["metadata"]["labels"]["app"] == "web" and "pod-template-hash" in pod["metadata"]["labels"]


def test_background_removes_replicasets_and_pods(cluster: ServerProcess, http: httpx.Client) -> None:
    ns = new_namespace(http, "cas")
    deploy(cluster, http, ns)
    kubectl(cluster, "delete", "deploy", "web", "-n", ns)
    wait_for(lambda: not replicasets(http, ns) and not live_pods(http, ns), timeout=30,
             message="ReplicaSets and pods gone")


def test_orphan_leaves_them(cluster: ServerProcess, http: httpx.Client) -> None:
    ns = new_namespace(http, "cas")
    deploy(cluster, http, ns)
    kubectl(cluster, "delete", "deploy", "web", "-n", ns, "--cascade=orphan")
    wait_for(lambda: http.get(f"/apis/apps/v1/namespaces/{ns}/deployments/web").status_code == 404, timeout=30)
    [rs] = wait_for(lambda: (r := replicasets(http, ns)) and not r[0]["metadata"].get("ownerReferences") and r,
                    timeout=30, message="the orphaned ReplicaSet")
    assert len(live_pods(http, ns)) == 3


def test_foreground_deletes_the_deployment_last(cluster: ServerProcess, http: httpx.Client) -> None:
    ns = new_namespace(http, "cas")
    deploy(cluster, http, ns)
    kubectl(cluster, "delete", "deploy", "web", "-n", ns, "--cascade=foreground", "--wait=false")
    d = http.get(f"/apis/apps/v1/namespaces/{ns}/deployments/web")
    if d.status_code == 200:  # still there while its dependents go
        assert "foregroundDeletion" in d.json()["metadata"]["finalizers"]
    wait_for(lambda: http.get(f"/apis/apps/v1/namespaces/{ns}/deployments/web").status_code == 404
             and not replicasets(http, ns) and not live_pods(http, ns), timeout=30, message="everything gone")
