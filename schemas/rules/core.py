"""ConfigMap, Secret, Service, PersistentVolumeClaim and Namespace validation
(k8s.io/kubernetes/pkg/apis/core/validation and the core registry strategies)."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from schemas.fielderrors import FieldError, duplicate, forbidden, invalid, not_supported, required, too_long
from schemas.rules import meta as m
from schemas.rules import names
from schemas.rules.pods import spec_diff

__all__ = ["validate_config_map", "validate_config_map_update", "validate_secret", "validate_secret_update",
           "validate_service", "validate_service_update", "validate_pvc", "validate_pvc_update",
           "validate_namespace", "validate_namespace_update", "IMMUTABLE_WHEN_SET", "MAX_SECRET_SIZE"]

Obj = dict[str, Any]
IMMUTABLE_WHEN_SET = "field is immutable when `immutable` is set"
MAX_SECRET_SIZE = 1024 * 1024
_ACCESS_MODES = ["ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"]
_SERVICE_TYPES = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]
_PROTOCOLS = ["SCTP", "TCP", "UDP"]


def _keys(data: Any, path: str) -> list[FieldError]:
    return [invalid(f"{path}[{k}]", k, msg) for k in (data or {}) for msg in names.config_map_key(k)]


def _decoded_len(value: Any) -> int:
    try:
        return len(base64.b64decode(value or "", validate=False))
    except (binascii.Error, ValueError):
        return len(str(value))


def validate_config_map(cm: Obj) -> list[FieldError]:
    errs = m.validate_object_meta(cm.get("metadata"), namespaced=True)
    data, binary = cm.get("data") or {}, cm.get("binaryData") or {}
    errs += _keys(data, "data")
    errs += [invalid(f"data[{k}]", k, "duplicate of key present in binaryData") for k in data if k in binary]
    errs += _keys(binary, "binaryData")
    size = sum(len(str(v).encode()) for v in data.values()) + sum(_decoded_len(v) for v in binary.values())
    if size > MAX_SECRET_SIZE:
        errs.append(too_long("", cm, MAX_SECRET_SIZE))
    return errs


def _immutable_bags(new: Obj, old: Obj, bags: tuple[str, ...]) -> list[FieldError]:
    if not old.get("immutable"):
        return []
    errs = [] if new.get("immutable") else [forbidden("immutable", IMMUTABLE_WHEN_SET)]
    return errs + [forbidden(bag, IMMUTABLE_WHEN_SET) for bag in bags
                   if not m.semantic_equal(new.get(bag), old.get(bag))]


def validate_config_map_update(new: Obj, old: Obj) -> list[FieldError]:
    errs = m.validate_object_meta_update(new.get("metadata"), old.get("metadata"))
    return errs + _immutable_bags(new, old, ("data", "binaryData")) + validate_config_map(new)


def _json_error(raw: bytes) -> str | None:
    """What Go's json.Unmarshal(raw, &map[string]interface{}{}) says about ``raw`` (None if fine)."""
    text = raw.decode("utf-8", "replace")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        if e.pos >= len(text.rstrip()):
            return "unexpected end of JSON input"
        ch = text[e.pos]
        where = "looking for beginning of value" if e.msg.startswith("Expecting value") else "after top-level value" \
            if e.msg.startswith("Extra data") else "looking for beginning of object key string"
        return f"invalid character {ch!r} {where}"
    if not isinstance(value, dict):
        kind = {list: "array", str: "string", bool: "bool"}.get(type(value), "number")
        return f"json: cannot unmarshal {kind} into Go value of type map[string]interface {{}}"
    return None


def validate_secret(secret: Obj) -> list[FieldError]:
    errs = m.validate_object_meta(secret.get("metadata"), namespaced=True)
    data = secret.get("data") or {}
    errs += _keys(data, "data")
    if sum(_decoded_len(v) for v in data.values()) > MAX_SECRET_SIZE:
        errs.append(too_long("data", "", MAX_SECRET_SIZE))
    stype = secret.get("type") or ""
    annotations = (secret.get("metadata") or {}).get("annotations") or {}
    if stype == "kubernetes.io/service-account-token":
        if not annotations.get("kubernetes.io/service-account.name"):
            errs.append(required("metadata.annotations[kubernetes.io/service-account.name]"))
    elif stype in ("kubernetes.io/dockercfg", "kubernetes.io/dockerconfigjson"):
        key = ".dockercfg" if stype == "kubernetes.io/dockercfg" else ".dockerconfigjson"
        if key not in data:
            errs.append(required(f"data[{key}]"))
        else:
            problem = _json_error(base64.b64decode(data[key] or ""))
            if problem:
                errs.append(invalid(f"data[{key}]", "<secret contents redacted>", problem))
    elif stype == "kubernetes.io/basic-auth":
        if "username" not in data and "password" not in data:
            # upstream builds these paths from the literal "data[%s]"
            errs += [required("data[%s][username]"), required("data[%s][password]")]
    elif stype == "kubernetes.io/ssh-auth":
        if not data.get("ssh-privatekey"):
            errs.append(required("data[%s][ssh-privatekey]"))
    elif stype == "kubernetes.io/tls":
        errs += [required(f"data[{k}]") for k in ("tls.crt", "tls.key") if k not in data]
    return errs


