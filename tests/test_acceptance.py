"""Issue 9, end to end: an API server, the controller-manager, the scheduler and two process-runtime kubelets,
driven with the real kubectl 1.37 - deployments, logs, exec, deletion, crash loops, readiness and Services,
port-forward, a failing Job, and a node whose kubelet dies.

One cluster serves the whole module; the crash-looping pod is created with it so its back-off grows while
the other scenarios run. The kubelet is killed last, after every workload is gone (a SIGKILLed kubelet
leaves its containers behind, as a real one does).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from conformance.kubectl import KUBECTL_137, run_kubectl
from tests.cluster import ComponentProcess, ServerProcess, wait_for

Obj = dict[str, Any]
NODES = ("an1", "an2")
#: seconds without a heartbeat before the node lifecycle controller marks a node Unknown (the kubelet renews
#: its Lease every 10 s, so this must stay above that)
GRACE = 20


@dataclass
class Cluster:
    server: ServerProcess
    http: httpx.Client
    kubelets: dict[str, ComponentProcess]
    components: list[ComponentProcess]
    crash_ns: str
    crash: CrashWatcher | None = None

    def kubectl(self, *args: str, timeout: float = 30, check: bool = True) -> subprocess.CompletedProcess[str]:
        r = run_kubectl(KUBECTL_137, self.server.kubeconfig, *args, timeout=timeout)
        if check:
            assert r.returncode == 0, f"kubectl {' '.join(args)}: {r.stderr}"
        return r

    def namespace(self, prefix: str) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:6]}"
        r = self.http.post("/api/v1/namespaces", json={"metadata": {"name": name}})
        assert r.status_code == 201, r.text
        return name

    def pods(self, ns: str, selector: str = "") -> list[Obj]:
        params = {"labelSelector": selector} if selector else {}
        items: list[Obj] = self.http.get(f"/api/v1/namespaces/{ns}/pods", params=params).json()["items"]
        return items

    def pod(self, ns: str, name: str) -> Obj | None:
        r = self.http.get(f"/api/v1/namespaces/{ns}/pods/{name}")
        pod: Obj | None = r.json() if r.status_code == 200 else None
        return pod

    def logs(self) -> str:
        return "\n".join(f"--- {c.log_path.name}\n{c.log()[-3000:]}" for c in self.components)


def is_ready(pod: Obj) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def running_ready(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") == "Running" and is_ready(pod) \
        and not pod["metadata"].get("deletionTimestamp")


def container_status(pod: Obj) -> Obj:
    statuses = (pod.get("status") or {}).get("containerStatuses") or [{}]
    return dict(statuses[0])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def own_network_namespaces() -> bool:
    """Whether the kubelets give pods their own network namespace (then port 8080 is the pod's own)."""
    try:
        from kubelet.network import resolve_mode
    except ImportError:
        return False
    return resolve_mode("auto", "process") == "netns"


class CrashWatcher(threading.Thread):
    """Records the crash-looping container's (restartCount, waiting reason, waiting message) every 0.3 s,
    so the back-off windows are seen whatever the other scenarios are doing."""

    def __init__(self, url: str, ns: str) -> None:
        super().__init__(daemon=True, name="crash-watcher")
        self.url, self.ns = url, ns
        self.seen: list[tuple[int, str, str]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=5) as http:
            for _ in range(2000):  # bounded: about ten minutes
                if self.stop.wait(0.3):
                    return
                try:
                    r = http.get(f"/api/v1/namespaces/{self.ns}/pods/crasher")
                except httpx.HTTPError:
                    continue
                if r.status_code != 200:
                    continue
                cs = container_status(r.json())
                waiting = (cs.get("state") or {}).get("waiting") or {}
                self.seen.append((int(cs.get("restartCount") or 0), waiting.get("reason", ""),
                                  waiting.get("message", "")))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    server = ServerProcess("memory://", data_dir=tmp_path_factory.mktemp("acceptance")).start()
    components = [
        ComponentProcess(server, "controller-manager", "--leader-elect", "false", "--log-level", "info",
                         "--node-monitor-grace-period", str(GRACE),
                         "--root-ca-file", str(server.data_dir / "pki" / "ca.crt")).start(),
        ComponentProcess(server, "scheduler", "--leader-elect", "false", "--log-level", "info").start(),
    ]
    kubelets = {node: ComponentProcess(server, "kubelet", "--node-name", node, "--runtime", "process",
                                       "--data-dir", str(server.data_dir / node), "--log-level", "info",
                                       log_name=f"kubelet-{node}").start() for node in NODES}
    components += kubelets.values()
    http = httpx.Client(base_url=server.url, timeout=30)
    c = Cluster(server, http, kubelets, components, crash_ns="")
    try:
        def nodes_ready() -> bool:
            for node in NODES:
                assert kubelets[node].alive(), kubelets[node].log()
                r = http.get(f"/api/v1/nodes/{node}")
                conds = {x["type"]: x["status"] for x in (r.json().get("status") or {}).get("conditions") or []} \
                    if r.status_code == 200 else {}
                if conds.get("Ready") != "True":
                    return False
            return True

        wait_for(nodes_ready, timeout=60, message="both nodes Ready")
        c.crash_ns = c.namespace("crash")
        r = http.post(f"/api/v1/namespaces/{c.crash_ns}/pods", json={
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "crasher"},
            "spec": {"containers": [{"name": "c", "image": "busybox", "command": ["sh", "-c", "echo boom; exit 1"]}]}})
        assert r.status_code == 201, r.text
        c.crash = CrashWatcher(server.url, c.crash_ns)
        c.crash.start()
        yield c
    finally:
        if c.crash is not None:
            c.crash.stop.set()
            c.crash.join(5)
        http.close()
        for comp in reversed(components):
            comp.stop()
        server.stop()


