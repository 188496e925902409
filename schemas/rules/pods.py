"""Pod and pod-template validation (k8s.io/kubernetes/pkg/apis/core/validation, the parts clients hit):
containers, ports, policies, tolerations, and the pod update rules with upstream's long Forbidden
message. Objects are defaulted dicts; paths and messages follow upstream's field.ErrorList."""

from __future__ import annotations

import copy
from typing import Any

from schemas.fielderrors import (
    FieldError,
    duplicate,
    forbidden,
    format_value,
    invalid,
    not_supported,
    required,
)
from schemas.rules import meta as m
from schemas.rules import names

__all__ = ["validate_pod", "validate_pod_update", "validate_pod_spec", "validate_pod_template_spec",
           "UPDATABLE_POD_SPEC_FIELDS", "spec_diff"]

Obj = dict[str, Any]

UPDATABLE_POD_SPEC_FIELDS = (
    "`spec.containers[*].image`",
    "`spec.initContainers[*].image`",
    "`spec.activeDeadlineSeconds`",
    "`spec.tolerations` (only additions to existing tolerations)",
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
)
_PROTOCOLS = ["SCTP", "TCP", "UDP"]
_MAX_INT32 = 2**31 - 1


def _label_errs(value: str, path: str) -> list[FieldError]:
    return [invalid(path, value, msg) for msg in names.dns1123_label(value)]


