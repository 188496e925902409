"""Defaulting of PodSpecs (in Pods and in every pod template), containers, probes and volumes.

Mirrors k8s.io/kubernetes/pkg/apis/core/v1/defaults.go (SetDefaults_PodSpec, _Pod, _Container,
_Probe, _HTTPGetAction, _Volume and the volume sources) plus the declarative ``+default`` markers of
k8s.io/api/core/v1 (container port protocol TCP, gRPC probe service ""). Everything edits plain dicts
in place; a key that is absent, null or (for plain string fields) "" counts as unset, as in Go.
"""

from __future__ import annotations

import re
from typing import Any

from schemas.quantity import QuantityError, round_up

__all__ = ["pod_spec", "container", "volume", "pvc_spec", "resource_list", "pull_policy"]

Obj = dict[str, Any]

_DEFAULT_MODE = 420  # 0644
_NOT_SOURCES = {"name"}

# docker reference grammar, simplified: [domain[:port]/]path[:tag][@digest]
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_DOMAIN = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*" \
          r"|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
_REFERENCE = re.compile(
    rf"^(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*(?::(?P<tag>[\w][\w.-]{{0,127}}))?"
    r"(?:@(?P<digest>[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}))?$")


def _unset(d: Obj, key: str) -> bool:
    v = d.get(key)
    return v is None or v == ""


def pull_policy(image: str) -> str:
    """Upstream's default imagePullPolicy: Always for ``:latest`` or an untagged, undigested image."""
    m = _REFERENCE.match(image or "")
    if m is None:
        return "IfNotPresent"  # unparsable: upstream ignores the error and sees no tag
    tag = m.group("tag") or ("" if m.group("digest") else "latest")
    return "Always" if tag == "latest" else "IfNotPresent"


def resource_list(rl: Any) -> None:
    """SetDefaults_ResourceList: round every quantity up to milli precision."""
    if isinstance(rl, dict):
        for k, v in rl.items():
            if isinstance(v, str):
                try:
                    rl[k] = round_up(v, -3)
                except QuantityError:
                    pass


def _http_get(h: Any) -> None:
    if isinstance(h, dict):
        if _unset(h, "path"):
            h["path"] = "/"
        if _unset(h, "scheme"):
            h["scheme"] = "HTTP"


def _handler(h: Any) -> None:
    if isinstance(h, dict):
        _http_get(h.get("httpGet"))
        grpc = h.get("grpc")
        if isinstance(grpc, dict) and grpc.get("service") is None:
            grpc["service"] = ""


def _probe(p: Any) -> None:
    if not isinstance(p, dict):
        return
    for key, value in (("timeoutSeconds", 1), ("periodSeconds", 10), ("successThreshold", 1),
                       ("failureThreshold", 3)):
        if not p.get(key):
            p[key] = value
    _handler(p)


def _field_ref(ref: Any) -> None:
    if isinstance(ref, dict) and _unset(ref, "apiVersion"):
        ref["apiVersion"] = "v1"


def container(c: Obj) -> None:
    """SetDefaults_Container plus the generated per-field defaults of a container."""
    if _unset(c, "imagePullPolicy"):
        c["imagePullPolicy"] = pull_policy(c.get("image") or "")
    if _unset(c, "terminationMessagePath"):
        c["terminationMessagePath"] = "/dev/termination-log"
    if _unset(c, "terminationMessagePolicy"):
        c["terminationMessagePolicy"] = "File"
    for port in c.get("ports") or ():
        if isinstance(port, dict) and _unset(port, "protocol"):
            port["protocol"] = "TCP"
    for env in c.get("env") or ():
        if isinstance(env, dict) and isinstance(env.get("valueFrom"), dict):
            _field_ref(env["valueFrom"].get("fieldRef"))
    res = c.get("resources")
    if not isinstance(res, dict):
        res = c["resources"] = {}  # a value struct in Go: always serialized
    resource_list(res.get("limits"))
    resource_list(res.get("requests"))
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        _probe(c.get(probe))
    lifecycle = c.get("lifecycle")
    if isinstance(lifecycle, dict):
        for hook in ("postStart", "preStop"):
            _handler(lifecycle.get(hook))


def pvc_spec(spec: Any) -> None:
    """SetDefaults_PersistentVolumeClaimSpec (volumeMode Filesystem) and its resource lists."""
    if not isinstance(spec, dict):
        return
    if spec.get("volumeMode") is None:
        spec["volumeMode"] = "Filesystem"
    res = spec.get("resources")
    if isinstance(res, dict):
        resource_list(res.get("limits"))
        resource_list(res.get("requests"))