def test_deployment_logs_exec_and_pod_deletion(cluster: Cluster) -> None:
    ns = cluster.namespace("web")
    cluster.kubectl("-n", ns, "create", "deployment", "web", "--image=busybox", "--replicas=3", "--",
                    "sh", "-c", "while true; do echo hello; sleep 1; done")

    def three_running() -> list[Obj] | None:
        pods = [p for p in cluster.pods(ns, "app=web") if not p["metadata"].get("deletionTimestamp")]
        return pods if len(pods) == 3 and all(running_ready(p) for p in pods) else None

    pods = wait_for(three_running, timeout=60, message="three Running, Ready pods")
    assert {p["spec"]["nodeName"] for p in pods} == set(NODES), "spread over both nodes"
    table = cluster.kubectl("-n", ns, "get", "deploy", "web", "--no-headers").stdout.split()
    assert table[:2] == ["web", "3/3"]

    # kubectl logs -f follows the stream; stop it after two lines
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    with tempfile.TemporaryDirectory() as home:
        env.update(KUBECONFIG=str(cluster.server.kubeconfig), HOME=home)
        proc = subprocess.Popen([KUBECTL_137, "-n", ns, "logs", "-f", "deploy/web"], env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        lines: list[str] = []
        try:
            deadline = time.monotonic() + 20
            assert proc.stdout is not None
            while len(lines) < 5 and time.monotonic() < deadline:
                line = proc.stdout.readline()
                if not line:
                    break
                lines.append(line)
            assert proc.poll() is None, "logs -f keeps following"
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
    assert len(lines) == 5 and set(lines) == {"hello\n"}, lines

    name = pods[0]["metadata"]["name"]
    r = cluster.kubectl("-n", ns, "exec", name, "--", "sh", "-c", "echo $HOSTNAME")
    assert r.stdout == f"{name}\n"

    # deletion: kubectl waits for the pod to go (the kubelet stops it within its 30 s grace period)
    cluster.kubectl("-n", ns, "delete", "pod", name, timeout=45)
    assert cluster.pod(ns, name) is None

    def replaced() -> list[Obj] | None:
        live = [p for p in cluster.pods(ns, "app=web") if not p["metadata"].get("deletionTimestamp")]
        names = {p["metadata"]["name"] for p in live}
        return live if len(live) == 3 and name not in names and all(running_ready(p) for p in live) else None

    wait_for(replaced, timeout=60, message="a Running replacement")
    events = cluster.kubectl("-n", ns, "get", "events", "--field-selector", f"involvedObject.name={name}",
                             "-o", "json").stdout
    assert "Killing" in {e["reason"] for e in json.loads(events)["items"]}
    cluster.kubectl("-n", ns, "delete", "deployment", "web", "--wait=false")


def test_crash_loop_back_off_grows(cluster: Cluster) -> None:
    watcher = cluster.crash
    assert watcher is not None

    def two_back_offs() -> bool:
        messages = {m.split(" restarting")[0] for _, reason, m in list(watcher.seen) if reason == "CrashLoopBackOff"}
        return {"back-off 10s", "back-off 20s"} <= messages

    wait_for(two_back_offs, timeout=60, interval=0.3, message="back-off 10s, then 20s")
    counts = [n for n, _, _ in list(watcher.seen)]
    assert counts == sorted(counts) and counts[-1] >= 2, counts
    pod = cluster.pod(cluster.crash_ns, "crasher")
    assert pod is not None
    cs = container_status(pod)
    assert cs["lastState"]["terminated"]["exitCode"] == 1
    row = cluster.kubectl("-n", cluster.crash_ns, "get", "pod", "crasher", "--no-headers").stdout.split()
    assert row[2] in ("CrashLoopBackOff", "Error", "Running") and int(row[3]) >= 2, row
    r = cluster.kubectl("-n", cluster.crash_ns, "logs", "crasher", "--previous")
    assert r.stdout == "boom\n"
    cluster.kubectl("-n", cluster.crash_ns, "delete", "pod", "crasher", "--wait=false")


def test_failing_readiness_probe_leaves_the_endpoints(cluster: Cluster, tmp_path: Path) -> None:
    ns = cluster.namespace("ready")
    flag = tmp_path / f"ready-{ns}"
    flag.write_text("ok")
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "probed", "labels": {"app": "probed"}},
           "spec": {"containers": [{"name": "c", "image": "busybox", "command": ["sleep", "3600"],
                                    "readinessProbe": {"exec": {"command": ["test", "-f", str(flag)]},
                                                       "periodSeconds": 1, "failureThreshold": 1}}]}}
    assert cluster.http.post(f"/api/v1/namespaces/{ns}/pods", json=pod).status_code == 201
    cluster.kubectl("-n", ns, "create", "service", "clusterip", "probed", "--tcp=80:8080")

    def endpoints() -> tuple[list[str], list[str], list[bool]]:
        ep = cluster.http.get(f"/api/v1/namespaces/{ns}/endpoints/probed").json()
        ready = [a["targetRef"]["name"] for s in ep.get("subsets") or [] for a in s.get("addresses") or []]
        not_ready = [a["targetRef"]["name"] for s in ep.get("subsets") or []
                     for a in s.get("notReadyAddresses") or []]
        slices = cluster.http.get(f"/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices",
                                  params={"labelSelector": "kubernetes.io/service-name=probed"}).json()["items"]
        slice_ready = [bool((e.get("conditions") or {}).get("ready")) for s in slices for e in s.get("endpoints") or []
                       if (e.get("targetRef") or {}).get("name") == "probed"]
        return ready, not_ready, slice_ready

    wait_for(lambda: endpoints() == (["probed"], [], [True]), timeout=30, message="the ready pod in the endpoints")
    flag.unlink()
    wait_for(lambda: endpoints() == ([], ["probed"], [False]), timeout=30,
             message="the pod out of the endpoints once its readiness probe fails")
    p = cluster.pod(ns, "probed")
    assert p is not None and not is_ready(p) and p["status"]["phase"] == "Running"
    cluster.kubectl("-n", ns, "delete", "pod", "probed", "--wait=false")