def validate_secret_update(new: Obj, old: Obj) -> list[FieldError]:
    errs = m.validate_object_meta_update(new.get("metadata"), old.get("metadata"))
    if not new.get("type"):
        new["type"] = old.get("type")
    errs += _immutable_bags(new, old, ("data",))
    errs += m.immutable(new.get("type"), old.get("type"), "type")
    return errs + validate_secret(new)


def _headless(spec: Obj) -> bool:
    return spec.get("clusterIP") == "None" or (spec.get("clusterIPs") or [None])[0] == "None"


def _service_port(port: Obj, p: str, require_name: bool, seen: set[str]) -> list[FieldError]:
    errs: list[FieldError] = []
    name = port.get("name") or ""
    if require_name and not name:
        errs.append(required(f"{p}.name"))
    elif name:
        errs += [invalid(f"{p}.name", name, msg) for msg in names.dns1123_label(name)]
        if name in seen:
            errs.append(duplicate(f"{p}.name", name))
        seen.add(name)
    number = port.get("port") or 0
    if not 1 <= number <= 65535:
        errs.append(invalid(f"{p}.port", number, names.inclusive_range_error(1, 65535)))
    proto = port.get("protocol") or ""
    if not proto:
        errs.append(required(f"{p}.protocol"))
    elif proto not in _PROTOCOLS:
        errs.append(not_supported(f"{p}.protocol", proto, _PROTOCOLS))
    target = port.get("targetPort")
    if isinstance(target, int) and not 1 <= target <= 65535:
        errs.append(invalid(f"{p}.targetPort", target, names.inclusive_range_error(1, 65535)))
    elif isinstance(target, str):
        errs += [invalid(f"{p}.targetPort", target, msg) for msg in names.port_name(target)]
    return errs


def validate_service(svc: Obj) -> list[FieldError]:
    errs = m.validate_object_meta(svc.get("metadata"), namespaced=True, name_rule="dns1035")
    spec = svc.get("spec") or {}
    stype = spec.get("type") or ""
    ports = [p for p in spec.get("ports") or () if isinstance(p, dict)]
    if not ports and not _headless(spec) and stype != "ExternalName":
        errs.append(required("spec.ports"))
    if stype in ("LoadBalancer", "NodePort") and _headless(spec):
        errs.append(invalid("spec.clusterIPs[0]", "None", f"may not be set to 'None' for {stype} services"))
    if stype == "ExternalName":
        if spec.get("clusterIPs"):
            errs.append(forbidden("spec.clusterIPs", "may not be set for ExternalName services"))
        cname = (spec.get("externalName") or "").removesuffix(".")
        if cname:
            errs += [invalid("spec.externalName", cname, msg) for msg in names.dns1123_subdomain(cname)]
        else:
            errs.append(required("spec.externalName"))
    seen: set[str] = set()
    for i, port in enumerate(ports):
        errs += _service_port(port, f"spec.ports[{i}]", len(ports) > 1, seen)
    errs += m.validate_labels(spec.get("selector"), "spec.selector")
    affinity = spec.get("sessionAffinity") or ""
    if not affinity:
        errs.append(required("spec.sessionAffinity"))
    elif affinity not in ("ClientIP", "None"):
        errs.append(not_supported("spec.sessionAffinity", affinity, ["ClientIP", "None"]))
    if not stype:
        errs.append(required("spec.type"))
    elif stype not in _SERVICE_TYPES:
        errs.append(not_supported("spec.type", stype, _SERVICE_TYPES))
    if stype == "ClusterIP":
        errs += [forbidden(f"spec.ports[{i}].nodePort", "may not be used when `type` is 'ClusterIP'")
                 for i, p in enumerate(ports) if p.get("nodePort")]
    taken: set[tuple[Any, Any]] = set()
    for i, p in enumerate(ports):
        key = (p.get("protocol"), p.get("port"))
        if key in taken:
            errs.append(duplicate(f"spec.ports[{i}]", {"Name": "", "Protocol": key[0], "AppProtocol": None,
                                                        "Port": key[1], "TargetPort": 0, "NodePort": 0}))
        taken.add(key)
    return errs


def _cluster_ips(spec: Obj) -> list[str]:
    ips = spec.get("clusterIPs")
    if isinstance(ips, list) and ips:
        return [str(x) for x in ips]
    return [spec["clusterIP"]] if spec.get("clusterIP") else []


