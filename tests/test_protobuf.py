"""apiserver.protobuf: the Kubernetes protobuf wire format.

The strongest checks use bodies real kubectl binaries sent (``tests/data/protobuf/<label>/``, recorded
by this project with ``python3 -m tests.test_protobuf --record``): each decodes to exactly the JSON
kubectl prints for the same command with ``--dry-run=client -o json`` (json.Marshal of the same Go
object), and re-encodes to the very same bytes (upstream's marshaller writes every non-pointer field,
in field-number order, map keys sorted). A live variant (marker ``kubectl``) repeats that against a
running kplane with both binaries.
"""

from __future__ import annotations

import base64
import http.client
import http.server
import json
import random
import struct
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apiserver import protobuf as pb

DATA = Path(__file__).resolve().parent / "data" / "protobuf"

# --------------------------------------------------------------------------- recording kubectl bodies

#: (case name, kubectl arguments); every one sends a typed create
KUBECTL_COMMANDS: list[tuple[str, list[str]]] = [
    ("configmap", ["create", "configmap", "x", "--from-literal=a=b"]),
    ("namespace", ["create", "namespace", "ns1"]),
    ("deployment", ["create", "deployment", "web", "--image=nginx", "--replicas=2", "--port=80"]),
    ("secret", ["create", "secret", "generic", "s1", "--from-literal=user=admin",
                "--from-file=blob={BLOB}"]),
    ("service", ["create", "service", "clusterip", "web", "--tcp=80:8080", "--tcp=443:8443"]),
    ("service-nodeport", ["create", "service", "nodeport", "np1", "--tcp=80:8080", "--node-port=30080"]),
    ("job", ["create", "job", "j1", "--image=busybox", "--", "echo", "hi"]),
    ("cronjob", ["create", "cronjob", "c1", "--image=busybox", "--schedule=*/5 * * * *", "--", "date"]),
    ("role", ["create", "role", "r1", "--verb=get,list,watch", "--resource=pods,deployments.apps"]),
    ("rolebinding", ["create", "rolebinding", "rb1", "--role=r1", "--user=alice", "--serviceaccount=default:sa1"]),
    ("clusterrole", ["create", "clusterrole", "cr1", "--verb=get", "--resource=nodes",
                     "--non-resource-url=/healthz"]),
    ("clusterrolebinding", ["create", "clusterrolebinding", "crb1", "--clusterrole=cr1", "--group=devs"]),
    ("serviceaccount", ["create", "serviceaccount", "sa1"]),
    ("quota", ["create", "quota", "q1", "--hard=cpu=1,memory=1Gi,pods=10,requests.storage=500m"]),
    ("priorityclass", ["create", "priorityclass", "pc1", "--value=1000", "--description=high",
                       "--preemption-policy=Never"]),
    ("poddisruptionbudget", ["create", "poddisruptionbudget", "pdb1", "--selector=app=web",
                             "--min-available=50%"]),
    ("ingress", ["create", "ingress", "ing1", "--class=nginx", "--rule=foo.com/bar*=svc1:8080,tls=my-cert",
                 "--annotation=a=b"]),
    ("token", ["create", "token", "sa1", "--audience=api", "--duration=1h"]),
]

#: commands without ``--dry-run=client -o json``: the JSON json.Marshal gives for the object kubectl
#: builds, written from the Go types (TokenRequestSpec's audiences, expirationSeconds and
#: boundObjectRef have no omitempty, so a nil boundObjectRef is null; TokenRequestStatus is a
#: non-pointer struct whose token string and expirationTimestamp Time have no omitempty either)
EXPECTED_WITHOUT_DRY_RUN: dict[str, dict[str, Any]] = {
    "token": {"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1", "metadata": {},
              "spec": {"audiences": ["api"], "expirationSeconds": 3600, "boundObjectRef": None},
              "status": {"token": "", "expirationTimestamp": None}},
}

PROTOBUF = "application/vnd.kubernetes.protobuf"