def test_port_forward_reaches_the_pod(cluster: Cluster, tmp_path: Path) -> None:
    ns = cluster.namespace("pf")
    netns = own_network_namespaces()
    remote = 8080 if netns else free_port()  # on the host network 8080 may belong to someone else
    local = free_port()
    # http.server's handler on a plain TCPServer: HTTPServer's bind looks up the host's FQDN, which can
    # stall for seconds in a pod network without DNS
    serve = ("import http.server, socketserver; socketserver.TCPServer.allow_reuse_address = True; "
             f"socketserver.TCPServer(({'' if netns else '127.0.0.1'!r}, {remote}), "
             "http.server.SimpleHTTPRequestHandler).serve_forever()")
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "srv"},
           "spec": {"containers": [{"name": "c", "image": "python:3", "ports": [{"containerPort": remote}],
                                    "command": ["python3", "-c", serve]}]}}
    assert cluster.http.post(f"/api/v1/namespaces/{ns}/pods", json=pod).status_code == 201
    wait_for(lambda: (p := cluster.pod(ns, "srv")) is not None and running_ready(p), timeout=30,
             message=f"the http.server pod Ready ({'own network namespace' if netns else 'host network'})")
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    env.update(KUBECONFIG=str(cluster.server.kubeconfig), HOME=str(tmp_path))
    proc = subprocess.Popen([KUBECTL_137, "-n", ns, "port-forward", "pod/srv", f"{local}:{remote}"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        def get(path: str) -> httpx.Response | None:
            try:
                return httpx.get(f"http://127.0.0.1:{local}{path}", timeout=3)
            except httpx.HTTPError:
                return None

        first = wait_for(lambda: get("/"), timeout=15, interval=0.3, message="port-forward answering")
        assert first.status_code == 200 and "Directory listing" in first.text
        missing = get("/no-such-file")
        assert missing is not None and missing.status_code == 404
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    assert f"Forwarding from 127.0.0.1:{local} -> {remote}".encode() in out
    cluster.kubectl("-n", ns, "delete", "pod", "srv", "--wait=false")


def test_failing_job(cluster: Cluster) -> None:
    ns = cluster.namespace("job")
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "exit3"},
           "spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never", "containers": [
               {"name": "c", "image": "python:3", "command": ["python3", "-c", "import sys; sys.exit(3)"]}]}}}}
    r = cluster.http.post(f"/apis/batch/v1/namespaces/{ns}/jobs", json=job)
    assert r.status_code == 201, r.text

    def failed() -> Obj | None:
        j: Obj = cluster.http.get(f"/apis/batch/v1/namespaces/{ns}/jobs/exit3").json()
        conds = {c["type"]: c for c in (j.get("status") or {}).get("conditions") or []}
        return j if conds.get("Failed", {}).get("status") == "True" else None

    j = wait_for(failed, timeout=60, message="the Job's Failed condition")
    conds = {c["type"]: c for c in j["status"]["conditions"]}
    assert conds["Failed"]["reason"] == "BackoffLimitExceeded"
    assert conds["Failed"]["message"] == "Job has reached the specified backoff limit"
    assert j["status"]["failed"] == 1
    pods = cluster.pods(ns, "batch.kubernetes.io/job-name=exit3")
    assert len(pods) == 1
    pod = pods[0]
    assert pod["status"]["phase"] == "Failed"
    assert container_status(pod)["state"]["terminated"]["exitCode"] == 3
    assert "batch.kubernetes.io/job-tracking" not in (pod["metadata"].get("finalizers") or [])
    row = cluster.kubectl("-n", ns, "get", "job", "exit3", "--no-headers").stdout.split()
    assert row[1:3] == ["Failed", "0/1"]


