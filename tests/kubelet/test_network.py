"""Pod networking of the process runtime: per-pod network namespaces on a node bridge (we run as root)."""

from __future__ import annotations

import ipaddress
import os
import random
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from conformance.kubectl import kubectl_binary, run_kubectl
from kubelet.network import PodNetwork
from tests.cluster import ComponentProcess, ServerProcess, wait_for
from tests.kubelet.conftest import start_kubelet, wait_node_ready
from tests.kubelet.util import Api, container, phase, pod, ready

Obj = dict[str, object]


def random_cidr() -> str:
    """A /24 no other test session is likely to use at the same time (their routes would clash)."""
    return f"10.{random.randint(200, 250)}.{random.randint(0, 255)}.0/24"


@dataclass
class Net:
    server: ServerProcess
    kubelet: ComponentProcess
    api: Api
    node: str
    cidr: str

    @property
    def data_dir(self) -> Path:
        return self.server.data_dir / self.node

    def network(self) -> PodNetwork:
        """Names and state paths as the kubelet computes them (nothing is created)."""
        return PodNetwork(self.node, self.data_dir, enabled=False, pids={})

    def kubectl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_kubectl(kubectl_binary("1.37"), self.server.kubeconfig, *args, timeout=30)


def link_exists(name: str) -> bool:
    return subprocess.run(["ip", "link", "show", name], capture_output=True).returncode == 0


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() == "sleep"
    except OSError:
        return False


def start_node(server: ServerProcess, node: str, cidr: str, *extra: str) -> ComponentProcess:
    kubelet = start_kubelet(server, node, "--runtime", "process", "--pod-cidr", cidr, *extra)
    wait_node_ready(Api(server.url), node, kubelet)
    return kubelet


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Net]:
    server = ServerProcess("memory://", data_dir=tmp_path_factory.mktemp("net")).start()
    node, cidr = f"knet{random.randint(1000, 9999)}", random_cidr()
    kubelet = ComponentProcess(server, "kubelet")  # replaced below; keeps the finally simple
    try:
        kubelet = start_node(server, node, cidr, "--pod-network", "netns")
        yield Net(server, kubelet, Api(server.url), node, cidr)
    finally:
        kubelet.stop()
        server.stop()


def server_pod(name: str, node: str) -> Obj:
    """Serves its own name at :8080/id.txt (all addresses), ready once the kubelet's httpGet probe passes."""
    c = container("web", "sh", "-c", f"echo {name} > id.txt; exec python3 -m http.server 8080",
                  readinessProbe={"httpGet": {"path": "/id.txt", "port": 8080}, "periodSeconds": 1})
    return pod(name, node, c)


@pytest.fixture(scope="module")
def web(net: Net) -> tuple[str, Obj, Obj]:
    ns = net.api.namespace("net")
    for name in ("web-a", "web-b"):
        net.api.create_pod(ns, server_pod(name, net.node))
    a = net.api.wait_pod(ns, "web-a", ready)
    b = net.api.wait_pod(ns, "web-b", ready)
    return ns, a, b


def test_pod_ip_comes_from_the_node_pod_cidr(net: Net, web: tuple[str, Obj, Obj]) -> None:
    _, a, b = web
    ips = []
    for p in (a, b):
        st = p["status"]
        assert isinstance(st, dict)
        ip = st["podIP"]
        assert ip != "127.0.0.1" and ipaddress.ip_address(ip) in ipaddress.ip_network(net.cidr)
        assert ip != str(next(ipaddress.ip_network(net.cidr).hosts()))  # .1 is the bridge's gateway
        assert st["podIPs"] == [{"ip": ip}] and st["hostIP"] == "127.0.0.1"
        ips.append(ip)
    assert ips[0] != ips[1]


def test_two_pods_listen_on_the_same_port_and_are_reachable_from_the_host(web: tuple[str, Obj, Obj]) -> None:
    _, a, b = web
    for p, name in ((a, "web-a"), (b, "web-b")):
        st = p["status"]
        assert isinstance(st, dict)
        r = httpx.get(f"http://{st['podIP']}:8080/id.txt", timeout=5)
        assert r.status_code == 200 and r.text == f"{name}\n"