class _Recorder(http.server.ThreadingHTTPServer):
    """A reverse proxy on 127.0.0.1 that keeps every request body it forwards."""

    daemon_threads = True

    def __init__(self, upstream: str) -> None:
        host, _, port = upstream.removeprefix("http://").partition(":")
        self.upstream = (host, int(port))
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class _ProxyHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Recorder

    def _forward(self) -> None:
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        if self.command in ("POST", "PUT", "PATCH"):
            with self.server.lock:
                self.server.requests.append({"method": self.command, "path": self.path,
                                             "headers": dict(self.headers), "body": body})
        conn = http.client.HTTPConnection(*self.server.upstream, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        conn.request(self.command, self.path, body=body or None, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _kubeconfig(url: str, path: Path) -> Path:
    path.write_text(
        "apiVersion: v1\nkind: Config\n"
        f"clusters:\n- name: c\n  cluster:\n    server: {url}\n"
        "users:\n- name: u\n  user: {}\n"
        "contexts:\n- name: c\n  context:\n    cluster: c\n    user: u\n"
        "current-context: c\n"
    )
    return path


def capture(binary: str, server_url: str, commands: list[tuple[str, list[str]]],
            workdir: Path) -> dict[str, dict[str, Any]]:
    """Run each command through a recording proxy; return {name: {body, request, expected}}.

    ``expected`` is what the same command prints with ``--dry-run=client -o json``.
    """
    from conformance.kubectl import run_kubectl

    blob = workdir / "blob.bin"
    blob.write_bytes(bytes(range(256)) + b"\x00\xff binary \x80")
    recorder = _Recorder(server_url)
    kubeconfig = _kubeconfig(recorder.url, workdir / "kubeconfig")
    out: dict[str, dict[str, Any]] = {}
    try:
        for name, args in commands:
            args = [a.replace("{BLOB}", str(blob)) for a in args]
            if name in EXPECTED_WITHOUT_DRY_RUN:
                expected = EXPECTED_WITHOUT_DRY_RUN[name]
            else:
                cut = args.index("--") if "--" in args else len(args)
                dry = run_kubectl(binary, kubeconfig, *args[:cut], "--dry-run=client", "-o", "json", *args[cut:])
                assert dry.returncode == 0, (name, dry.stderr)
                expected = json.loads(dry.stdout)
            with recorder.lock:
                recorder.requests.clear()
            run_kubectl(binary, kubeconfig, *args)  # the server's answer does not matter
            with recorder.lock:
                sent = [r for r in recorder.requests if r["method"] == "POST"]
            assert len(sent) == 1, (name, [r["path"] for r in recorder.requests])
            req = sent[0]
            out[name] = {
                "body": req["body"],
                "request": {"method": req["method"], "path": req["path"],
                            "contentType": req["headers"].get("Content-Type"),
                            "userAgent": req["headers"].get("User-Agent"),
                            "command": ["kubectl", *[a.replace(str(blob), "BLOB") for a in args]]},
                "expected": expected,
            }
    finally:
        recorder.stop()
    return out


def record() -> None:
    """Re-record tests/data/protobuf/<label>/ from the real kubectl binaries and a kplane server."""
    from conformance.kubectl import kubectl_binaries
    from tests.cluster import ServerProcess

    server = ServerProcess("memory://").start()
    try:
        for label, binary in kubectl_binaries():
            target = DATA / label
            target.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory() as tmp:
                cases = capture(binary, server.url, KUBECTL_COMMANDS, Path(tmp))
            for name, case in cases.items():
                (target / f"{name}.pb").write_bytes(case["body"])
                doc = {"request": case["request"], "expected": case["expected"]}
                (target / f"{name}.json").write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
            print(f"{label}: {len(cases)} bodies -> {target}", file=sys.stderr)
    finally:
        server.stop()


# --------------------------------------------------------------------------- recorded bodies

def _recorded() -> list[Any]:
    cases = []
    for meta in sorted(DATA.glob("*/*.json")):
        cases.append(pytest.param(meta, id=f"{meta.parent.name}-{meta.stem}"))
    return cases


def _without_null_creation_timestamps(obj: Any) -> Any:
    """kubectl < 1.33 prints ``creationTimestamp: null``; 1.37's ObjectMeta has omitzero there."""
    if isinstance(obj, dict):
        return {k: _without_null_creation_timestamps(v) for k, v in obj.items()
                if not (k == "creationTimestamp" and v is None)}
    if isinstance(obj, list):
        return [_without_null_creation_timestamps(v) for v in obj]
    return obj


def check_kubectl_body(body: bytes, request: dict[str, Any], expected: dict[str, Any]) -> None:
    assert request["contentType"] == PROTOBUF
    unknown: list[str] = []
    got = pb.decode_object(body, unknown=unknown)
    assert unknown == []
    assert got == _without_null_creation_timestamps(expected)
    # upstream's marshaller, byte for byte
    assert pb.encode_object(got) == body
    # plain proto2 mode sees every field on the wire (zero values included) and round-trips it; an
    # empty Time (the zero time) is null in JSON and so cannot be re-sent in this mode
    message = pb.message_for_kind(*_gv(got["apiVersion"]), got["kind"])
    assert message is not None
    raw, _ = pb.decode(message, pb.decode_envelope(body)[2], go_semantics=False)
    assert raw["metadata"]["uid"] == "" and raw["metadata"]["generation"] == 0
    assert pb.decode(message, pb.encode(message, raw, go_semantics=False), go_semantics=False)[0] == \
        _drop_nulls(raw)


def _gv(api_version: str) -> tuple[str, str]:
    g, _, v = api_version.rpartition("/")
    return g, v


def test_recorded_bodies_exist() -> None:
    labels = {p.name for p in DATA.iterdir() if p.is_dir()}
    assert labels == {"1.37", "preinstalled"}
    for label in labels:
        names = {p.stem for p in (DATA / label).glob("*.pb")}
        assert names == {name for name, _ in KUBECTL_COMMANDS}, label


@pytest.mark.parametrize("meta", _recorded())
def test_recorded_kubectl_body(meta: Path) -> None:
    doc = json.loads(meta.read_text())
    check_kubectl_body(meta.with_suffix(".pb").read_bytes(), doc["request"], doc["expected"])


def test_recorded_secret_binary_data() -> None:
    body = (DATA / "1.37" / "secret.pb").read_bytes()
    obj = pb.decode_object(body, group="", version="v1", expected_kind="Secret")
    assert base64.b64decode(obj["data"]["blob"]) == bytes(range(256)) + b"\x00\xff binary \x80"
    assert base64.b64decode(obj["data"]["user"]) == b"admin"


def test_recorded_deployment_shape() -> None:
    obj = pb.decode_object((DATA / "1.37" / "deployment.pb").read_bytes())
    assert obj["kind"] == "Deployment" and obj["apiVersion"] == "apps/v1"
    assert obj["spec"]["replicas"] == 2
    assert obj["spec"]["template"]["spec"]["containers"][0]["ports"] == [{"containerPort": 80}]
    assert "creationTimestamp" not in obj["metadata"]
    assert obj["status"] == {} and obj["spec"]["strategy"] == {}
    pdb = pb.decode_object((DATA / "1.37" / "poddisruptionbudget.pb").read_bytes())
    assert pdb["spec"]["minAvailable"] == "50%"


@pytest.mark.kubectl
def test_live_kubectl_bodies(kubectl_bins: tuple[str, str], apiserver: Any, tmp_path: Path) -> None:
    """The same check against the binaries as installed now, through a recording proxy."""
    _, binary = kubectl_bins
    wanted = {"configmap", "deployment", "secret", "service", "role", "quota", "ingress", "token"}
    cases = capture(binary, apiserver.url, [c for c in KUBECTL_COMMANDS if c[0] in wanted], tmp_path)
    assert set(cases) == wanted
    for case in cases.values():
        check_kubectl_body(case["body"], case["request"], case["expected"])


# --------------------------------------------------------------------------- envelope

def test_envelope_layout() -> None:
    env = pb.encode_envelope("apps/v1", "Deployment", b"\x0a\x00")
    assert env == (b"k8s\x00" + b"\x0a\x15" + b"\x0a\x07apps/v1" + b"\x12\x0aDeployment"
                   + b"\x12\x02\x0a\x00" + b"\x1a\x00\x22\x00")
    assert pb.decode_envelope(env) == ("apps/v1", "Deployment", b"\x0a\x00")


@pytest.mark.parametrize("body, message", [
    (b"", "empty data"),
    (b"k8s\x00", "empty body"),
    (b"{}", "does not appear to be a protobuf message"),
    (b"k8s\x00\x0a\x05\x0a\x02v1", "unexpected EOF"),
])
def test_envelope_errors(body: bytes, message: str) -> None:
    with pytest.raises(pb.ProtobufError, match=message):
        pb.decode_envelope(body)


def test_decode_object_kind_defaults_and_errors() -> None:
    cm = pb.encode("k8s.io.api.core.v1.ConfigMap", {"metadata": {"name": "a"}, "data": {"k": "v"}})
    # no typeMeta at all: upstream takes the endpoint's group/version/kind
    body = b"k8s\x00" + b"\x12" + bytes([len(cm)]) + cm
    obj = pb.decode_object(body, group="", version="v1", expected_kind="ConfigMap")
    assert obj == {"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "a"}, "data": {"k": "v"}}
    with pytest.raises(pb.ProtobufError, match="'Kind' is missing"):
        pb.decode_object(body)
    with pytest.raises(pb.ProtobufError, match='no kind "Nope" is registered for version "v1"'):
        pb.decode_object(pb.encode_envelope("v1", "Nope", b""))
    with pytest.raises(pb.ProtobufError, match="needs apiVersion and kind"):
        pb.encode_object({"kind": "Pod"})


# --------------------------------------------------------------------------- message_for_kind

@pytest.mark.parametrize("gvk, message", [
    (("apps", "v1", "Deployment"), "k8s.io.api.apps.v1.Deployment"),
    (("apps", "v1", "DeploymentList"), "k8s.io.api.apps.v1.DeploymentList"),
    (("", "v1", "Pod"), "k8s.io.api.core.v1.Pod"),
    (("core", "v1", "Binding"), "k8s.io.api.core.v1.Binding"),
    (("", "v1", "List"), "k8s.io.api.core.v1.List"),
    (("autoscaling", "v1", "Scale"), "k8s.io.api.autoscaling.v1.Scale"),
    (("policy", "v1", "Eviction"), "k8s.io.api.policy.v1.Eviction"),
    (("authentication.k8s.io", "v1", "TokenRequest"), "k8s.io.api.authentication.v1.TokenRequest"),
    (("authentication.k8s.io", "v1", "TokenReview"), "k8s.io.api.authentication.v1.TokenReview"),
    (("authentication.k8s.io", "v1", "SelfSubjectReview"), "k8s.io.api.authentication.v1.SelfSubjectReview"),
    (("authorization.k8s.io", "v1", "SubjectAccessReview"), "k8s.io.api.authorization.v1.SubjectAccessReview"),
    (("authorization.k8s.io", "v1", "SelfSubjectRulesReview"),
     "k8s.io.api.authorization.v1.SelfSubjectRulesReview"),
    (("", "v1", "Status"), "k8s.io.apimachinery.pkg.apis.meta.v1.Status"),
    (("apps", "v1", "DeleteOptions"), "k8s.io.apimachinery.pkg.apis.meta.v1.DeleteOptions"),
    (("batch", "v1", "WatchEvent"), "k8s.io.apimachinery.pkg.apis.meta.v1.WatchEvent"),
    (("meta.k8s.io", "v1", "PartialObjectMetadata"), "k8s.io.apimachinery.pkg.apis.meta.v1.PartialObjectMetadata"),
    (("meta.k8s.io", "v1", "PartialObjectMetadataList"),
     "k8s.io.apimachinery.pkg.apis.meta.v1.PartialObjectMetadataList"),
    (("meta.k8s.io", "v1beta1", "PartialObjectMetadataList"),
     "k8s.io.apimachinery.pkg.apis.meta.v1beta1.PartialObjectMetadataList"),
    (("meta.k8s.io", "v1", "Table"), None),  # upstream has no protobuf form of Table
    (("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
     "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition"),
    (("apiregistration.k8s.io", "v1", "APIService"), "k8s.io.kube_aggregator.pkg.apis.apiregistration.v1.APIService"),
    (("rbac.authorization.k8s.io", "v1", "ClusterRole"), "k8s.io.api.rbac.v1.ClusterRole"),
    (("flowcontrol.apiserver.k8s.io", "v1", "FlowSchema"), "k8s.io.api.flowcontrol.v1.FlowSchema"),
    (("internal.apiserver.k8s.io", "v1alpha1", "StorageVersion"),
     "k8s.io.api.apiserverinternal.v1alpha1.StorageVersion"),
    (("apps", "v1", "PodSpec"), None),  # not a kind
    (("example.com", "v1", "Widget"), None),  # custom resources have no protobuf form
])
def test_message_for_kind(gvk: tuple[str, str, str], message: str | None) -> None:
    assert pb.message_for_kind(*gvk) == message


def test_table_info() -> None:
    info = pb.table_info()
    assert info["kubernetes"] == "1.37" and info["messages"] > 1000
    assert "k8s.io/api" in info["sources"] and "k8s.io/apimachinery" in info["sources"]


# --------------------------------------------------------------------------- realistic objects

TS = "2026-01-02T03:04:05Z"

POD: dict[str, Any] = {
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {
        "name": "web-0", "namespace": "default", "uid": "8d5c8a4e-1111-2222-3333-444455556666",
        "resourceVersion": "123", "generation": 1, "creationTimestamp": TS,
        "labels": {"app": "web", "tier": "frontend"}, "annotations": {"note": "", "x/y": "z"},
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-abc",
                             "uid": "aaaa", "controller": True, "blockOwnerDeletion": True}],
        "finalizers": ["example.com/f"],
        "managedFields": [{"manager": "kubectl", "operation": "Update", "apiVersion": "v1", "time": TS,
                           "fieldsType": "FieldsV1",
                           "fieldsV1": {"f:metadata": {"f:labels": {".": {}, "f:app": {}}}}}],
    },
    "spec": {
        "volumes": [{"name": "cfg", "configMap": {"name": "cfg", "defaultMode": 420,
                                                  "items": [{"key": "a", "path": "a.txt"}]}},
                    {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}}],
        "initContainers": [{"name": "init", "image": "busybox", "command": ["sh", "-c", "true"]}],
        "containers": [{
            "name": "app", "image": "nginx:1.27", "args": ["--port", "8080"],
            "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"},
                      {"containerPort": 53, "protocol": "UDP", "hostPort": 5353}],
            "env": [{"name": "A", "value": "1"}, {"name": "EMPTY", "value": ""},
                    {"name": "POD", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}},
                    {"name": "KEY", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k", "optional": False}}}],
            "envFrom": [{"configMapRef": {"name": "cfg"}, "prefix": "CFG_"}],
            "resources": {"limits": {"cpu": "500m", "memory": "128Mi"},
                          "requests": {"cpu": "250m", "memory": "64Mi", "nvidia.com/gpu": "1"}},
            "volumeMounts": [{"name": "cfg", "mountPath": "/etc/cfg", "readOnly": True}],
            "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http", "scheme": "HTTP",
                                          "httpHeaders": [{"name": "X", "value": "y"}]},
                              "initialDelaySeconds": 3, "periodSeconds": 10, "timeoutSeconds": 1,
                              "successThreshold": 1, "failureThreshold": 3},
            "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 5},
            "startupProbe": {"exec": {"command": ["cat", "/ready"]}, "failureThreshold": 30},
            "lifecycle": {"preStop": {"sleep": {"seconds": 5}}},
            "securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "allowPrivilegeEscalation": False,
                                "capabilities": {"drop": ["ALL"]}, "readOnlyRootFilesystem": True},
            "imagePullPolicy": "IfNotPresent", "terminationMessagePath": "/dev/termination-log",
            "terminationMessagePolicy": "File",
        }],
        "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
        "nodeSelector": {"kubernetes.io/os": "linux"}, "serviceAccountName": "default",
        "automountServiceAccountToken": False, "nodeName": "node-1", "hostNetwork": False,
        "securityContext": {"fsGroup": 2000, "supplementalGroups": [1, 2, 3], "runAsGroup": -1},
        "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 100, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname",
                                                "labelSelector": {"matchExpressions": [
                                                    {"key": "app", "operator": "In", "values": ["web"]}]}}}]}},
        "tolerations": [{"key": "k", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}],
        "priority": 0, "enableServiceLinks": True, "preemptionPolicy": "PreemptLowerPriority",
        "overhead": {"cpu": "10m"},
        "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule",
                                       "labelSelector": {"matchLabels": {"app": "web"}}}],
    },
    "status": {
        "phase": "Running", "hostIP": "10.0.0.1", "podIP": "10.244.0.5", "podIPs": [{"ip": "10.244.0.5"}],
        "startTime": TS, "qosClass": "Burstable",
        "conditions": [{"type": "Ready", "status": "True", "lastProbeTime": None, "lastTransitionTime": TS}],
        "containerStatuses": [{"name": "app", "ready": True, "restartCount": 0, "image": "nginx:1.27",
                               "imageID": "docker.io/library/nginx@sha256:abc", "containerID": "containerd://x",
                               "started": True,
                               "state": {"running": {"startedAt": TS}},
                               "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled",
                                                            "startedAt": TS, "finishedAt": TS}}}],
    },
}

DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "default", "generation": 3, "labels": {"app": "web"},
                 "annotations": {"deployment.kubernetes.io/revision": "2"}},
    "spec": {"replicas": 0, "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600, "paused": False,
             "selector": {"matchLabels": {"app": "web"}},
             "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": 1}},
             "template": {"metadata": {"labels": {"app": "web"}},
                          "spec": {"containers": [{"name": "nginx", "image": "nginx"}]}}},
    "status": {"observedGeneration": 3, "replicas": 2, "updatedReplicas": 2, "readyReplicas": 2,
               "availableReplicas": 2,
               "conditions": [{"type": "Available", "status": "True", "lastUpdateTime": TS,
                               "lastTransitionTime": TS, "reason": "MinimumReplicasAvailable",
                               "message": "Deployment has minimum availability."}]},
}

SERVICE: dict[str, Any] = {
    "apiVersion": "v1", "kind": "Service",
    "metadata": {"name": "web", "namespace": "default"},
    "spec": {"type": "NodePort", "selector": {"app": "web"}, "clusterIP": "10.96.0.10",
             "clusterIPs": ["10.96.0.10", "fd00::10"], "ipFamilies": ["IPv4", "IPv6"],
             "ipFamilyPolicy": "PreferDualStack", "sessionAffinity": "ClientIP",
             "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 10800}},
             "externalTrafficPolicy": "Cluster", "internalTrafficPolicy": "Cluster",
             "ports": [{"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080, "nodePort": 30080},
                       {"name": "https", "protocol": "TCP", "port": 443, "targetPort": "https",
                        "appProtocol": "https"}]},
    "status": {"loadBalancer": {"ingress": [{"ip": "1.2.3.4", "ports": [{"port": 80, "protocol": "TCP"}]}]}},
}

CONFIGMAP: dict[str, Any] = {
    "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": "default"},
    "data": {"a": "1", "": "empty key", "unicode": "h\u00e9llo \u2603 \U0001f600", "multi": "x\ny\n"},
    "binaryData": {"bin": base64.b64encode(b"\x00\x01\xfe\xff").decode()}, "immutable": True,
}