def validate_service_update(new: Obj, old: Obj) -> list[FieldError]:
    """ValidateServiceUpdate: allocated clusterIPs may not change (``may not change once set``).

    Like upstream, this expects the strategy to have carried the allocated clusterIP(s) over from ``old``
    when the client left them empty (upstream's patchAllocatedValues), so only real changes are reported."""
    errs = m.validate_object_meta_update(new.get("metadata"), old.get("metadata"))
    ns, os_ = new.get("spec") or {}, old.get("spec") or {}
    if "ExternalName" not in (ns.get("type"), os_.get("type")) and not (_headless(ns) and _headless(os_)):
        nips, oips = _cluster_ips(ns), _cluster_ips(os_)
        value = nips or None
        if len(nips) == len(oips):
            errs += [invalid(f"spec.clusterIPs[{i}]", value, "may not change once set")
                     for i, ip in enumerate(oips) if ip != nips[i]]
        elif len(oips) > len(nips):
            if not nips:
                errs.append(invalid("spec.clusterIPs[0]", value, "primary clusterIP can not be unset"))
            elif nips[0] != oips[0]:
                errs.append(invalid("spec.clusterIPs[0]", value, "may not change once set"))
            if len(nips) == 1 and ns.get("ipFamilyPolicy") != "SingleStack":
                errs.append(invalid("spec.ipFamilyPolicy", ns.get("ipFamilyPolicy"),
                                    "must be set to 'SingleStack' when releasing the secondary clusterIP"))
        elif oips and nips[0] != oips[0]:
            errs.append(invalid("spec.clusterIPs[0]", value, "may not change once set"))
    return errs + validate_service(new)


def _pvc_spec(spec: Obj) -> list[FieldError]:
    errs: list[FieldError] = []
    modes = spec.get("accessModes") or []
    if not modes:
        errs.append(required("spec.accessModes", "at least 1 access mode is required"))
    errs += [not_supported("spec.accessModes", mode, _ACCESS_MODES) for mode in modes if mode not in _ACCESS_MODES]
    storage = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
    if storage is None:
        errs.append(required("spec.resources[storage]"))
    elif str(storage).startswith("-") or storage in ("0", 0):
        errs.append(invalid("spec.resources[storage]", storage, "must be greater than zero"))
    mode = spec.get("volumeMode")
    if mode is not None and mode not in ("Block", "Filesystem"):
        errs.append(not_supported("spec.volumeMode", mode, ["Block", "Filesystem"]))
    return errs


def validate_pvc(pvc: Obj) -> list[FieldError]:
    return m.validate_object_meta(pvc.get("metadata"), namespaced=True) + _pvc_spec(pvc.get("spec") or {})


def _storage(spec: Obj) -> Any:
    return ((spec.get("resources") or {}).get("requests") or {}).get("storage")


def validate_pvc_update(new: Obj, old: Obj) -> list[FieldError]:
    """ValidatePersistentVolumeClaimUpdate: spec is immutable except resources.requests (bound claims),
    volumeAttributesClassName and a first volumeName."""
    from schemas.quantity import QuantityError, parse

    errs = m.validate_object_meta_update(new.get("metadata"), old.get("metadata")) + _pvc_spec(new.get("spec") or {})
    ns, os_ = dict(new.get("spec") or {}), dict(old.get("spec") or {})
    if not os_.get("volumeName"):
        os_["volumeName"] = ns.get("volumeName")
    for spec in (ns, os_):
        spec.pop("volumeAttributesClassName", None)
    bound = (new.get("status") or {}).get("phase") == "Bound"
    if bound and isinstance(ns.get("resources"), dict):
        ns["resources"] = {**ns["resources"], "requests": {**(ns["resources"].get("requests") or {}),
                                                           "storage": _storage(os_)}}
    if not m.semantic_equal(ns, os_):
        diff = "\n".join(["  core.PersistentVolumeClaimSpec{", *spec_diff(os_, ns), "  }"])
        errs.append(forbidden("spec", "spec is immutable after creation except resources.requests and "
                              "volumeAttributesClassName for bound claims\n" + diff + "\n"))
    try:
        new_size, old_size = parse(str(_storage(new.get("spec") or {})))[0], parse(str(_storage(os_)))[0]
        cap = ((old.get("status") or {}).get("capacity") or {}).get("storage")
        if new_size < old_size and cap is not None and new_size <= parse(str(cap))[0]:
            errs.append(forbidden("spec.resources.requests.storage", "field can not be less than status.capacity"))
    except QuantityError:
        pass
    return errs


def validate_namespace(ns: Obj) -> list[FieldError]:
    errs = m.validate_object_meta(ns.get("metadata"), namespaced=False, name_rule="label")
    for fin in (ns.get("spec") or {}).get("finalizers") or ():
        if isinstance(fin, str):
            errs += [invalid("spec.finalizers", fin, msg) for msg in names.qualified_name(fin)]
            errs += m.kube_finalizer(fin, "spec.finalizers")
    return errs


def validate_namespace_update(new: Obj, old: Obj) -> list[FieldError]:
    return m.validate_object_meta_update(new.get("metadata"), old.get("metadata"))