def _ports(ports: Any, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    seen: set[str] = set()
    for i, port in enumerate(ports or ()):
        if not isinstance(port, dict):
            continue
        p = f"{path}[{i}]"
        name = port.get("name") or ""
        if name:
            msgs = names.port_name(name)
            if msgs:
                errs += [invalid(f"{p}.name", name, msg) for msg in msgs]
            elif name in seen:
                errs.append(duplicate(f"{p}.name", name))
            else:
                seen.add(name)
        cport = port.get("containerPort") or 0
        if cport == 0:
            errs.append(required(f"{p}.containerPort"))
        elif not 1 <= cport <= 65535:
            errs.append(invalid(f"{p}.containerPort", cport, names.inclusive_range_error(1, 65535)))
        hport = port.get("hostPort") or 0
        if hport and not 1 <= hport <= 65535:
            errs.append(invalid(f"{p}.hostPort", hport, names.inclusive_range_error(1, 65535)))
        proto = port.get("protocol") or ""
        if not proto:
            errs.append(required(f"{p}.protocol"))
        elif proto not in _PROTOCOLS:
            errs.append(not_supported(f"{p}.protocol", proto, _PROTOCOLS))
    return errs


def _container(c: Obj, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    name = c.get("name") or ""
    errs += [required(f"{path}.name")] if not name else _label_errs(name, f"{path}.name")
    if not c.get("image"):
        errs.append(required(f"{path}.image"))
    policy = c.get("terminationMessagePolicy") or ""
    if not policy:
        errs.append(required(f"{path}.terminationMessagePolicy"))
    elif policy not in ("File", "FallbackToLogsOnError"):
        errs.append(not_supported(f"{path}.terminationMessagePolicy", policy, ["File", "FallbackToLogsOnError"]))
    errs += _ports(c.get("ports"), f"{path}.ports")
    pull = c.get("imagePullPolicy") or ""
    if not pull:
        errs.append(required(f"{path}.imagePullPolicy"))
    elif pull not in ("Always", "IfNotPresent", "Never"):
        errs.append(not_supported(f"{path}.imagePullPolicy", pull, ["Always", "IfNotPresent", "Never"]))
    return errs


def _containers(spec: Obj, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    containers = [c for c in spec.get("containers") or () if isinstance(c, dict)]
    if not containers:
        errs.append(required(f"{path}.containers"))
    seen: set[str] = set()
    for i, c in enumerate(containers):
        p = f"{path}.containers[{i}]"
        errs += _container(c, p)
        if c.get("name", "") in seen:
            errs.append(duplicate(f"{p}.name", c.get("name", "")))
        seen.add(c.get("name", ""))
    for i, c in enumerate(x for x in spec.get("initContainers") or () if isinstance(x, dict)):
        p = f"{path}.initContainers[{i}]"
        errs += _container(c, p)
        if c.get("name", "") in seen:
            errs.append(duplicate(f"{p}.name", c.get("name", "")))
        seen.add(c.get("name", ""))
        rp = c.get("restartPolicy")
        if rp is not None and rp != "Always":
            errs.append(not_supported(f"{p}.restartPolicy", rp, ["Always"]))
    return errs


def _volumes(spec: Obj, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    seen: set[str] = set()
    for i, vol in enumerate(v for v in spec.get("volumes") or () if isinstance(v, dict)):
        p = f"{path}.volumes[{i}]"
        name = vol.get("name") or ""
        if not name:
            errs.append(required(f"{p}.name"))
        else:
            errs += _label_errs(name, f"{p}.name")
            if name in seen:
                errs.append(duplicate(f"{p}.name", name))
            seen.add(name)
        if not set(vol) - {"name"}:
            errs.append(required(p, "must specify a volume type"))
    return errs


def _enum(spec: Obj, key: str, allowed: list[str], path: str) -> list[FieldError]:
    value = spec.get(key) or ""
    if not value:
        return [required(f"{path}.{key}")]
    return [] if value in allowed else [not_supported(f"{path}.{key}", value, allowed)]


def _tolerations(tolerations: Any, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, t in enumerate(tolerations or ()):
        if not isinstance(t, dict):
            continue
        p = f"{path}[{i}]"
        key, op, effect = t.get("key") or "", t.get("operator") or "", t.get("effect") or ""
        if key:
            errs += [invalid(f"{p}.key", key, msg) for msg in names.qualified_name(key)]
        if not key and op != "Exists":
            errs.append(invalid(f"{p}.operator", op, 'operator must be Exists when `key` is empty, which means '
                                '"match all values and all keys"'))
        if t.get("tolerationSeconds") is not None and effect != "NoExecute":
            errs.append(invalid(f"{p}.effect", effect, "effect must be 'NoExecute' when `tolerationSeconds` is set"))
        value = t.get("value") or ""
        if op in ("Equal", ""):
            msgs = names.label_value(value)
            if msgs:
                errs.append(invalid(f"{p}.operator", value, ";".join(msgs)))
        elif op == "Exists":
            if value:
                errs.append(invalid(f"{p}.operator", value, "value must be empty when `operator` is 'Exists'"))
        else:
            errs.append(not_supported(f"{p}.operator", op, ["Equal", "Exists"]))
        if effect and effect not in ("NoSchedule", "PreferNoSchedule", "NoExecute"):
            errs.append(not_supported(f"{p}.effect", effect, ["NoSchedule", "PreferNoSchedule", "NoExecute"]))
    return errs


def validate_pod_spec(spec: Obj, path: str = "spec") -> list[FieldError]:
    """ValidatePodSpec (the common subset): grace period, volumes, containers, policies, names."""
    errs: list[FieldError] = []
    if spec.get("terminationGracePeriodSeconds") is None:
        errs.append(required(f"{path}.terminationGracePeriodSeconds"))
    errs += _volumes(spec, path)
    errs += _containers(spec, path)
    errs += _enum(spec, "restartPolicy", ["Always", "OnFailure", "Never"], path)
    errs += _enum(spec, "dnsPolicy", ["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"], path)
    errs += m.validate_labels(spec.get("nodeSelector"), f"{path}.nodeSelector")
    for key, fn in (("serviceAccountName", names.name_is_dns_subdomain), ("nodeName", names.name_is_dns_subdomain)):
        value = spec.get(key) or ""
        if value:
            errs += [invalid(f"{path}.{key}", value, msg) for msg in fn(value, False)]
    deadline = spec.get("activeDeadlineSeconds")
    if isinstance(deadline, int) and not 1 <= deadline <= _MAX_INT32:
        errs.append(invalid(f"{path}.activeDeadlineSeconds", deadline, names.inclusive_range_error(1, _MAX_INT32)))
    for key in ("hostname", "subdomain"):
        if spec.get(key):
            errs += _label_errs(spec[key], f"{path}.{key}")
    errs += _tolerations(spec.get("tolerations"), f"{path}.tolerations")
    pcn = spec.get("priorityClassName") or ""
    if pcn:
        errs += [invalid(f"{path}.priorityClassName", pcn, msg) for msg in names.name_is_dns_subdomain(pcn)]
    return errs


def validate_pod_template_spec(template: Any, path: str) -> list[FieldError]:
    """ValidatePodTemplateSpec: template labels/annotations and its pod spec."""
    if not isinstance(template, dict):
        return [required(path)]
    tmeta = template.get("metadata") or {}
    errs = m.validate_labels(tmeta.get("labels"), f"{path}.labels")
    errs += m.validate_annotations(tmeta.get("annotations"), f"{path}.annotations")
    spec = template.get("spec") or {}
    errs += validate_pod_spec(spec, f"{path}.spec")
    if spec.get("ephemeralContainers"):
        errs.append(forbidden(f"{path}.spec.ephemeralContainers", "ephemeral containers not allowed in pod template"))
    return errs


def _pod_only(spec: Obj) -> list[FieldError]:
    errs: list[FieldError] = []
    for key in ("containers", "initContainers"):
        for i, c in enumerate(x for x in spec.get(key) or () if isinstance(x, dict)):
            image = c.get("image") or ""
            if image != image.strip():
                errs.append(invalid(f"spec.{key}[{i}].image", image, "must not have leading or trailing whitespace"))
    return errs


def validate_pod(pod: Obj) -> list[FieldError]:
    """ValidatePodCreate."""
    spec = pod.get("spec") or {}
    return m.validate_object_meta(pod.get("metadata"), namespaced=True) + validate_pod_spec(spec) + _pod_only(spec)


def spec_diff(old: Any, new: Any, path: str = "") -> list[str]:
    """A compact ``-``/``+`` listing of what differs (stands in for upstream's go-cmp diff)."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for key in list(old) + [k for k in new if k not in old]:
            if not m.semantic_equal(old.get(key), new.get(key)):
                out += spec_diff(old.get(key), new.get(key), f"{path}.{key}" if path else key)
        return out
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [line for i, (a, b) in enumerate(zip(old, new, strict=True)) for line in spec_diff(a, b, f"{path}[{i}]")]
    return [f"- \t{path}: {format_value(old)}", f"+ \t{path}: {format_value(new)}"]


def _container_updates(new: list[Any], old: list[Any], path: str) -> tuple[list[FieldError], bool]:
    if len(new) != len(old):
        return [forbidden(path, "pod updates may not add or remove containers")], True
    errs: list[FieldError] = []
    for i, c in enumerate(new):
        image = (c or {}).get("image") or ""
        if not image:
            errs.append(required(f"{path}[{i}].image"))
        if image != image.strip():
            errs.append(invalid(f"{path}[{i}].image", image, "must not have leading or trailing whitespace"))
    return errs, False


def _only_added_tolerations(new: list[Any], old: list[Any], path: str) -> list[FieldError]:
    for o in old:
        probe = {k: v for k, v in (o or {}).items() if k != "tolerationSeconds"}
        if not any(m.semantic_equal(probe, {k: v for k, v in (n or {}).items() if k != "tolerationSeconds"})
                   for n in new):
            return [forbidden(path, "existing toleration can not be modified except its tolerationSeconds")]
    return _tolerations(new, path)


def validate_pod_update(new: Obj, old: Obj) -> list[FieldError]:
    """ValidatePodUpdate: only images, activeDeadlineSeconds (set or lowered), added tolerations,
    removed scheduling gates and a negative grace period set to 1 may change."""
    errs = m.validate_object_meta_update(new.get("metadata"), old.get("metadata"))
    errs += validate_pod(new)
    nspec, ospec = new.get("spec") or {}, old.get("spec") or {}
    for key in ("containers", "initContainers"):
        cerrs, stop = _container_updates(nspec.get(key) or [], ospec.get(key) or [], f"spec.{key}")
        errs += cerrs
        if stop:
            return errs
    nd, od = nspec.get("activeDeadlineSeconds"), ospec.get("activeDeadlineSeconds")
    if nd is not None:
        if not 0 <= nd <= _MAX_INT32:
            return errs + [invalid("spec.activeDeadlineSeconds", nd, names.inclusive_range_error(0, _MAX_INT32))]
        if od is not None and od < nd:
            return errs + [invalid("spec.activeDeadlineSeconds", nd, "must be less than or equal to previous value")]
    elif od is not None:
        errs.append(invalid("spec.activeDeadlineSeconds", None, "must not update from a positive integer to nil value"))
    errs += _only_added_tolerations(nspec.get("tolerations") or [], ospec.get("tolerations") or [], "spec.tolerations")
    old_gates = {g.get("name") for g in ospec.get("schedulingGates") or () if isinstance(g, dict)}
    for i, gate in enumerate(nspec.get("schedulingGates") or ()):
        if isinstance(gate, dict) and gate.get("name") not in old_gates:
            errs.append(forbidden(f"spec.schedulingGates[{i}].name",
                                  f"only deletion is allowed, but found new scheduling gate '{gate.get('name')}'"))
    if m.semantic_equal(nspec, ospec):
        return errs
    munged = copy.deepcopy(nspec)
    for key in ("containers", "initContainers"):
        for c, oc in zip(munged.get(key) or [], ospec.get(key) or [], strict=False):
            if isinstance(c, dict) and isinstance(oc, dict):
                c["image"] = oc.get("image")
    for key in ("activeDeadlineSeconds", "schedulingGates", "tolerations"):
        munged.pop(key, None)
        if key in ospec:
            munged[key] = ospec[key]
    ogp, ngp = ospec.get("terminationGracePeriodSeconds"), munged.get("terminationGracePeriodSeconds")
    if isinstance(ogp, int) and ogp < 0 and ngp == 1:
        munged["terminationGracePeriodSeconds"] = ogp
    if not m.semantic_equal(munged, ospec):
        diff = "\n".join(["  core.PodSpec{", *spec_diff(ospec, munged), "  }"])
        errs.append(forbidden("spec", "pod updates may not change fields other than "
                              + ",".join(UPDATABLE_POD_SPEC_FIELDS) + "\n" + diff + "\n"))
    return errs