SECRET: dict[str, Any] = {
    "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "default"},
    "type": "kubernetes.io/tls",
    "data": {"tls.crt": base64.b64encode(bytes(range(256))).decode(), "tls.key": "", "x": "AA=="},
}

NAMESPACE: dict[str, Any] = {
    "apiVersion": "v1", "kind": "Namespace",
    "metadata": {"name": "team-a", "labels": {"kubernetes.io/metadata.name": "team-a"},
                 "deletionTimestamp": TS, "deletionGracePeriodSeconds": 0},
    "spec": {"finalizers": ["kubernetes"]},
    "status": {"phase": "Terminating",
               "conditions": [{"type": "NamespaceDeletionContentFailure", "status": "False",
                               "lastTransitionTime": TS, "reason": "ContentDeleted", "message": "ok"}]},
}

JOB: dict[str, Any] = {
    "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "pi", "namespace": "default"},
    "spec": {"parallelism": 2, "completions": 4, "backoffLimit": 6, "activeDeadlineSeconds": 3600,
             "ttlSecondsAfterFinished": 100, "completionMode": "Indexed", "suspend": False,
             "podFailurePolicy": {"rules": [{"action": "FailJob", "onExitCodes": {"operator": "In",
                                                                                 "values": [42, 43]}}]},
             "template": {"spec": {"restartPolicy": "Never",
                                   "containers": [{"name": "pi", "image": "perl", "command": ["perl", "-e", "1"]}]}}},
    "status": {"active": 1, "succeeded": 2, "failed": 0, "startTime": TS, "completedIndexes": "0-1",
               "ready": 1, "terminating": 0,
               "uncountedTerminatedPods": {"succeeded": ["uid-1"]}},
}

CRONJOB: dict[str, Any] = {
    "apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "hello", "namespace": "default"},
    "spec": {"schedule": "*/1 * * * *", "timeZone": "Etc/UTC", "concurrencyPolicy": "Forbid",
             "startingDeadlineSeconds": 200, "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 1,
             "jobTemplate": {"metadata": {"labels": {"x": "y"}},
                             "spec": {"template": {"spec": {"restartPolicy": "OnFailure",
                                                            "containers": [{"name": "c", "image": "busybox"}]}}}}},
    "status": {"lastScheduleTime": TS, "lastSuccessfulTime": TS,
               "active": [{"kind": "Job", "namespace": "default", "name": "hello-1", "uid": "u",
                           "apiVersion": "batch/v1", "resourceVersion": "7"}]},
}

ROLE: dict[str, Any] = {
    "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
    "metadata": {"name": "r", "namespace": "default"},
    "rules": [{"apiGroups": [""], "resources": ["pods", "pods/log"], "verbs": ["get", "list"]},
              {"apiGroups": ["apps"], "resources": ["deployments"], "resourceNames": ["web"], "verbs": ["*"]}],
}

CLUSTERROLE: dict[str, Any] = {
    "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "agg"},
    "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"rbac.example.com/aggregate": "true"}}]},
    "rules": [{"nonResourceURLs": ["/healthz", "/metrics"], "verbs": ["get"]}],
}

NODE: dict[str, Any] = {
    "apiVersion": "v1", "kind": "Node",
    "metadata": {"name": "node-1", "labels": {"kubernetes.io/hostname": "node-1"}},
    "spec": {"podCIDR": "10.244.0.0/24", "podCIDRs": ["10.244.0.0/24"], "providerID": "kplane://node-1",
             "taints": [{"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule", "timeAdded": TS}],
             "unschedulable": True},
    "status": {
        "capacity": {"cpu": "4", "memory": "16Gi", "pods": "110", "ephemeral-storage": "100Gi"},
        "allocatable": {"cpu": "3800m", "memory": "15Gi", "pods": "110"},
        "conditions": [{"type": "Ready", "status": "True", "lastHeartbeatTime": TS, "lastTransitionTime": TS,
                        "reason": "KubeletReady", "message": "kubelet is posting ready status"}],
        "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}, {"type": "Hostname", "address": "node-1"}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        "nodeInfo": {"machineID": "m", "systemUUID": "s", "bootID": "b", "kernelVersion": "6.1",
                     "osImage": "Debian", "containerRuntimeVersion": "containerd://2.0", "kubeletVersion": "v1.37.0",
                     "kubeProxyVersion": "", "operatingSystem": "linux", "architecture": "amd64"},
        "images": [{"names": ["nginx:1.27", "nginx@sha256:abc"], "sizeBytes": 67108864}],
        "volumesInUse": ["kubernetes.io/csi/x"],
    },
}

EVENT: dict[str, Any] = {
    "apiVersion": "events.k8s.io/v1", "kind": "Event",
    "metadata": {"name": "web.17a", "namespace": "default"},
    "eventTime": "2026-01-02T03:04:05.123456Z", "reportingController": "kplane.io/scheduler",
    "reportingInstance": "sched-1", "action": "Binding", "reason": "Scheduled", "type": "Normal",
    "regarding": {"kind": "Pod", "namespace": "default", "name": "web-0", "uid": "u", "apiVersion": "v1"},
    "note": "Successfully assigned default/web-0 to node-1", "deprecatedCount": 0,
    "series": {"count": 2, "lastObservedTime": "2026-01-02T03:04:06.000001Z"},
}

CORE_EVENT: dict[str, Any] = {
    "apiVersion": "v1", "kind": "Event", "metadata": {"name": "e", "namespace": "default"},
    "involvedObject": {"kind": "Pod", "name": "web-0"}, "reason": "Pulled", "message": "pulled",
    "source": {"component": "kubelet", "host": "node-1"}, "firstTimestamp": TS, "lastTimestamp": TS,
    "count": 3, "type": "Normal", "eventTime": None, "reportingComponent": "", "reportingInstance": "",
}

