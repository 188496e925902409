"""The `default` ServiceAccount and the `kube-root-ca.crt` ConfigMap, against a live cluster."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.cluster import ServerProcess, wait_for

DESCRIPTION = ("Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints "
               "such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across "
               "distributions of Kubernetes clusters.")


@pytest.fixture
def http(cluster: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=cluster.url, timeout=30) as c:
        yield c


def _get(http: httpx.Client, path: str) -> dict | None:  # type: ignore[type-arg]
    r = http.get(path)
    return r.json() if r.status_code == 200 else None


def _new_namespace(http: httpx.Client) -> str:
    name = "sa-" + uuid.uuid4().hex[:8]
    assert http.post("/api/v1/namespaces", json={"metadata": {"name": name}}).status_code == 201
    return name


def _ca_pem(cluster: ServerProcess) -> str:
    return (cluster.data_dir / "pki" / "ca.crt").read_text()


def test_every_new_namespace_gets_default_sa_and_root_ca(cluster: ServerProcess, http: httpx.Client) -> None:
    names = [_new_namespace(http) for _ in range(3)]
    pem = _ca_pem(cluster)
    assert pem.startswith("-----BEGIN CERTIFICATE-----")
    for ns in names:
        sa = wait_for(lambda ns=ns: _get(http, f"/api/v1/namespaces/{ns}/serviceaccounts/default"),
                      timeout=10, message=f"default ServiceAccount in {ns}")
        assert sa["metadata"]["namespace"] == ns
        cm = wait_for(lambda ns=ns: _get(http, f"/api/v1/namespaces/{ns}/configmaps/kube-root-ca.crt"),
                      timeout=10, message=f"kube-root-ca.crt in {ns}")
        assert cm["data"] == {"ca.crt": pem}
        assert cm["metadata"]["annotations"]["kubernetes.io/description"] == DESCRIPTION
    # the namespaces that exist from the start have them too
    for ns in ("default", "kube-system", "kube-public"):
        wait_for(lambda ns=ns: _get(http, f"/api/v1/namespaces/{ns}/serviceaccounts/default"), timeout=10,
                 message=f"default ServiceAccount in {ns}")
        wait_for(lambda ns=ns: _get(http, f"/api/v1/namespaces/{ns}/configmaps/kube-root-ca.crt"), timeout=10,
                 message=f"kube-root-ca.crt in {ns}")


def test_deleted_ones_are_recreated(http: httpx.Client) -> None:
    ns = _new_namespace(http)
    sa_path = f"/api/v1/namespaces/{ns}/serviceaccounts/default"
    cm_path = f"/api/v1/namespaces/{ns}/configmaps/kube-root-ca.crt"
    sa = wait_for(lambda: _get(http, sa_path), timeout=10, message="default ServiceAccount")
    cm = wait_for(lambda: _get(http, cm_path), timeout=10, message="kube-root-ca.crt")
    assert http.delete(sa_path).status_code == 200
    assert http.delete(cm_path).status_code == 200
    wait_for(lambda: (o := _get(http, sa_path)) and o["metadata"]["uid"] != sa["metadata"]["uid"], timeout=10,
             message="a new default ServiceAccount")
    wait_for(lambda: (o := _get(http, cm_path)) and o["metadata"]["uid"] != cm["metadata"]["uid"], timeout=10,
             message="a new kube-root-ca.crt")


def test_root_ca_configmap_is_kept_equal(cluster: ServerProcess, http: httpx.Client) -> None:
    ns = _new_namespace(http)
    path = f"/api/v1/namespaces/{ns}/configmaps/kube-root-ca.crt"
    wait_for(lambda: _get(http, path), timeout=10, message="kube-root-ca.crt")
    r = http.patch(path, json={"metadata": {"annotations": {"kubernetes.io/description": None}},
                               "data": {"ca.crt": "tampered", "extra": "x"}},
                   headers={"content-type": "application/merge-patch+json"})
    assert r.status_code == 200, r.text
    pem = _ca_pem(cluster)
    cm = wait_for(lambda: (o := _get(http, path)) and o["data"] == {"ca.crt": pem} and o, timeout=10,
                  message="kube-root-ca.crt restored")
    assert cm["metadata"]["annotations"]["kubernetes.io/description"] == DESCRIPTION


def test_terminating_namespace_gets_nothing_new(http: httpx.Client) -> None:
    ns = _new_namespace(http)
    sa_path = f"/api/v1/namespaces/{ns}/serviceaccounts/default"
    wait_for(lambda: _get(http, sa_path), timeout=10, message="default ServiceAccount")
    # a finalizer on some content keeps the namespace Terminating for a while
    r = http.post(f"/api/v1/namespaces/{ns}/configmaps",
                  json={"metadata": {"name": "held", "finalizers": ["example.com/hold"]}})
    assert r.status_code == 201, r.text
    assert http.delete(f"/api/v1/namespaces/{ns}").status_code == 200
    wait_for(lambda: _get(http, sa_path) is None, timeout=15, message="the ServiceAccount deleted with the namespace")
    time.sleep(0.5)  # the controller saw the deletion: it must not recreate it in a Terminating namespace
    assert http.get(f"/api/v1/namespaces/{ns}/serviceaccounts").json()["items"] == []
    held = f"/api/v1/namespaces/{ns}/configmaps/held"
    assert http.patch(held, json={"metadata": {"finalizers": None}},
                      headers={"content-type": "application/merge-patch+json"}).status_code == 200
    wait_for(lambda: http.get(f"/api/v1/namespaces/{ns}").status_code == 404, timeout=20,
             message="the namespace gone")