def volume(v: Obj) -> None:
    """SetDefaults_Volume and the defaults of each volume source."""
    if not set(v) - _NOT_SOURCES:
        v["emptyDir"] = {}
    image = v.get("image")
    if isinstance(image, dict) and _unset(image, "pullPolicy"):
        image["pullPolicy"] = pull_policy(image.get("reference") or "")
    host_path = v.get("hostPath")
    if isinstance(host_path, dict) and host_path.get("type") is None:
        host_path["type"] = ""
    for source in ("secret", "configMap", "downwardAPI", "projected"):
        s = v.get(source)
        if isinstance(s, dict) and s.get("defaultMode") is None:
            s["defaultMode"] = _DEFAULT_MODE
    downward = v.get("downwardAPI")
    if isinstance(downward, dict):
        for item in downward.get("items") or ():
            if isinstance(item, dict):
                _field_ref(item.get("fieldRef"))
    projected = v.get("projected")
    if isinstance(projected, dict):
        for src in projected.get("sources") or ():
            if not isinstance(src, dict):
                continue
            if isinstance(src.get("downwardAPI"), dict):
                for item in src["downwardAPI"].get("items") or ():
                    if isinstance(item, dict):
                        _field_ref(item.get("fieldRef"))
            token = src.get("serviceAccountToken")
            if isinstance(token, dict) and token.get("expirationSeconds") is None:
                token["expirationSeconds"] = 3600
    _legacy_sources(v)
    ephemeral = v.get("ephemeral")
    if isinstance(ephemeral, dict) and isinstance(ephemeral.get("volumeClaimTemplate"), dict):
        pvc_spec(ephemeral["volumeClaimTemplate"].get("spec"))


def _legacy_sources(v: Obj) -> None:
    for source, defaults in (
        ("iscsi", (("iscsiInterface", "default"),)),
        ("rbd", (("pool", "rbd"), ("user", "admin"), ("keyring", "/etc/ceph/keyring"))),
        ("scaleIO", (("storageMode", "ThinProvisioned"), ("fsType", "xfs"))),
    ):
        s = v.get(source)
        if isinstance(s, dict):
            for key, value in defaults:
                if _unset(s, key):
                    s[key] = value
    azure = v.get("azureDisk")
    if isinstance(azure, dict):
        azure_defaults: tuple[tuple[str, Any], ...] = (
            ("cachingMode", "ReadWrite"), ("fsType", "ext4"), ("readOnly", False), ("kind", "Shared"))
        for key, dflt in azure_defaults:
            if azure.get(key) is None:
                azure[key] = dflt


def _containers(spec: Obj) -> list[Obj]:
    out: list[Obj] = []
    for key in ("initContainers", "containers", "ephemeralContainers"):
        out.extend(c for c in spec.get(key) or () if isinstance(c, dict))
    return out


def pod_spec(spec: Obj, *, is_pod: bool = False) -> None:
    """SetDefaults_PodSpec and everything nested; with ``is_pod`` also SetDefaults_Pod (Pods only)."""
    if _unset(spec, "dnsPolicy"):
        spec["dnsPolicy"] = "ClusterFirst"
    if _unset(spec, "restartPolicy"):
        spec["restartPolicy"] = "Always"
    if spec.get("securityContext") is None:
        spec["securityContext"] = {}
    if spec.get("terminationGracePeriodSeconds") is None:
        spec["terminationGracePeriodSeconds"] = 30
    if _unset(spec, "schedulerName"):
        spec["schedulerName"] = "default-scheduler"
    # conversion: serviceAccount is the deprecated alias of serviceAccountName and always mirrors it
    if _unset(spec, "serviceAccountName") and spec.get("serviceAccount"):
        spec["serviceAccountName"] = spec["serviceAccount"]
    if spec.get("serviceAccountName"):
        spec["serviceAccount"] = spec["serviceAccountName"]
    else:
        spec.pop("serviceAccount", None)
    for v in spec.get("volumes") or ():
        if isinstance(v, dict):
            volume(v)
    for c in _containers(spec):
        container(c)
    resource_list(spec.get("overhead"))
    if is_pod:
        _pod_only(spec)


def _pod_only(spec: Obj) -> None:
    for key in ("containers", "initContainers"):
        for c in spec.get(key) or ():
            if not isinstance(c, dict):
                continue
            res = c.get("resources") or {}
            limits = res.get("limits")
            if isinstance(limits, dict):
                requests = res.setdefault("requests", {})
                if isinstance(requests, dict):
                    for name, qty in limits.items():
                        requests.setdefault(name, qty)
    if spec.get("enableServiceLinks") is None:
        spec["enableServiceLinks"] = True
    if spec.get("hostNetwork"):
        for key in ("containers", "initContainers"):
            for c in spec.get(key) or ():
                for port in (c.get("ports") or ()) if isinstance(c, dict) else ():
                    if isinstance(port, dict) and not port.get("hostPort"):
                        port["hostPort"] = port.get("containerPort", 0)