STATUS: dict[str, Any] = {
    "apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure",
    "message": 'pods "x" not found', "reason": "NotFound",
    "details": {"name": "x", "kind": "pods", "causes": [{"reason": "FieldValueRequired", "message": "m",
                                                          "field": "spec.x"}], "retryAfterSeconds": 1},
    "code": 404,
}

DELETE_OPTIONS: dict[str, Any] = {
    "apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0, "orphanDependents": False,
    "propagationPolicy": "Foreground", "dryRun": ["All"],
    "preconditions": {"uid": "u", "resourceVersion": "5"},
}

POD_LIST: dict[str, Any] = {
    "apiVersion": "v1", "kind": "PodList",
    "metadata": {"resourceVersion": "99", "continue": "abc", "remainingItemCount": 5},
    "items": [{"metadata": {"name": "a"}, "spec": {"containers": [{"name": "c", "image": "i"}]}},
              {"metadata": {"name": "b"}, "spec": {"containers": [{"name": "d"}]}, "status": {"phase": "Pending"}}],
}

SCALE: dict[str, Any] = {
    "apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": {"name": "web", "namespace": "default"},
    "spec": {"replicas": 3}, "status": {"replicas": 2, "selector": "app=web"},
}

TOKEN_REVIEW: dict[str, Any] = {
    "apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "metadata": {},
    "spec": {"token": "abc", "audiences": ["api"]},
    "status": {"authenticated": True, "user": {"username": "alice", "uid": "1", "groups": ["devs"],
                                               "extra": {"scopes": ["a", "b"], "none": []}},
               "audiences": ["api"]},
}

CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {"group": "example.com", "scope": "Namespaced",
             "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList",
                       "shortNames": ["wd"]},
             "versions": [{"name": "v1", "served": True, "storage": True,
                           "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas",
                                                                    "statusReplicasPath": ".status.replicas"}},
                           "additionalPrinterColumns": [{"name": "Size", "type": "integer",
                                                         "jsonPath": ".spec.size"}],
                           "schema": {"openAPIV3Schema": {
                               "type": "object", "x-kubernetes-preserve-unknown-fields": False,
                               "properties": {
                                   "spec": {"type": "object", "required": ["size"],
                                            "properties": {
                                                "size": {"type": "integer", "minimum": 1, "maximum": 10.5,
                                                         "default": 3},
                                                "mode": {"type": "string", "enum": ["a", "b", None]},
                                                "tags": {"type": "array", "items": {"type": "string"},
                                                         "x-kubernetes-list-type": "set"},
                                                "meta": {"type": "object",
                                                         "additionalProperties": {"type": "string"}},
                                                "free": {"type": "object", "additionalProperties": True},
                                                "tuple": {"type": "array",
                                                          "items": [{"type": "string"}, {"type": "integer"}]},
                                                "port": {"x-kubernetes-int-or-string": True,
                                                         "anyOf": [{"type": "integer"}, {"type": "string"}]},
                                            },
                                            "dependencies": {"a": ["b"], "c": {"required": ["d"]}},
                                            "x-kubernetes-validations": [{"rule": "self.size > 0",
                                                                          "message": "positive"}]},
                               }}}}],
             "conversion": {"strategy": "None"}},
}

APISERVICE: dict[str, Any] = {
    "apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService", "metadata": {"name": "v1.example.com"},
    "spec": {"group": "example.com", "version": "v1", "groupPriorityMinimum": 1000, "versionPriority": 15,
             "service": {"namespace": "ns", "name": "svc", "port": 443}, "caBundle": "AQID",
             "insecureSkipTLSVerify": False},
}

LEASE: dict[str, Any] = {
    "apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "node-1", "namespace": "kube-node-lease"},
    "spec": {"holderIdentity": "node-1", "leaseDurationSeconds": 40, "renewTime": "2026-01-02T03:04:05.000000Z",
             "acquireTime": "1969-12-31T23:59:59.500000Z", "leaseTransitions": 0},
}

CONTROLLER_REVISION: dict[str, Any] = {
    "apiVersion": "apps/v1", "kind": "ControllerRevision", "metadata": {"name": "web-1"},
    "data": {"spec": {"template": {"$patch": "replace", "spec": {"containers": [{"name": "a"}]}}}},
    "revision": 1,
}

PDB: dict[str, Any] = {
    "apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "p", "namespace": "default"},
    "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": "web"}},
             "unhealthyPodEvictionPolicy": "AlwaysAllow"},
    "status": {"observedGeneration": 1, "disruptionsAllowed": 1, "currentHealthy": 2, "desiredHealthy": 1,
               "expectedPods": 2, "disruptedPods": {"web-0": TS}},
}

HPA: dict[str, Any] = {
    "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "h"},
    "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
             "minReplicas": 1, "maxReplicas": 10,
             "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                 "type": "Utilization", "averageUtilization": 80}}},
                 {"type": "Pods", "pods": {"metric": {"name": "qps"},
                                           "target": {"type": "AverageValue", "averageValue": "1k"}}}],
             "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300, "selectPolicy": "Max",
                                        "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}],
                                        "tolerance": "50m"}}},
}

OBJECTS = {
    "pod": POD, "deployment": DEPLOYMENT, "service": SERVICE, "configmap": CONFIGMAP, "secret": SECRET,
    "namespace": NAMESPACE, "job": JOB, "cronjob": CRONJOB, "role": ROLE, "clusterrole": CLUSTERROLE,
    "node": NODE, "event": EVENT, "core-event": CORE_EVENT, "status": STATUS, "delete-options": DELETE_OPTIONS,
    "pod-list": POD_LIST, "scale": SCALE, "token-review": TOKEN_REVIEW, "crd": CRD, "apiservice": APISERVICE,
    "lease": LEASE, "controller-revision": CONTROLLER_REVISION, "pdb": PDB, "hpa": HPA,
}