def test_a_pod_reaches_another_by_its_ip(net: Net, web: tuple[str, Obj, Obj]) -> None:
    ns, _, b = web
    st = b["status"]
    assert isinstance(st, dict)
    script = f"import urllib.request; print(urllib.request.urlopen('http://{st['podIP']}:8080/id.txt').read().decode())"
    r = net.kubectl("-n", ns, "exec", "web-a", "--", "python3", "-c", script)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "web-b"
    # and its own port 8080 on localhost is its own server, not the other pod's
    r = net.kubectl("-n", ns, "exec", "web-a", "--", "python3", "-c", script.replace(st["podIP"], "127.0.0.1"))
    assert r.stdout.strip() == "web-a", r.stderr


def test_hostname_is_the_pod_name(net: Net, web: tuple[str, Obj, Obj]) -> None:
    ns, _, _ = web
    r = net.kubectl("-n", ns, "exec", "web-b", "--", "hostname")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "web-b"
    net.api.create_pod(ns, pod("named", net.node, container("c", "sleep", "1000"), hostname="custom",
                               subdomain="sub"))
    net.api.wait_pod(ns, "named", ready)
    r = net.kubectl("-n", ns, "exec", "named", "--", "hostname")
    assert r.stdout.strip() == "custom", r.stderr


