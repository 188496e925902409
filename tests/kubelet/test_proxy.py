"""The kubelet API over HTTPS, and the API server's nodes/proxy, pods/proxy and services/proxy."""

from __future__ import annotations

import json
import random
import re
import ssl
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from kubernetes import client, config

from conformance.kubectl import run_kubectl
from kubelet.tls import ensure_serving_cert
from tests.cluster import ServerProcess, wait_for
from tests.kubelet.conftest import KubeletCluster, start_kubelet, wait_node_ready
from tests.kubelet.test_pods import free_port
from tests.kubelet.util import Api, container, pod, ready

Obj = dict[str, object]

#: a small HTTP server echoing each request as JSON; /redirect answers 302 to /landing
ECHO = r"""
import json, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class H(BaseHTTPRequestHandler):
    def _echo(self):
        if self.path.startswith("/redirect"):
            self.send_response(302)
            self.send_header("Location", "/landing?from=redirect")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n).decode() if n else ""
        out = json.dumps({"method": self.command, "path": self.path, "body": body,
                          "headers": {k.lower(): v for k, v in self.headers.items()}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.send_header("X-Echo", "yes")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(out)
    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _echo
    def log_message(self, *a):
        pass

ThreadingHTTPServer(("", int(sys.argv[1])), H).serve_forever()
"""


def kubelet_port_of(api: Api, node: str) -> int:
    n = api.get(f"/api/v1/nodes/{node}")
    assert n is not None
    return int(n["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"])


def kubelet_port(kl: KubeletCluster, node: str) -> int:
    return kubelet_port_of(kl.api, node)


def served_cert(port: int) -> x509.Certificate:
    pem = ssl.get_server_certificate(("127.0.0.1", port), timeout=10)
    return x509.load_pem_x509_certificate(pem.encode())


def _cert_or_none(port: int) -> x509.Certificate | None:
    try:
        return served_cert(port)
    except OSError:
        return None


@pytest.fixture(scope="module")
def pod_node(kl: KubeletCluster) -> Iterator[str]:
    """A kubelet of its own whose pod CIDR no other test's node uses (pod IPs are routed on this host)."""
    name = f"kn-px{uuid.uuid4().hex[:6]}"
    cidr = f"10.{random.randrange(100, 200)}.{random.randrange(0, 256)}.0/24"
    kubelet = start_kubelet(kl.server, name, "--runtime", "process", "--pod-cidr", cidr)
    try:
        wait_node_ready(kl.api, name, kubelet)
        yield name
    finally:
        kubelet.stop()
        kl.api.delete(f"/api/v1/nodes/{name}")


@pytest.fixture(scope="module")
def echo(kl: KubeletCluster, pod_node: str) -> Iterator[tuple[str, str, int]]:
    """(namespace, pod name, port) of a running echo server pod declaring its containerPort."""
    ns = kl.api.namespace("proxy")
    port = free_port()
    c = container("web", sys.executable, "-c", ECHO, str(port), ports=[{"containerPort": port, "name": "http"}],
                  readinessProbe={"tcpSocket": {"port": port}, "periodSeconds": 1})
    kl.api.create_pod(ns, pod("echo", pod_node, c))
    kl.api.wait_pod(ns, "echo", ready)
    yield ns, "echo", port


@pytest.fixture(scope="module")
def core(kl: KubeletCluster) -> Iterator[client.CoreV1Api]:
    api_client = config.new_client_from_config(str(kl.server.kubeconfig))
    try:
        yield client.CoreV1Api(api_client)
    finally:
        api_client.close()


# --- the kubelet's own API -------------------------------------------------------------------------

