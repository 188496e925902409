"""EndpointSlice mirroring of hand-written Endpoints (Services without a selector)."""

from __future__ import annotations

import uuid

import httpx

from tests.cluster import ServerProcess, wait_for


def test_mirrors_selectorless_endpoints(cluster: ServerProcess) -> None:
    ns = "m-" + uuid.uuid4().hex[:6]
    with httpx.Client(base_url=cluster.url) as h:
        h.post("/api/v1/namespaces", json={"metadata": {"name": ns}})
        h.post(f"/api/v1/namespaces/{ns}/services",
               json={"metadata": {"name": "ext"}, "spec": {"ports": [{"name": "http", "port": 80}]}})
        h.post(f"/api/v1/namespaces/{ns}/endpoints", json={
            "metadata": {"name": "ext"},
            "subsets": [{"addresses": [{"ip": "10.1.2.3"}], "notReadyAddresses": [{"ip": "10.1.2.4"}],
                         "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}]})

        def slices() -> list[dict]:
            items = h.get(f"/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices",
                          params={"labelSelector": "endpointslice.kubernetes.io/managed-by="
                                                   "endpointslicemirroring-controller.k8s.io"}).json()["items"]
            return list(items)

        [s] = wait_for(lambda: slices(), timeout=20, message="a mirrored EndpointSlice")
        assert s["addressType"] == "IPv4"
        assert s["metadata"]["labels"]["kubernetes.io/service-name"] == "ext"
        assert [(e["addresses"], e["conditions"]["ready"]) for e in s["endpoints"]] == [
            (["10.1.2.3"], True), (["10.1.2.4"], False)]
        assert s["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
        assert s["metadata"]["ownerReferences"][0]["kind"] == "Endpoints"
        ep = h.get(f"/api/v1/namespaces/{ns}/endpoints/ext").json()
        ep["subsets"][0]["addresses"].append({"ip": "10.1.2.5"})
        h.put(f"/api/v1/namespaces/{ns}/endpoints/ext", json=ep)
        wait_for(lambda: (ss := slices()) and len(ss[0]["endpoints"]) == 3, timeout=20)
        h.delete(f"/api/v1/namespaces/{ns}/endpoints/ext")
        wait_for(lambda: slices() == [], timeout=20, message="the mirrored slice to go")