def _drop_nulls(obj: Any) -> Any:
    """What plain proto2 keeps of a dict: ``None`` means absent (not inside lists)."""
    if isinstance(obj, dict):
        return {k: _drop_nulls(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, list):
        return [_drop_nulls(v) for v in obj]
    return obj


@pytest.mark.parametrize("name", sorted(OBJECTS))
def test_round_trip_wire_semantics(name: str) -> None:
    """Plain proto2: dict -> protobuf -> dict gives the dict back (``None`` = absent)."""
    obj = OBJECTS[name]
    body = pb.encode_object(obj, go_semantics=False)
    got = pb.decode_object(body, go_semantics=False)
    assert got == _drop_nulls(obj)


@pytest.mark.parametrize("name", sorted(OBJECTS))
def test_round_trip_go_semantics(name: str) -> None:
    """Upstream semantics: a fixed point after one trip, and every set field survives."""
    obj = OBJECTS[name]
    body = pb.encode_object(obj)
    got = pb.decode_object(body)
    assert pb.encode_object(got) == body
    assert pb.decode_object(pb.encode_object(got)) == got
    assert _subset(_drop_zero(obj), got), (name, got)


def _drop_zero(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _drop_zero(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, list):
        return [_drop_zero(v) for v in obj]
    return obj


def _subset(want: Any, got: Any) -> bool:
    """Every key of ``want`` is in ``got`` with the same value, zero scalars allowed to vanish."""
    if isinstance(want, dict):
        if not isinstance(got, dict):
            return False
        for k, v in want.items():
            if k not in got:
                if v == [] or (not isinstance(v, dict | list) and v in ("", 0, False)):
                    continue  # zero values json.Marshal omits (omitempty)
                return False
            if not _subset(v, got[k]):
                return False
        return True
    if isinstance(want, list):
        return isinstance(got, list) and len(want) == len(got) and all(map(_subset, want, got))
    return bool(want == got)


def test_go_semantics_details() -> None:
    got = pb.decode_object(pb.encode_object(POD))
    c = got["spec"]["containers"][0]
    # probes: intstr by name and by number, quantities, pointers kept when zero
    assert c["livenessProbe"]["httpGet"]["port"] == "http"
    assert c["readinessProbe"]["tcpSocket"]["port"] == 8080
    assert c["resources"]["requests"]["cpu"] == "250m"
    assert got["spec"]["automountServiceAccountToken"] is False
    assert got["spec"]["priority"] == 0
    assert "hostNetwork" not in got["spec"]  # non-pointer bool with omitempty: json.Marshal drops false
    assert got["spec"]["securityContext"]["runAsGroup"] == -1
    assert got["status"]["conditions"][0]["lastProbeTime"] is None  # non-pointer Time: null
    assert got["metadata"]["managedFields"][0]["fieldsV1"] == POD["metadata"]["managedFields"][0]["fieldsV1"]
    assert got["metadata"]["annotations"] == {"note": "", "x/y": "z"}
    # Deployment: replicas 0 is a set pointer; strategy intstr percentages
    d = pb.decode_object(pb.encode_object(DEPLOYMENT))
    assert d["spec"]["replicas"] == 0
    assert d["spec"]["strategy"]["rollingUpdate"] == {"maxUnavailable": "25%", "maxSurge": 1}
    assert "paused" not in d["spec"]
    # Role without rules: a nil slice without omitempty is null, as json.Marshal writes it
    r = pb.decode_object(pb.encode_object({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                                            "metadata": {"name": "r"}}))
    assert r == {"kind": "Role", "apiVersion": "rbac.authorization.k8s.io/v1", "metadata": {"name": "r"},
                 "rules": None}
    # Event (events.k8s.io): MicroTime keeps microseconds
    e = pb.decode_object(pb.encode_object(EVENT))
    assert e["eventTime"] == "2026-01-02T03:04:05.123456Z"
    assert e["series"]["lastObservedTime"] == "2026-01-02T03:04:06.000001Z"
    lease = pb.decode_object(pb.encode_object(LEASE))
    assert lease["spec"]["acquireTime"] == "1969-12-31T23:59:59.500000Z"
    # core Event: eventTime is a non-pointer MicroTime without omitempty -> null
    ce = pb.decode_object(pb.encode_object(CORE_EVENT))
    assert ce["eventTime"] is None and ce["count"] == 3
    # quantities come back canonical, as upstream re-serializes them
    q = pb.decode_object(pb.encode_object({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q"},
                                            "spec": {"hard": {"cpu": "1000m", "memory": "1024Mi", "x": "0.5"}}}))
    assert q["spec"]["hard"] == {"cpu": "1", "memory": "1Gi", "x": "500m"}
    # Status
    s = pb.decode_object(pb.encode_object(STATUS))
    assert s["code"] == 404 and s["details"]["causes"][0]["field"] == "spec.x"


def test_times_and_durations() -> None:
    m = "k8s.io.apimachinery.pkg.apis.meta.v1.Time"
    assert pb.encode(m, "2026-01-02T03:04:05Z") == b"\x08" + _varint(1767323045) + b"\x10\x00"
    assert pb.decode(m, b"\x08" + _varint(1767323045))[0] == "2026-01-02T03:04:05Z"
    assert pb.decode(m, b"")[0] is None
    # offsets and fractions: Time keeps whole seconds only
    assert pb.decode(m, pb.encode(m, "2026-01-02T05:04:05.999+02:00"))[0] == "2026-01-02T03:04:05Z"
    assert pb.decode(m, pb.encode(m, "1900-03-01T00:00:00Z"))[0] == "1900-03-01T00:00:00Z"
    micro = "k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime"
    assert pb.decode(micro, pb.encode(micro, "2026-01-02T03:04:05.123456789Z"))[0] == "2026-01-02T03:04:05.123456Z"
    assert pb.decode(micro, pb.encode(micro, "2026-01-02T03:04:05Z"))[0] == "2026-01-02T03:04:05.000000Z"
    dur = "k8s.io.apimachinery.pkg.apis.meta.v1.Duration"
    for text, nanos in [("0s", 0), ("1h0m0s", 3600 * 10**9), ("1m30s", 90 * 10**9), ("1.5s", 1_500_000_000),
                        ("300ms", 300_000_000), ("2\u00b5s", 2000), ("7ns", 7), ("-1m0.5s", -60_500_000_000),
                        ("2562047h47m16.854775807s", 2**63 - 1)]:
        assert pb.encode(dur, text) == b"\x08" + _varint(nanos & (2**64 - 1)), text
        assert pb.decode(dur, pb.encode(dur, text))[0] == text
    assert pb.decode(dur, pb.encode(dur, "90m"))[0] == "1h30m0s"
    assert pb.decode(dur, pb.encode(dur, "1.5h"))[0] == "1h30m0s"
    with pytest.raises(pb.ProtobufError):
        pb.encode(dur, "5 minutes")
    with pytest.raises(pb.ProtobufError):
        pb.encode(m, "yesterday")


def test_intorstring_quantity_wire() -> None:
    m = "k8s.io.apimachinery.pkg.util.intstr.IntOrString"
    assert pb.encode(m, 8080) == b"\x08\x00\x10\x90\x3f\x1a\x00"
    assert pb.encode(m, "http") == b"\x08\x01\x10\x00\x1a\x04http"
    assert pb.encode(m, -1) == b"\x08\x00\x10" + b"\xff" * 9 + b"\x01" + b"\x1a\x00"
    assert pb.decode(m, pb.encode(m, -1))[0] == -1
    assert pb.decode(m, b"")[0] == 0
    with pytest.raises(pb.ProtobufError, match="impossible IntOrString.Type"):
        pb.decode(m, b"\x08\x02")
    q = "k8s.io.apimachinery.pkg.api.resource.Quantity"
    assert pb.encode(q, "100m") == b"\x0a\x04100m"
    assert pb.decode(q, b"")[0] == "0"
    with pytest.raises(pb.ProtobufError, match="quantities must match"):
        pb.decode(q, b"\x0a\x03abc")


def _varint(v: int) -> bytes:
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def test_unknown_fields_are_skipped_and_reported() -> None:
    msg = "k8s.io.api.core.v1.Pod"
    body = bytearray(pb.encode(msg, {"metadata": {"name": "a"}, "spec": {"containers": [{"name": "c"}]}},
                               go_semantics=False))
    # an unknown varint (field 99) at the top, an unknown string inside the first container
    body += _varint(99 << 3) + b"\x05"
    container = pb.encode("k8s.io.api.core.v1.Container", {"name": "c"}, go_semantics=False) + \
        _varint(77 << 3 | 2) + b"\x02hi" + _varint(78 << 3 | 5) + b"abcd" + _varint(79 << 3 | 1) + b"12345678"
    spec = b"\x12" + _varint(len(container)) + container
    body += b"\x12" + _varint(len(spec)) + spec
    obj, unknown = pb.decode(msg, bytes(body), go_semantics=False)
    assert obj["metadata"] == {"name": "a"}
    assert obj["spec"]["containers"] == [{"name": "c"}, {"name": "c"}]  # repeated fields append on merge
    assert unknown == ["#99", "spec.containers[1].#77", "spec.containers[1].#78", "spec.containers[1].#79"]
    unknown_list: list[str] = []
    pb.decode_object(pb.encode_envelope("v1", "Pod", bytes(body)), unknown=unknown_list)
    assert unknown_list == unknown


def test_wire_details() -> None:
    msg = "k8s.io.api.core.v1.PodSecurityContext"
    # packed repeated int64 is accepted as well as the unpacked form upstream writes
    packed = b"\x22" + _varint(3) + b"\x01\x02\x03"  # field 4 supplementalGroups
    assert pb.decode(msg, packed, go_semantics=False)[0] == {"supplementalGroups": [1, 2, 3]}
    assert pb.encode(msg, {"supplementalGroups": [1, 2, 3]}, go_semantics=False) == b"\x20\x01\x20\x02\x20\x03"
    # the last of a repeated scalar wins; wrong wire types are errors
    assert pb.decode(msg, b"\x10\x01\x10\x02", go_semantics=False)[0] == {"runAsUser": 2}
    with pytest.raises(pb.ProtobufError, match="wrong wireType"):
        pb.decode(msg, b"\x08\x00")  # seLinuxOptions is a message
    # map keys sorted, zero values of optional scalars written when present
    cm = pb.encode("k8s.io.api.core.v1.ConfigMap", {"data": {"b": "", "a": "1"}, "immutable": False},
                   go_semantics=False)
    assert cm == b"\x12\x06\x0a\x01a\x12\x011" + b"\x12\x05\x0a\x01b\x12\x00" + b"\x20\x00"
    # doubles: integral values come back as ints (Go writes 1, not 1.0)
    props = "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1.JSONSchemaProps"
    enc = pb.encode(props, {"maximum": 1, "minimum": 0.25}, go_semantics=False)
    assert enc == b"\x49" + struct.pack("<d", 1.0) + b"\x59" + struct.pack("<d", 0.25)
    assert pb.decode(props, enc, go_semantics=False)[0] == {"maximum": 1, "minimum": 0.25}
    # Verbs is a Go slice type wrapped in a message: JSON array
    res = pb.encode("k8s.io.apimachinery.pkg.apis.meta.v1.APIResource",
                    {"name": "pods", "verbs": ["get", "list"]}, go_semantics=False)
    assert res == b"\x0a\x04pods\x22\x0b\x0a\x03get\x0a\x04list"
    assert pb.decode("k8s.io.apimachinery.pkg.apis.meta.v1.APIResource", res)[0]["verbs"] == ["get", "list"]


def test_rawextension_and_unions() -> None:
    got = pb.decode_object(pb.encode_object(CONTROLLER_REVISION))
    assert got["data"] == CONTROLLER_REVISION["data"]
    crd = pb.decode_object(pb.encode_object(CRD))
    props = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    assert props["meta"]["additionalProperties"] == {"type": "string"}
    assert props["free"]["additionalProperties"] is True
    assert props["tuple"]["items"] == [{"type": "string"}, {"type": "integer"}]
    assert props["tags"]["items"] == {"type": "string"}
    assert props["mode"]["enum"] == ["a", "b", None]
    assert props["size"]["default"] == 3 and props["size"]["maximum"] == 10.5
    assert props["port"]["x-kubernetes-int-or-string"] is True
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert spec["dependencies"] == {"a": ["b"], "c": {"required": ["d"]}}


# --------------------------------------------------------------------------- watch

def test_watch_event_framing() -> None:
    frame = pb.encode_watch_event("ADDED", DEPLOYMENT)
    (n,) = struct.unpack(">I", frame[:4])
    assert n == len(frame) - 4
    api_version, kind, raw = pb.decode_envelope(frame[4:])
    assert (api_version, kind) == ("apps/v1", "WatchEvent")
    event, unknown = pb.decode("k8s.io.apimachinery.pkg.apis.meta.v1.WatchEvent", raw)
    assert unknown == [] and event["type"] == "ADDED"
    # the object is a RawExtension whose raw bytes are the envelope-encoded object itself
    inner = pb.encode_object(DEPLOYMENT)
    assert raw == b"\x0a\x05ADDED" + b"\x12" + _varint(len(inner) + 1 + len(_varint(len(inner)))) + \
        b"\x0a" + _varint(len(inner)) + inner
    assert event["object"] == pb.decode_object(inner)
    error_frame = pb.encode_watch_event("ERROR", STATUS, api_version="apps/v1")
    stream = frame + error_frame + \
        pb.encode_watch_event("BOOKMARK", {"apiVersion": "apps/v1", "kind": "Deployment",
                                           "metadata": {"resourceVersion": "12"}})
    events = pb.decode_watch_events(stream)
    assert [t for t, _ in events] == ["ADDED", "ERROR", "BOOKMARK"]
    assert events[1][1]["kind"] == "Status" and events[1][1]["code"] == 404
    # the WatchEvent carries the watched resource's group/version, the Status inside its own "v1"
    assert pb.decode_envelope(error_frame[4:])[:2] == ("apps/v1", "WatchEvent")
    status_raw = pb.decode("k8s.io.apimachinery.pkg.apis.meta.v1.WatchEvent", pb.decode_envelope(error_frame[4:])[2],
                           go_semantics=False)
    assert status_raw[0]["object"]["apiVersion"] == "v1"
    assert events[2][1]["metadata"] == {"resourceVersion": "12"}


# --------------------------------------------------------------------------- malformed input

def _all_bodies() -> list[bytes]:
    bodies = [p.read_bytes() for p in sorted(DATA.glob("*/*.pb"))]
    bodies += [pb.encode_object(o) for o in OBJECTS.values()]
    return bodies


def test_fuzz_truncations_and_flips() -> None:
    rng = random.Random(1234)
    seen_ok = 0
    for body in _all_bodies():
        cuts = sorted({rng.randrange(len(body)) for _ in range(25)} | {len(body) - 1, 5, 4})
        for cut in cuts:
            try:
                pb.decode_object(body[:cut])
            except pb.ProtobufError:
                pass
            else:
                seen_ok += 1
        for _ in range(60):
            b = bytearray(body)
            for _ in range(rng.randint(1, 4)):
                b[rng.randrange(4, len(b))] = rng.randrange(256)
            try:
                pb.decode_object(bytes(b))
            except pb.ProtobufError:
                pass
    for _ in range(3000):
        n = rng.randint(0, 64)
        junk = bytes(rng.randrange(256) for _ in range(n))
        for body in (junk, b"k8s\x00" + junk):
            try:
                pb.decode_object(body)
            except pb.ProtobufError:
                pass
        try:
            pb.decode("k8s.io.api.core.v1.Pod", junk)
        except pb.ProtobufError:
            pass
    assert seen_ok >= 0


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_fuzz_random_bytes_hypothesis(data: bytes) -> None:
    for message in ("k8s.io.api.core.v1.Pod", "k8s.io.api.apps.v1.Deployment",
                    "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition",
                    "k8s.io.apimachinery.pkg.apis.meta.v1.WatchEvent"):
        try:
            pb.decode(message, data)
        except pb.ProtobufError:
            pass
    try:
        pb.decode_object(b"k8s\x00" + data)
    except pb.ProtobufError:
        pass


def test_encode_errors_are_protobuf_errors() -> None:
    for bad in ({"metadata": {"name": 5}}, {"metadata": {"generation": "x"}}, {"spec": {"containers": {}}},
                {"metadata": {"labels": []}}, {"spec": {"priority": 2**40}}, {"metadata": {"creationTimestamp": "x"}},
                {"spec": {"containers": [{"ports": [{"containerPort": True}]}]}}, {"metadata": []}):
        with pytest.raises(pb.ProtobufError):
            pb.encode_object({"apiVersion": "v1", "kind": "Pod", **bad})
    with pytest.raises(pb.ProtobufError, match="base64"):
        pb.encode_object({"apiVersion": "v1", "kind": "Secret", "data": {"a": "***"}})


# --------------------------------------------------------------------------- generated objects

_MSGS = pb._load().messages  # the compiled table (test-only access)

_QUANTITIES = ["0", "1", "100m", "1Gi", "512Mi", "2k", "1.5", "1e3", "10G", "-1"]
_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)


def _scalar(kind: int) -> st.SearchStrategy[Any]:
    if kind == pb.K_STRING:
        return st.text(max_size=12)
    if kind == pb.K_BYTES:
        return st.binary(max_size=12).map(lambda b: base64.b64encode(b).decode())
    if kind == pb.K_BOOL:
        return st.booleans()
    if kind == pb.K_INT32:
        return st.integers(-(2**31), 2**31 - 1)
    if kind == pb.K_INT64:
        return st.integers(-(2**63), 2**63 - 1)
    if kind == pb.K_DOUBLE:
        return st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: not f.is_integer()) | \
            st.integers(-(2**50), 2**50)
    raise AssertionError(kind)