def test_kubelet_serves_only_https_with_a_self_signed_certificate(kl: KubeletCluster) -> None:
    port = kubelet_port(kl, kl.node)
    with pytest.raises(httpx.HTTPError):
        r = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
        r.raise_for_status()
    with pytest.raises(httpx.ConnectError):  # not trusted by default
        httpx.get(f"https://127.0.0.1:{port}/healthz", timeout=5)
    assert httpx.get(f"https://127.0.0.1:{port}/healthz", verify=False, timeout=5).text == "ok"
    cert = served_cert(port)
    cn = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
    assert re.fullmatch(rf"{kl.node}@\d+", str(cn)), cn
    assert cert.issuer == cert.subject
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert kl.node in san.get_values_for_type(x509.DNSName)
    assert "127.0.0.1" in [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    pki = kl.server.data_dir / kl.node / "pki"
    assert served_cert(port) == x509.load_pem_x509_certificate((pki / "kubelet.crt").read_bytes())
    assert (pki / "kubelet.key").stat().st_mode & 0o077 == 0


def test_serving_certificate_is_reused_after_a_kubelet_restart(kl: KubeletCluster) -> None:
    node = "kn-tls"
    kubelet = start_kubelet(kl.server, node, "--runtime", "simulated")
    try:
        wait_node_ready(kl.api, node, kubelet)
        first = served_cert(kubelet_port(kl, node))
        old_port = kubelet_port(kl, node)
        kubelet.stop()
        kubelet = start_kubelet(kl.server, node, "--runtime", "simulated")
        # the restarted kubelet picks a new port and republishes it when it registers again
        port = wait_for(lambda: kubelet.alive() and (p := kubelet_port(kl, node)) != old_port and p,
                        timeout=30, message="the restarted kubelet's endpoint")
        second = wait_for(lambda: _cert_or_none(port), timeout=30, message="the restarted kubelet serving")
        assert second == first and second.serial_number == first.serial_number
    finally:
        kubelet.stop()
        kl.api.delete(f"/api/v1/nodes/{node}")


def test_kubelet_certificate_authority_verifies_kubelets(tmp_path: Path) -> None:
    """--tls-cert-file/--tls-private-key-file on the kubelet, --kubelet-certificate-authority on the server."""
    cert, key = ensure_serving_cert(tmp_path / "given", "kn-given", ["kn-given", "127.0.0.1"])
    (tmp_path / "server").mkdir()
    server = ServerProcess("memory://", data_dir=tmp_path / "server",
                           extra=("--kubelet-certificate-authority", str(cert))).start()
    trusted = start_kubelet(server, "kn-given", "--runtime", "simulated", "--tls-cert-file", str(cert),
                            "--tls-private-key-file", str(key))
    untrusted = start_kubelet(server, "kn-own", "--runtime", "simulated")
    api = Api(server.url)
    try:
        wait_node_ready(api, "kn-given", trusted)
        wait_node_ready(api, "kn-own", untrusted)
        assert served_cert(kubelet_port_of(api, "kn-given")) == x509.load_pem_x509_certificate(cert.read_bytes())
        r = api.http.get("/api/v1/nodes/kn-given/proxy/healthz")
        assert (r.status_code, r.text) == (200, "ok")
        r = api.http.get("/api/v1/nodes/kn-own/proxy/healthz")
        assert r.status_code == 503
        assert r.json()["message"] == "error trying to reach service: tls: failed to verify certificate: " \
                                      "x509: certificate signed by unknown authority"
    finally:
        trusted.stop()
        untrusted.stop()
        server.stop()


# --- nodes/proxy -------------------------------------------------------------------------------------

def test_node_proxy_with_the_python_client(kl: KubeletCluster, core: client.CoreV1Api) -> None:
    assert core.connect_get_node_proxy_with_path(kl.node, "healthz") == "ok"
    # the client turns a JSON answer into str(dict); the raw body is the kubelet's JSON
    raw = core.connect_get_node_proxy_with_path(kl.node, "pods", _preload_content=False)
    assert json.loads(raw.data)["kind"] == "PodList"
    raw = core.connect_get_node_proxy_with_path(kl.node, "configz", _preload_content=False)
    assert json.loads(raw.data)["kubeletconfig"]["enableServer"] is True


def test_node_proxy_endpoints_and_forms(kl: KubeletCluster) -> None:
    http = kl.api.http
    base = f"/api/v1/nodes/{kl.node}"
    r = http.get(f"{base}/proxy/healthz")
    assert (r.status_code, r.text) == (200, "ok")
    port = kubelet_port(kl, kl.node)
    for ident in (f"{kl.node}:{port}", f"https:{kl.node}:{port}"):
        r = http.get(f"/api/v1/nodes/{ident}/proxy/healthz")
        assert (r.status_code, r.text) == (200, "ok"), r.text
    configz = http.get(f"{base}/proxy/configz").json()
    assert configz["kubeletconfig"]["port"] == port and configz["kubeletconfig"]["maxPods"] == 110
    summary = http.get(f"{base}/proxy/stats/summary").json()
    assert summary["node"]["nodeName"] == kl.node and summary["node"]["memory"]["availableBytes"] > 0
    metrics = http.get(f"{base}/proxy/metrics")
    assert metrics.status_code == 200 and "kubelet_running_pods" in metrics.text
    assert http.post(f"{base}/proxy/healthz").status_code == 405  # the kubelet's answer, relayed
    r = http.get(f"{base}/proxy", follow_redirects=False)
    assert r.status_code == 301 and r.headers["location"] == f"{base}/proxy/"
    r = http.get("/api/v1/nodes/nope/proxy/healthz")
    assert r.status_code == 404 and r.json()["message"] == 'nodes "nope" not found'
    r = http.get(f"/api/v1/nodes/ftp:{kl.node}:1/proxy/healthz")
    assert r.status_code == 400 and r.json()["message"] == f'invalid node request "ftp:{kl.node}:1"'
    closed = free_port()
    r = http.get(f"/api/v1/nodes/{kl.node}:{closed}/proxy/")
    assert r.status_code == 503
    assert r.json()["message"] == f"error trying to reach service: dial tcp 127.0.0.1:{closed}: connect: " \
                                  "connection refused"


def test_node_proxy_streams_the_response(kl: KubeletCluster) -> None:
    """A followed log through nodes/proxy arrives while the container still runs (nothing is buffered)."""
    ns = kl.api.namespace("stream")
    kl.api.create_pod(ns, pod("ticker", kl.node, container("c", "sh", "-c", "echo first; sleep 1000")))
    kl.api.wait_pod(ns, "ticker", ready)
    path = f"/api/v1/nodes/{kl.node}/proxy/containerLogs/{ns}/ticker/c"
    with kl.api.http.stream("GET", path, params={"follow": "true"}, timeout=15) as r:
        assert r.status_code == 200
        assert next(r.iter_lines()) == "first"
    kl.api.delete(f"/api/v1/namespaces/{ns}/pods/ticker", gracePeriodSeconds=0)


def test_node_proxy_with_kubectl_get_raw(kl: KubeletCluster, kubectl_bins: tuple[str, str]) -> None:
    _, binary = kubectl_bins
    r = run_kubectl(binary, kl.server.kubeconfig, "get", "--raw", f"/api/v1/nodes/{kl.node}/proxy/healthz")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "ok"
    r = run_kubectl(binary, kl.server.kubeconfig, "get", "--raw", f"/api/v1/nodes/{kl.node}/proxy/pods")
    assert r.returncode == 0 and json.loads(r.stdout)["kind"] == "PodList", r.stderr


# --- pods/proxy --------------------------------------------------------------------------------------

def test_pod_proxy_forwards_method_path_query_and_body(kl: KubeletCluster, echo: tuple[str, str, int]) -> None:
    ns, name, port = echo
    http = kl.api.http
    for ident in (name, f"{name}:{port}", f"http:{name}:{port}"):
        r = http.get(f"/api/v1/namespaces/{ns}/pods/{ident}/proxy/some/path", params={"a": "1", "b": "x y"})
        assert r.status_code == 200, r.text
        assert r.headers["x-echo"] == "yes" and r.headers["content-type"] == "application/json"
        got = r.json()
        assert got["method"] == "GET" and got["path"] == "/some/path?a=1&b=x+y"
        assert got["headers"]["x-forwarded-uri"] == f"/api/v1/namespaces/{ns}/pods/{ident}/proxy/some/path"
    base = f"/api/v1/namespaces/{ns}/pods/{name}/proxy"
    r = http.post(f"{base}/submit", content=b'{"hello": "world"}', headers={"Content-Type": "application/json"})
    assert r.status_code == 200 and r.json() == {**r.json(), "method": "POST", "path": "/submit",
                                                 "body": '{"hello": "world"}'}
    assert r.json()["headers"]["content-type"] == "application/json"
    for method in ("PUT", "PATCH", "DELETE", "OPTIONS"):
        r = http.request(method, f"{base}/m", content=b"data")
        assert r.status_code == 200 and r.json()["method"] == method and r.json()["body"] == "data", method
    r = http.head(f"{base}/h")
    assert r.status_code == 200 and r.headers["x-echo"] == "yes" and r.content == b""
    r = http.get(f"{base}/")
    assert r.json()["path"] == "/"
    r = http.get(f"{base}/redirect", follow_redirects=False)
    assert r.status_code == 302 and r.headers["location"] == f"{base}/landing?from=redirect"


def test_pod_proxy_errors(kl: KubeletCluster, echo: tuple[str, str, int]) -> None:
    ns, name, _ = echo
    http = kl.api.http
    closed = free_port()
    r = http.get(f"/api/v1/namespaces/{ns}/pods/{name}:{closed}/proxy/")
    assert r.status_code == 503
    status = r.json()
    assert status["reason"] == "ServiceUnavailable" and status["kind"] == "Status"
    assert re.fullmatch(rf"error trying to reach service: dial tcp [0-9.]+:{closed}: connect: connection refused",
                        status["message"]), status["message"]
    r = http.get(f"/api/v1/namespaces/{ns}/pods/missing/proxy/")
    assert r.status_code == 404 and r.json()["message"] == 'pods "missing" not found'
    r = http.get(f"/api/v1/namespaces/{ns}/pods/ftp:{name}:80/proxy/")
    assert r.status_code == 400 and r.json()["message"] == f'invalid pod request "ftp:{name}:80"'
    r = http.get(f"/api/v1/namespaces/{ns}/pods/a:b:c:d/proxy/")
    assert r.status_code == 400 and r.json()["message"] == 'invalid pod request "a:b:c:d"'
    kl.api.create_pod(ns, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "floating"},
                           "spec": {"containers": [container("c", "sleep", "100")]}})  # never scheduled: no IP
    r = http.get(f"/api/v1/namespaces/{ns}/pods/floating:80/proxy/")
    assert r.status_code == 400 and r.json()["message"] == "address not allowed"
    r = http.get(f"/api/v1/namespaces/{ns}/pods/https:{name}:{echo[2]}/proxy/")  # TLS to a plain HTTP server
    assert r.status_code == 503 and r.json()["message"].startswith("error trying to reach service: ")