def test_indexed_job_pods_see_their_index(cluster: Cluster) -> None:
    ns = cluster.namespace("idx")
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "idx"},
           "spec": {"completions": 2, "parallelism": 2, "completionMode": "Indexed",
                    "template": {"spec": {"restartPolicy": "Never", "containers": [
                        {"name": "c", "image": "busybox",
                         "command": ["sh", "-c", "echo index=$JOB_COMPLETION_INDEX host=$HOSTNAME"]}]}}}}
    r = cluster.http.post(f"/apis/batch/v1/namespaces/{ns}/jobs", json=job)
    assert r.status_code == 201, r.text

    def complete() -> Obj | None:
        j: Obj = cluster.http.get(f"/apis/batch/v1/namespaces/{ns}/jobs/idx").json()
        conds = {c["type"]: c["status"] for c in (j.get("status") or {}).get("conditions") or []}
        return j if conds.get("Complete") == "True" else None

    j = wait_for(complete, timeout=60, message="the Indexed Job Complete")
    assert j["status"]["succeeded"] == 2 and j["status"]["completedIndexes"] == "0,1"
    for pod in cluster.pods(ns, "batch.kubernetes.io/job-name=idx"):
        ix = pod["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"]
        out = cluster.kubectl("-n", ns, "logs", pod["metadata"]["name"]).stdout
        assert out == f"index={ix} host=idx-{ix}\n"
    row = cluster.kubectl("-n", ns, "get", "job", "idx", "--no-headers").stdout.split()
    assert row[1:3] == ["Complete", "2/2"]


