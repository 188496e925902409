"""Per-pod /etc/hosts and /etc/resolv.conf (kubelet/dns.py) in the process runtime, as root.

Two kubelets of their own on the session's API server, both with pod sandbox network namespaces and
mount namespaces: one with ``--cluster-dns``, one without (ClusterFirst falls back to Default).
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubelet.dns import DNSConfig, hosts_file, pod_dns, resolv_conf
from tests.cluster import wait_for
from tests.kubelet.conftest import KubeletCluster, start_kubelet, wait_node_ready
from tests.kubelet.util import Obj, container, phase, pod, ready

log = logging.getLogger(__name__)

CLUSTER_DNS = "10.96.0.10"
HEADER = ("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
          "fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n")
FLAGS = ("--pod-network", "netns", "--volume-mounts", "namespace")


def _kubelet(kl: KubeletCluster, prefix: str, *flags: str) -> Iterator[KubeletCluster]:
    node = f"{prefix}-{uuid.uuid4().hex[:6]}"
    cidr = f"10.{random.randrange(200, 251)}.{random.randrange(0, 256)}.0/24"
    kubelet = start_kubelet(kl.server, node, "--runtime", "process", "--pod-cidr", cidr, *FLAGS, *flags)
    try:
        wait_node_ready(kl.api, node, kubelet)
        yield KubeletCluster(kl.server, kubelet, kl.api, node)
    finally:
        kubelet.stop()


@pytest.fixture(scope="module")
def kd(kl: KubeletCluster) -> Iterator[KubeletCluster]:
    """With ``--cluster-dns``."""
    yield from _kubelet(kl, "kd", "--cluster-dns", CLUSTER_DNS)


@pytest.fixture(scope="module")
def kn(kl: KubeletCluster) -> Iterator[KubeletCluster]:
    """Without ``--cluster-dns``."""
    yield from _kubelet(kl, "kn")


def _log(k: KubeletCluster, ns: str, name: str) -> str:
    return k.api.http.get(f"/api/v1/namespaces/{ns}/pods/{name}/log").text


def _run(k: KubeletCluster, ns: str, name: str, script: str, **spec: object) -> tuple[Obj, str]:
    """Run ``sh -c script`` in a pod to completion: (the pod, its log)."""
    k.api.create_pod(ns, pod(name, k.node, container("c", "sh", "-c", script), restart="Never", **spec))
    p = k.api.wait_pod(ns, name, lambda p: phase(p) in ("Succeeded", "Failed"), timeout=30)
    out = _log(k, ns, name)
    assert phase(p) == "Succeeded", (p.get("status"), out)
    return p, out


def _events(k: KubeletCluster, ns: str, name: str) -> list[Obj]:
    items = (k.api.get(f"/api/v1/namespaces/{ns}/events") or {}).get("items") or []
    return [e for e in items if (e.get("involvedObject") or {}).get("name") == name]


# --- the files inside pods ----------------------------------------------------------------------------


def test_hosts_file_with_host_aliases(kd: KubeletCluster) -> None:
    ns = kd.api.namespace("dns")
    aliases = [{"ip": "127.0.0.1", "hostnames": ["foo.local", "bar.local"]},
               {"ip": "10.1.2.3", "hostnames": ["foo.remote"]}]
    p, out = _run(kd, ns, "hosts", "cat /etc/hosts", hostAliases=aliases)
    ip = p["status"]["podIP"]
    assert out == (HEADER + f"{ip}\thosts\n\n# Entries added by HostAliases.\n"
                   "127.0.0.1\tfoo.local\tbar.local\n10.1.2.3\tfoo.remote\n")


def test_hosts_file_has_the_fqdn_with_a_subdomain(kd: KubeletCluster) -> None:
    ns = kd.api.namespace("dns")
    p, out = _run(kd, ns, "fqdn", "cat /etc/hosts; hostname", hostname="web-0", subdomain="web")
    ip = p["status"]["podIP"]
    assert out == HEADER + f"{ip}\tweb-0.web.{ns}.svc.cluster.local\tweb-0\nweb-0\n"


def test_cluster_first_with_cluster_dns(kd: KubeletCluster) -> None:
    ns = kd.api.namespace("dns")
    _, out = _run(kd, ns, "cf", "cat /etc/resolv.conf")
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["search", f"{ns}.svc.cluster.local", "svc.cluster.local", "cluster.local"]
    assert lines[1:] == [f"nameserver {CLUSTER_DNS}", "options ndots:5"]
    assert not [e for e in _events(kd, ns, "cf") if e.get("reason") == "MissingClusterDNS"]


def test_cluster_first_dns_config_is_merged(kd: KubeletCluster) -> None:
    ns = kd.api.namespace("dns")
    config = {"nameservers": ["10.0.0.53", CLUSTER_DNS], "searches": ["example.test", "cluster.local"],
              "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}]}
    _, out = _run(kd, ns, "merge", "cat /etc/resolv.conf", dnsConfig=config)
    lines = out.splitlines()
    search = lines[0].split()
    assert search[:4] == ["search", f"{ns}.svc.cluster.local", "svc.cluster.local", "cluster.local"]
    assert search[-1] == "example.test" and search.count("cluster.local") == 1
    assert lines[1:] == [f"nameserver {CLUSTER_DNS}", "nameserver 10.0.0.53", "options ndots:2 edns0"]


def test_dns_policy_none_uses_dns_config_only(kd: KubeletCluster) -> None:
    ns = kd.api.namespace("dns")
    config = {"nameservers": ["192.0.2.1"], "searches": ["a.test", "b.test"],
              "options": [{"name": "timeout", "value": "1"}]}
    _, out = _run(kd, ns, "none", "cat /etc/resolv.conf", dnsPolicy="None", dnsConfig=config)
    assert out == "search a.test b.test\nnameserver 192.0.2.1\noptions timeout:1\n"


def test_cluster_first_without_cluster_dns_falls_back_and_warns(kn: KubeletCluster) -> None:
    ns = kn.api.namespace("dns")
    _, out = _run(kn, ns, "fallback", "cat /etc/resolv.conf")
    assert "nameserver 127.0.0.1" in out.splitlines(), out
    assert "nameserver" not in out.replace("nameserver 127.0.0.1", ""), out  # not the host's nameserver
    wait_for(lambda: [e for e in _events(kn, ns, "fallback") if e.get("reason") == "MissingClusterDNS"],
             timeout=15, message="MissingClusterDNS event")
    event = next(e for e in _events(kn, ns, "fallback") if e.get("reason") == "MissingClusterDNS")
    assert event["type"] == "Warning"
    assert event["message"] == ('kubelet does not have ClusterDNS IP configured and cannot create Pod using '
                                '"ClusterFirst" policy. Falling back to "Default" policy.')


def test_host_network_pod_sees_the_host_files(kd: KubeletCluster) -> None:
    ns = kd.api.namespace("dns")
    _, out = _run(kd, ns, "hostnet", "cat /etc/resolv.conf; echo ---; cat /etc/hosts", hostNetwork=True)
    assert out == Path("/etc/resolv.conf").read_text() + "---\n" + Path("/etc/hosts").read_text()


def test_container_mount_at_etc_hosts_wins(kd: KubeletCluster) -> None:
    ns = kd.api.namespace("dns")
    kd.api.create(f"/api/v1/namespaces/{ns}/configmaps", {"apiVersion": "v1", "kind": "ConfigMap",
                                                           "metadata": {"name": "h"}, "data": {"hosts": "mine\n"}})
    _, out = _run(kd, ns, "own", "cat /etc/hosts; head -1 /etc/resolv.conf",
                  volumes=[{"name": "h", "configMap": {"name": "h"}}])
    assert out.startswith("# Kubernetes-managed hosts file.\n")  # no mount of its own: the kubelet's
    kd.api.create_pod(ns, pod("own2", kd.node, container(
        "c", "sh", "-c", "cat /etc/hosts; head -1 /etc/resolv.conf",
        volumeMounts=[{"name": "h", "mountPath": "/etc/hosts", "subPath": "hosts"}]),
        restart="Never", volumes=[{"name": "h", "configMap": {"name": "h"}}]))
    p = kd.api.wait_pod(ns, "own2", lambda p: phase(p) in ("Succeeded", "Failed"), timeout=30)
    out = _log(kd, ns, "own2")
    assert phase(p) == "Succeeded", (p.get("status"), out)
    lines = out.splitlines()
    assert lines[0] == "mine" and lines[1].startswith(f"search {ns}.svc.cluster.local "), out


def test_exec_sees_the_pod_files(kd: KubeletCluster) -> None:
    ns = kd.api.namespace("dns")
    probe = {"exec": {"command": ["grep", "-q", f"nameserver {CLUSTER_DNS}", "/etc/resolv.conf"]},
             "periodSeconds": 1}
    kd.api.create_pod(ns, pod("ex", kd.node, container("c", "sleep", "1000", readinessProbe=probe)))
    kd.api.wait_pod(ns, "ex", ready)
    kd.api.delete(f"/api/v1/namespaces/{ns}/pods/ex", gracePeriodSeconds=0)


def test_name_lookups_fail_fast_in_a_pod(kn: KubeletCluster) -> None:
    """Python's getfqdn (http.server calls it at bind) must not wait for an unreachable nameserver."""
    ns = kn.api.namespace("dns")
    script = "import socket, time; t = time.time(); socket.getfqdn('0.0.0.0'); print(time.time() - t)"
    kn.api.create_pod(ns, pod("fqdn", kn.node, container("c", "python3", "-c", script), restart="Never"))
    p = kn.api.wait_pod(ns, "fqdn", lambda p: phase(p) in ("Succeeded", "Failed"), timeout=20)
    out = _log(kn, ns, "fqdn")
    assert phase(p) == "Succeeded", (p.get("status"), out)
    log.warning("getfqdn('0.0.0.0') in a pod took %s s", out.strip())


