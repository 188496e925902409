"""ClusterIP and NodePort allocation."""

from __future__ import annotations

import ipaddress

import httpx


def svc(name: str, **spec: object) -> dict:
    return {"metadata": {"name": name}, "spec": {"ports": [{"port": 80}], "selector": {"app": name}, **spec}}


def test_kubernetes_service_holds_first_ip(http: httpx.Client) -> None:
    s = http.get("/api/v1/namespaces/default/services/kubernetes").json()
    assert s["spec"]["clusterIP"] == "10.96.0.1" and s["spec"]["clusterIPs"] == ["10.96.0.1"]
    assert s["spec"]["ports"][0]["port"] == 443


def test_cluster_ip_allocated_unique_and_released(http: httpx.Client, namespace: str) -> None:
    url = f"/api/v1/namespaces/{namespace}/services"
    ips = set()
    for i in range(5):
        r = http.post(url, json=svc(f"s{i}"))
        assert r.status_code == 201, r.text
        ip = r.json()["spec"]["clusterIP"]
        assert ipaddress.ip_address(ip) in ipaddress.ip_network("10.96.0.0/12")
        assert r.json()["spec"]["ipFamilies"] == ["IPv4"]
        ips.add(ip)
    assert len(ips) == 5
    taken = sorted(ips)[0]
    r = http.post(url, json=svc("dup", clusterIP=taken))
    assert r.status_code == 422
    assert "provided IP is already allocated" in r.json()["message"]
    assert http.get(f"/apis/networking.k8s.io/v1/ipaddresses/{taken}").status_code == 200
    owner = next(n for n in (f"s{i}" for i in range(5))
                 if http.get(f"{url}/{n}").json()["spec"]["clusterIP"] == taken)
    http.delete(f"{url}/{owner}")
    r = http.post(url, json=svc("reuse", clusterIP=taken))
    assert r.status_code == 201 and r.json()["spec"]["clusterIP"] == taken


def test_headless_and_external_name(http: httpx.Client, namespace: str) -> None:
    url = f"/api/v1/namespaces/{namespace}/services"
    r = http.post(url, json=svc("headless", clusterIP="None"))
    assert r.json()["spec"]["clusterIP"] == "None"
    r = http.post(url, json={"metadata": {"name": "ext"}, "spec": {"type": "ExternalName",
                                                                    "externalName": "example.com"}})
    assert r.status_code == 201 and "clusterIP" not in r.json()["spec"]


def test_node_ports(http: httpx.Client, namespace: str) -> None:
    url = f"/api/v1/namespaces/{namespace}/services"
    r = http.post(url, json=svc("np", type="NodePort"))
    port = r.json()["spec"]["ports"][0]["nodePort"]
    assert 30000 <= port <= 32767
    spec = svc("np2", type="NodePort")
    spec["spec"]["ports"][0]["nodePort"] = port
    r = http.post(url, json=spec)
    assert r.status_code == 422 and "provided port is already allocated" in r.json()["message"]


def test_out_of_range_ip(http: httpx.Client, namespace: str) -> None:
    r = http.post(f"/api/v1/namespaces/{namespace}/services", json=svc("far", clusterIP="192.168.1.1"))
    assert r.status_code == 422 and "not in the valid range" in r.json()["message"]