def test_killed_kubelet_makes_its_node_not_ready(cluster: Cluster) -> None:
    node = NODES[1]

    def node_pods_gone() -> bool:
        items = cluster.http.get("/api/v1/pods", params={"fieldSelector": f"spec.nodeName={node}"}).json()["items"]
        return not [p for p in items if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]

    # every container of this node stops first: a SIGKILLed kubelet leaves its containers running
    wait_for(node_pods_gone, timeout=60, message=f"no running pods left on {node}")
    lease_path = f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{node}"
    before = cluster.http.get(lease_path).json()["spec"]["renewTime"]
    wait_for(lambda: cluster.http.get(lease_path).json()["spec"]["renewTime"] != before, timeout=30,
             message="the Lease renewed while the kubelet lives")
    cluster.kubelets[node].kill()
    renewed = cluster.http.get(lease_path).json()["spec"]["renewTime"]

    def not_ready() -> Obj | None:
        n: Obj = cluster.http.get(f"/api/v1/nodes/{node}").json()
        cond = next(c for c in n["status"]["conditions"] if c["type"] == "Ready")
        return cond if cond["status"] == "Unknown" else None

    cond = wait_for(not_ready, timeout=GRACE + 30, interval=0.5, message=f"{node} NotReady")
    assert cond["reason"] == "NodeStatusUnknown"
    assert cond["message"] == "Kubelet stopped posting node status."
    assert cluster.http.get(lease_path).json()["spec"]["renewTime"] == renewed, "no renewal after the kill"
    rows = {r.split()[0]: r.split()[1] for r in cluster.kubectl("get", "nodes", "--no-headers").stdout.splitlines()}
    assert rows == {NODES[0]: "Ready", node: "NotReady"}

    def tainted() -> bool:
        n = cluster.http.get(f"/api/v1/nodes/{node}").json()
        return ("node.kubernetes.io/unreachable", "NoSchedule") in {
            (t["key"], t["effect"]) for t in n["spec"].get("taints") or []}

    wait_for(tainted, timeout=15, message="the unreachable taint")

    # started again, the kubelet cleans up after its killed self and the node comes back
    cluster.kubelets[node].start()
    wait_for(lambda: cluster.kubectl("get", "node", node, "--no-headers").stdout.split()[1] == "Ready",
             timeout=45, interval=0.5, message=f"{node} Ready again")