# --- services/proxy ----------------------------------------------------------------------------------

def test_service_proxy_picks_a_ready_endpoint(kl: KubeletCluster, echo: tuple[str, str, int]) -> None:
    ns, name, port = echo
    http = kl.api.http
    target = kl.api.pod(ns, name)
    assert target is not None
    ip = target["status"]["podIP"]
    kl.api.create(f"/api/v1/namespaces/{ns}/services", {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
        "spec": {"ports": [{"name": "http", "port": 80, "targetPort": port}]}})
    kl.api.create(f"/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices", {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "web-1", "labels": {"kubernetes.io/service-name": "web"}},
        "addressType": "IPv4", "ports": [{"name": "http", "port": port, "protocol": "TCP"}],
        "endpoints": [{"addresses": [ip], "conditions": {"ready": True}},
                      {"addresses": ["10.255.255.1"], "conditions": {"ready": False}}]})
    for ident in ("web:80", "web:http", "http:web:http"):
        for _ in range(5):  # the not-ready endpoint is never chosen
            r = http.get(f"/api/v1/namespaces/{ns}/services/{ident}/proxy/svc", params={"q": "1"})
            assert r.status_code == 200, r.text
            assert r.json()["path"] == "/svc?q=1"
    r = http.post(f"/api/v1/namespaces/{ns}/services/web:80/proxy/in", content=b"payload")
    assert r.json()["body"] == "payload"
    r = http.get(f"/api/v1/namespaces/{ns}/services/web:81/proxy/")
    assert r.status_code == 503 and r.json()["message"] == 'no service port 81 found for service "web"'
    r = http.get(f"/api/v1/namespaces/{ns}/services/web:other/proxy/")
    assert r.status_code == 503 and r.json()["message"] == 'no endpoints available for service "web:other"'
    r = http.get(f"/api/v1/namespaces/{ns}/services/web/proxy/")  # the port is named: "" matches nothing
    assert r.status_code == 503
    kl.api.create(f"/api/v1/namespaces/{ns}/services", {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "empty"},
        "spec": {"ports": [{"port": 80}]}})
    r = http.get(f"/api/v1/namespaces/{ns}/services/empty/proxy/")
    assert r.status_code == 503 and r.json()["message"] == 'no endpoints available for service "empty"'
    r = http.get(f"/api/v1/namespaces/{ns}/services/none/proxy/")
    assert r.status_code == 404 and r.json()["message"] == 'services "none" not found'
