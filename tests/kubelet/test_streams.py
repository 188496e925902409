"""exec, attach and port-forward WebSockets through the API server to the kubelet, spoken directly."""

from __future__ import annotations

import json
import socket
import struct

from websockets.sync.client import connect

from tests.kubelet.conftest import KubeletCluster
from tests.kubelet.util import container, pod, ready


def ws_url(kl: KubeletCluster, path: str) -> str:
    return kl.server.url.replace("http://", "ws://") + path


def frames(ws: object, until: int, limit: int = 50) -> list[bytes]:
    got: list[bytes] = []
    for _ in range(limit):
        msg = ws.recv(timeout=10)  # type: ignore[attr-defined]
        assert isinstance(msg, bytes)
        got.append(msg)
        if msg[0] == until:
            break
    return got


def test_exec_v4_and_v5_status_channel(kl: KubeletCluster) -> None:
    ns = kl.api.namespace("ws")
    kl.api.create_pod(ns, pod("s", kl.node, container("c", "sleep", "1000")))
    kl.api.wait_pod(ns, "s", ready)
    for proto in ("v5.channel.k8s.io", "v4.channel.k8s.io"):
        path = (f"/api/v1/namespaces/{ns}/pods/s/exec?command=sh&command=-c&command=echo%20out;%20exit%204"
                "&stdout=true&stderr=true")
        with connect(ws_url(kl, path), subprotocols=[proto]) as ws:  # type: ignore[list-item]
            assert ws.subprotocol == proto
            got = frames(ws, until=3)
        assert got[0] == b"\x01out\n"
        status = json.loads(got[-1][1:])
        assert status["status"] == "Failure" and status["reason"] == "NonZeroExitCode"
        assert status["details"]["causes"] == [{"reason": "ExitCode", "message": "4"}]


def test_attach_streams_the_main_process(kl: KubeletCluster) -> None:
    ns = kl.api.namespace("attach")
    kl.api.create_pod(ns, pod("a", kl.node, container("c", "sh", "-c", "while read l; do echo got $l; done",
                                                      stdin=True)))
    kl.api.wait_pod(ns, "a", ready)
    path = f"/api/v1/namespaces/{ns}/pods/a/attach?container=c&stdin=true&stdout=true&stderr=true"
    with connect(ws_url(kl, path), subprotocols=["v5.channel.k8s.io"]) as ws:  # type: ignore[list-item]
        ws.send(b"\x00hello\n")
        assert frames(ws, until=1) == [b"\x01got hello\n"]


def test_port_forward_websocket(kl: KubeletCluster) -> None:
    ns = kl.api.namespace("pf")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ("import socket\ns=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
              f"s.bind(('0.0.0.0', {port})); s.listen()\n"  # probes dial the pod IP
              "while True:\n c,_=s.accept(); c.sendall(b'pong:'+c.recv(100)); c.close()\n")
    kl.api.create_pod(ns, pod("srv", kl.node, container("c", "python3", "-c", server, image="python:3",
                                                        readinessProbe={"tcpSocket": {"port": port},
                                                                        "periodSeconds": 1})))
    kl.api.wait_pod(ns, "srv", ready, timeout=20)
    path = f"/api/v1/namespaces/{ns}/pods/srv/portforward?ports={port}&port={port}"
    with connect(ws_url(kl, path), subprotocols=["v4.channel.k8s.io"]) as ws:  # type: ignore[list-item]
        first = [ws.recv(timeout=10), ws.recv(timeout=10)]
        assert sorted(first) == sorted([b"\x00" + struct.pack("<H", port), b"\x01" + struct.pack("<H", port)])
        ws.send(b"\x00ping")
        assert ws.recv(timeout=10) == b"\x00pong:ping"


def test_exec_errors_before_the_upgrade(kl: KubeletCluster) -> None:
    ns = kl.api.namespace("wserr")
    kl.api.create_pod(ns, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "floating"},
                           "spec": {"containers": [container("c", "sleep", "1")]}})
    r = kl.api.http.post(f"/api/v1/namespaces/{ns}/pods/floating/exec?command=true")
    assert r.status_code == 400 and r.json()["message"] == "pod floating does not have a host assigned"
    r = kl.api.http.get(f"/api/v1/namespaces/{ns}/pods/missing/exec?command=true")
    assert r.status_code == 404