def _value(kind: int, msg: Any, depth: int) -> st.SearchStrategy[Any]:
    if kind < pb.K_MSG:
        return _scalar(kind)
    if kind == pb.K_MSG:
        return _message(msg.name, depth + 1)
    if kind == pb.K_TIME:
        return st.integers(-2_000_000_000, 250_000_000_000).map(lambda s: pb._fmt_time(s, None))
    if kind == pb.K_MICRO:
        return st.tuples(st.integers(-2_000_000_000, 250_000_000_000), st.integers(0, 999_999)).map(
            lambda t: pb._fmt_time(t[0], t[1]))
    if kind == pb.K_DURATION:
        return st.integers(-(2**63) + 1, 2**63 - 1).map(pb._fmt_duration)
    if kind == pb.K_QUANTITY:
        return st.sampled_from(_QUANTITIES).map(pb._quantity.canonical)
    if kind == pb.K_INTSTR:
        return st.integers(-(2**31), 2**31 - 1) | st.text(max_size=6)
    if kind in (pb.K_RAWEXT, pb.K_RAWJSON):
        return _JSON_VALUES.filter(lambda v: v is not None)
    if kind == pb.K_ORBOOL:
        return st.booleans()
    return st.just({"type": "string"})


@st.composite
def _message_dict(draw: st.DrawFn, name: str, depth: int) -> dict[str, Any]:
    m = _MSGS[name]
    out: dict[str, Any] = {}
    _fill(draw, m, depth, out)
    return out


