"""The namespace controller against a live cluster: `kubectl delete ns` empties and removes a namespace with
built-in and custom resources inside, and the Terminating conditions are upstream's."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from conformance.kubectl import KUBECTL_137, run_kubectl
from tests.cluster import ServerProcess, wait_for

Obj = dict[str, Any]
MERGE = {"content-type": "application/merge-patch+json"}

CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: crontabs.{group}
spec:
  group: {group}
  scope: Namespaced
  names: {{plural: crontabs, singular: crontab, kind: CronTab, shortNames: [ct{suffix}]}}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              cronSpec: {{type: string}}
              image: {{type: string}}
"""

CRONTAB = """
apiVersion: {group}/v1
kind: CronTab
metadata:
  name: {name}
spec:
  cronSpec: "* * * * */5"
  image: my-awesome-cron-image
"""

CONFIGMAP = """
apiVersion: v1
kind: ConfigMap
metadata: {{name: {name}}}
data: {{k: v}}
"""
SECRET = """
apiVersion: v1
kind: Secret
metadata: {name: creds}
stringData: {p: x}
"""
SERVICE = """
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80}]
"""


@pytest.fixture
def http(cluster: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=cluster.url, timeout=30) as c:
        yield c


def kubectl(cluster: ServerProcess, *args: str, input: str | None = None, timeout: float = 30) -> str:
    r = run_kubectl(KUBECTL_137, cluster.kubeconfig, *args, input=input, timeout=timeout)
    assert r.returncode == 0, r.stderr
    return r.stdout


def items(http: httpx.Client, path: str) -> list[Obj]:
    r = http.get(path)
    assert r.status_code == 200, r.text
    result: list[Obj] = r.json()["items"]
    return result


def conditions(ns: Obj) -> dict[str, tuple[str, str, str]]:
    return {c["type"]: (c["status"], c["reason"], c["message"]) for c in (ns.get("status") or {}).get("conditions")
            or []}


def test_kubectl_delete_namespace_with_content(cluster: ServerProcess, http: httpx.Client) -> None:
    suffix = uuid.uuid4().hex[:6]
    group = f"ns{suffix}.example.com"
    ns = "team-a"
    wait_for(lambda: http.get(f"/api/v1/namespaces/{ns}").status_code == 404, timeout=30,
             message="no team-a left over")
    kubectl(cluster, "apply", "-f", "-", input=CRD.format(group=group, suffix=suffix))
    kubectl(cluster, "wait", "--for=condition=Established", f"crd/crontabs.{group}", "--timeout=20s")
    kubectl(cluster, "create", "namespace", ns)
    kubectl(cluster, "create", "deployment", "web", "--image=nginx", "--replicas=2", "-n", ns)
    kubectl(cluster, "create", "deployment", "api", "--image=nginx", "-n", ns)
    docs = [CONFIGMAP.format(name=f"config-{i}") for i in range(3)]
    docs += [CRONTAB.format(group=group, name=name) for name in ("every-five", "hourly")]
    docs += [SECRET, SERVICE]
    kubectl(cluster, "apply", "-n", ns, "-f", "-", input="---".join(docs))
    assert len(items(http, f"/apis/{group}/v1/namespaces/{ns}/crontabs")) == 2

    t0 = time.monotonic()
    out = kubectl(cluster, "delete", "ns", ns, "--timeout=30s")  # kubectl waits until it is gone
    elapsed = time.monotonic() - t0
    assert f'namespace "{ns}" deleted' in out
    assert http.get(f"/api/v1/namespaces/{ns}").status_code == 404
    assert elapsed < 10, f"namespace took {elapsed:.1f}s to go"  # ~1.5s on an idle machine
    for path in (f"/apis/apps/v1/namespaces/{ns}/deployments", f"/apis/apps/v1/namespaces/{ns}/replicasets",
                 f"/api/v1/namespaces/{ns}/pods", f"/api/v1/namespaces/{ns}/configmaps",
                 f"/api/v1/namespaces/{ns}/secrets", f"/api/v1/namespaces/{ns}/services",
                 f"/api/v1/namespaces/{ns}/serviceaccounts", f"/apis/{group}/v1/namespaces/{ns}/crontabs"):
        assert items(http, path) == [], path
    kubectl(cluster, "delete", "crd", f"crontabs.{group}", "--wait=false")