def test_port_forward_dials_localhost_inside_the_pod(net: Net) -> None:
    ns = net.api.namespace("pf")
    c = container("c", "sh", "-c", "echo local > id.txt; exec python3 -m http.server 8080 --bind 127.0.0.1")
    net.api.create_pod(ns, pod("local", net.node, c))
    net.api.wait_pod(ns, "local", ready)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([kubectl_binary("1.37"), "--kubeconfig", str(net.server.kubeconfig), "-n", ns,
                             "port-forward", "pod/local", f"{port}:8080"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        def fetch() -> str | None:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/id.txt", timeout=3)
            except httpx.HTTPError:
                return None
            return r.text if r.status_code == 200 else None

        assert wait_for(fetch, timeout=20, interval=0.3, message="port-forward") == "local\n"
    finally:
        proc.terminate()
        proc.wait(10)


def test_host_network_pod_reports_the_node_ip(net: Net) -> None:
    ns = net.api.namespace("hostnet")
    net.api.create_pod(ns, pod("hn", net.node, container("c", "sleep", "1000"), hostNetwork=True))
    p = net.api.wait_pod(ns, "hn", ready)
    assert p["status"]["podIP"] == "127.0.0.1" and p["status"]["hostIP"] == "127.0.0.1"
    r = net.kubectl("-n", ns, "exec", "hn", "--", "hostname")
    assert r.stdout.strip() == socket.gethostname(), r.stderr
    uid = p["metadata"]["uid"]
    assert not (net.data_dir / "sandboxes" / uid).exists()
    assert not link_exists(net.network().veth(uid))


def test_deleting_a_pod_removes_its_veth_and_sandbox(net: Net) -> None:
    ns = net.api.namespace("del")
    net.api.create_pod(ns, pod("gone", net.node, container("c", "sleep", "1000")))
    p = net.api.wait_pod(ns, "gone", ready)
    uid = p["metadata"]["uid"]
    veth = net.network().veth(uid)
    pid = int((net.data_dir / "sandboxes" / uid).read_text())
    assert link_exists(veth) and alive(pid)
    assert os.readlink(f"/proc/{pid}/ns/net") != os.readlink("/proc/self/ns/net")
    net.api.delete(f"/api/v1/namespaces/{ns}/pods/gone", gracePeriodSeconds=0)
    net.api.wait_gone(ns, "gone")
    wait_for(lambda: not link_exists(veth) and not alive(pid), timeout=15, message="veth and holder gone")
    assert not (net.data_dir / "sandboxes" / uid).exists()


def test_a_finished_pod_keeps_its_ip_but_not_its_sandbox(net: Net) -> None:
    ns = net.api.namespace("done")
    net.api.create_pod(ns, pod("once", net.node, container("c", "sh", "-c", "sleep 1"), restart="Never"))
    p = net.api.wait_pod(ns, "once", ready)
    uid = p["metadata"]["uid"]
    pid = int((net.data_dir / "sandboxes" / uid).read_text())
    assert alive(pid)
    p = net.api.wait_pod(ns, "once", lambda p: phase(p) == "Succeeded")
    assert ipaddress.ip_address(p["status"]["podIP"]) in ipaddress.ip_network(net.cidr)
    wait_for(lambda: not alive(pid) and not link_exists(net.network().veth(uid)), timeout=15,
             message="the finished pod's sandbox removed")


def test_many_pods_at_once_and_cleanup_on_stop_and_after_a_crash(tmp_path: Path) -> None:
    server = ServerProcess("memory://", data_dir=tmp_path).start()
    node, cidr = f"kcrash{random.randint(1000, 9999)}", random_cidr()
    api = Api(server.url)
    bridge = PodNetwork(node, tmp_path / node, enabled=False, pids={}).bridge
    kubelet = ComponentProcess(server, "kubelet")
    dead = subprocess.Popen(["true"])
    dead.wait()
    orphan = f"kpbr-t{random.randint(10000, 99999)}"  # left by a kubelet that died: removed by a starting one
    subprocess.run(["ip", "link", "add", orphan, "type", "bridge"], check=True)
    subprocess.run(["ip", "link", "set", "dev", orphan, "alias", f"kplane node=x kubelet={dead.pid}"], check=True)
    try:
        kubelet = start_node(server, node, cidr, "--pod-network", "netns")
        wait_for(lambda: link_exists(bridge), timeout=15, message="the node's bridge")
        assert not link_exists(orphan)
        ns = api.namespace("many")
        names = [f"p{i}" for i in range(5)]
        for name in names:
            api.create_pod(ns, pod(name, node, container("c", "sleep", "1000")))
        pods = [api.wait_pod(ns, name, ready) for name in names]
        assert len({p["status"]["podIP"] for p in pods}) == len(names)
        pids = [int((tmp_path / node / "sandboxes" / p["metadata"]["uid"]).read_text()) for p in pods]
        veths = [PodNetwork(node, tmp_path / node, enabled=False, pids={}).veth(p["metadata"]["uid"]) for p in pods]
        assert all(alive(pid) for pid in pids) and all(link_exists(v) for v in veths)

        kubelet.kill()  # a crash: the holders die with the kubelet (PR_SET_PDEATHSIG); the bridge stays until a
        # kubelet starts (this node's again, or any other: the alias names a kubelet that is gone)
        wait_for(lambda: not any(alive(pid) for pid in pids), timeout=15, message="holders died with the kubelet")

        kubelet = start_node(server, node, cidr, "--pod-network", "netns")  # cleans up, then runs the pods again
        p = api.wait_pod(ns, "p0", lambda p: ready(p) and
                         (tmp_path / node / "sandboxes" / p["metadata"]["uid"]).exists() and
                         int((tmp_path / node / "sandboxes" / p["metadata"]["uid"]).read_text()) != pids[0])
        assert link_exists(bridge)
        new_pid = int((tmp_path / node / "sandboxes" / p["metadata"]["uid"]).read_text())
        assert alive(new_pid)

        kubelet.stop()
        assert not link_exists(bridge)
        assert not alive(new_pid) and not any(link_exists(v) for v in veths)
    finally:
        kubelet.stop()
        server.stop()
        subprocess.run(["ip", "link", "del", orphan], capture_output=True)


def test_pod_network_host_keeps_the_node_network(tmp_path: Path) -> None:
    server = ServerProcess("memory://", data_dir=tmp_path).start()
    node = f"khost{random.randint(1000, 9999)}"
    api = Api(server.url)
    kubelet = ComponentProcess(server, "kubelet")
    try:
        kubelet = start_node(server, node, random_cidr(), "--pod-network", "host")
        ns = api.namespace("host")
        api.create_pod(ns, pod("h", node, container("c", "sh", "-c", "hostname; sleep 1000")))
        p = api.wait_pod(ns, "h", lambda p: ready(p) and phase(p) == "Running")
        assert p["status"]["podIP"] == "127.0.0.1"
        assert not link_exists(PodNetwork(node, tmp_path / node, enabled=False, pids={}).bridge)
        assert not (tmp_path / node / "sandboxes").exists()
    finally:
        kubelet.stop()
        server.stop()