def _fill(draw: st.DrawFn, m: Any, depth: int, out: dict[str, Any]) -> None:
    for f in m.fields:
        if f.skip:
            continue
        if f.inline:
            if depth < 4 and draw(st.booleans()):
                _fill(draw, f.msg, depth + 1, out)
            continue
        if depth >= 3 and f.kind == pb.K_MSG:
            continue
        if not draw(st.integers(0, 3)) == 0:
            continue
        if f.label == "m":
            out[f.name] = draw(st.dictionaries(st.text(max_size=6), _value(f.vkind, f.vmsg, depth), min_size=1,
                                               max_size=2))
        elif f.label == "r":
            out[f.name] = draw(st.lists(_value(f.kind, f.msg, depth), min_size=1, max_size=2))
        else:
            out[f.name] = draw(_value(f.kind, f.msg, depth))


def _message(name: str, depth: int) -> st.SearchStrategy[Any]:
    m = _MSGS[name]
    if m.slice:
        return st.lists(st.text(max_size=5), max_size=3)
    return _message_dict(name, depth)


GENERATED_KINDS = ["k8s.io.api.core.v1.Pod", "k8s.io.api.apps.v1.StatefulSet", "k8s.io.api.core.v1.Service",
                   "k8s.io.api.batch.v1.CronJob", "k8s.io.api.networking.v1.Ingress",
                   "k8s.io.api.core.v1.PersistentVolume", "k8s.io.api.resource.v1.ResourceClaim",
                   "k8s.io.api.admissionregistration.v1.ValidatingAdmissionPolicy",
                   "k8s.io.api.authentication.v1.TokenReview", "k8s.io.api.core.v1.Node",
                   "k8s.io.api.flowcontrol.v1.FlowSchema", "k8s.io.api.storage.v1.CSIDriver"]


@pytest.mark.parametrize("message", GENERATED_KINDS)
def test_generated_round_trip(message: str) -> None:
    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(_message_dict(message, 0))
    def check(obj: dict[str, Any]) -> None:
        body = pb.encode(message, obj, go_semantics=False)
        got, unknown = pb.decode(message, body, go_semantics=False)
        assert unknown == []
        assert got == obj
        # Go semantics: a fixed point after one trip
        go_body = pb.encode(message, obj)
        go_obj, _ = pb.decode(message, go_body)
        assert pb.encode(message, go_obj) == go_body
        assert pb.decode(message, pb.encode(message, go_obj))[0] == go_obj

    check()


# --------------------------------------------------------------------------- speed

def test_speed_is_reasonable() -> None:
    body = pb.encode_object(POD)
    n = 200
    t = time.perf_counter()
    for _ in range(n):
        pb.decode_object(body)
    decode_ms = (time.perf_counter() - t) / n * 1000
    t = time.perf_counter()
    for _ in range(n):
        pb.encode_object(POD)
    encode_ms = (time.perf_counter() - t) / n * 1000
    # generous bounds (a loaded CI machine); typical: well under a millisecond each
    assert decode_ms < 20 and encode_ms < 20, (decode_ms, encode_ms)


if __name__ == "__main__":
    if sys.argv[1:] == ["--record"]:
        record()
    else:
        print("usage: python3 -m tests.test_protobuf --record", file=sys.stderr)
        sys.exit(2)


def _table_kinds() -> list[str]:
    from apiserver.kinds import builtin

    out = []
    for info in builtin():
        message = pb.message_for_kind(info.group, info.version, info.kind)
        if message is not None and message not in out:
            out.append(message)
    return out


@pytest.mark.parametrize("message", _table_kinds())
def test_every_kind_in_the_resource_table_round_trips(message: str) -> None:
    @settings(max_examples=3, deadline=None, suppress_health_check=list(HealthCheck))
    @given(_message_dict(message, 0))
    def check(obj: dict[str, Any]) -> None:
        got, unknown = pb.decode(message, pb.encode(message, obj, go_semantics=False), go_semantics=False)
        assert unknown == [] and got == obj

    check()