# --- the pure parts -----------------------------------------------------------------------------------


def _pod(ns: str = "ns", **spec: object) -> Obj:
    return {"metadata": {"name": "p", "namespace": ns}, "spec": dict(spec)}


def test_pod_dns_policies() -> None:
    host = DNSConfig(["10.255.255.53"], ["corp.example"], ["edns0"])
    cfg, events = pod_dns(_pod(), ["10.96.0.10"], host=host)
    assert (resolv_conf(cfg), events) == ("search ns.svc.cluster.local svc.cluster.local cluster.local corp.example\n"
                                          "nameserver 10.96.0.10\noptions ndots:5\n", [])
    cfg, events = pod_dns(_pod(dnsPolicy="Default"), ["10.96.0.10"], host=host)
    assert resolv_conf(cfg) == "search corp.example\nnameserver 127.0.0.1\noptions edns0\n" and not events
    cfg, _ = pod_dns(_pod(hostNetwork=True), ["10.96.0.10"], host=host)  # ClusterFirst + hostNetwork: Default
    assert cfg.nameservers == ["127.0.0.1"]
    cfg, _ = pod_dns(_pod(hostNetwork=True, dnsPolicy="ClusterFirstWithHostNet"), ["10.96.0.10"], host=host)
    assert cfg.nameservers == ["10.96.0.10"]
    cfg, _ = pod_dns(_pod(dnsPolicy="None", dnsConfig={"nameservers": ["1.1.1.1"]}), ["10.96.0.10"], host=host)
    assert resolv_conf(cfg) == "nameserver 1.1.1.1\n"


def test_pod_dns_limits_warn() -> None:
    many = {"nameservers": ["1.1.1.1", "1.1.1.2", "1.1.1.3"], "searches": [f"d{i}.test" for i in range(40)]}
    cfg, events = pod_dns(_pod(dnsConfig=many), ["10.96.0.10"], host=DNSConfig())
    assert cfg.nameservers == ["10.96.0.10", "1.1.1.1", "1.1.1.2"] and len(cfg.searches) == 32
    assert [e[1] for e in events] == ["DNSConfigForming", "DNSConfigForming"]
    assert events[0][2] == ("Nameserver limits were exceeded, some nameservers have been omitted, the applied "
                            "nameserver line is: 10.96.0.10 1.1.1.1 1.1.1.2")


def test_hosts_file_long_name_is_cut() -> None:
    p = {"metadata": {"name": "a" * 62 + "-b", "namespace": "n"}, "spec": {}}
    assert hosts_file(p, ["10.0.0.5"]).endswith("10.0.0.5\t" + "a" * 62 + "\n")