def test_terminating_conditions_and_finalizers(http: httpx.Client) -> None:
    ns = "ns-" + uuid.uuid4().hex[:8]
    assert http.post("/api/v1/namespaces", json={"metadata": {"name": ns}}).status_code == 201
    for name in ("held-1", "held-2"):
        r = http.post(f"/api/v1/namespaces/{ns}/configmaps",
                      json={"metadata": {"name": name, "finalizers": ["example.com/hold"]}})
        assert r.status_code == 201, r.text
    r = http.post(f"/api/v1/namespaces/{ns}/secrets", json={"metadata": {"name": "plain"}})
    assert r.status_code == 201, r.text
    assert http.delete(f"/api/v1/namespaces/{ns}").status_code == 200

    def remaining() -> Obj | None:
        obj: Obj = http.get(f"/api/v1/namespaces/{ns}").json()
        return obj if "NamespaceContentRemaining" in conditions(obj) else None

    terminating = wait_for(remaining, timeout=15, message="deletion conditions")
    assert terminating["status"]["phase"] == "Terminating"
    assert terminating["spec"]["finalizers"] == ["kubernetes"]
    assert conditions(terminating) == {
        "NamespaceDeletionDiscoveryFailure": ("False", "ResourcesDiscovered", "All resources successfully discovered"),
        "NamespaceDeletionGroupVersionParsingFailure": ("False", "ParsedGroupVersions",
                                                        "All legacy kube types successfully parsed"),
        "NamespaceDeletionContentFailure": ("False", "ContentDeleted",
                                            "All content successfully deleted, may be waiting on finalization"),
        "NamespaceContentRemaining": ("True", "SomeResourcesRemain",
                                      "Some resources are remaining: configmaps. has 2 resource instances"),
        "NamespaceFinalizersRemaining": ("True", "SomeFinalizersRemain",
                                         "Some content in the namespace has finalizers remaining: "
                                         "example.com/hold in 2 resource instances"),
    }
    assert all(c.get("lastTransitionTime") for c in terminating["status"]["conditions"])
    # everything without a finalizer is gone already; the held ones are being deleted
    assert items(http, f"/api/v1/namespaces/{ns}/secrets") == []
    held = items(http, f"/api/v1/namespaces/{ns}/configmaps")
    assert sorted(o["metadata"]["name"] for o in held) == ["held-1", "held-2"]
    assert all(o["metadata"].get("deletionTimestamp") for o in held)
    for name in ("held-1", "held-2"):
        r = http.patch(f"/api/v1/namespaces/{ns}/configmaps/{name}", json={"metadata": {"finalizers": None}},
                       headers=MERGE)
        assert r.status_code == 200, r.text
    wait_for(lambda: http.get(f"/api/v1/namespaces/{ns}").status_code == 404, timeout=15,
             message="the namespace gone once the finalizers are removed")


def test_namespace_with_other_spec_finalizers_waits_for_them(http: httpx.Client) -> None:
    """Only the `kubernetes` finalizer is the controller's; another one keeps the namespace."""
    ns = "ns-" + uuid.uuid4().hex[:8]
    r = http.post("/api/v1/namespaces", json={"metadata": {"name": ns}, "spec": {"finalizers": ["kubernetes",
                                                                                                "example.com/other"]}})
    assert r.status_code == 201, r.text
    assert http.delete(f"/api/v1/namespaces/{ns}").status_code == 200
    left = wait_for(lambda: (o := http.get(f"/api/v1/namespaces/{ns}").json())
                    and o["spec"].get("finalizers") == ["example.com/other"] and o, timeout=15,
                    message="the kubernetes finalizer removed")
    assert left["status"]["phase"] == "Terminating"
    r = http.put(f"/api/v1/namespaces/{ns}/finalize", json={**left, "spec": {"finalizers": []}})
    assert r.status_code == 200, r.text
    wait_for(lambda: http.get(f"/api/v1/namespaces/{ns}").status_code == 404, timeout=10,
             message="the namespace gone")
