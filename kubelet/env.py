"""A container's environment and command line, as upstream's kubelet builds them.

``envFrom`` first (ConfigMaps, Secrets, with prefix), then ``env`` in order (later wins); values are
``value`` (with ``$(VAR)`` expanded from the variables defined so far), ``fieldRef`` (downward API),
``resourceFieldRef``, ``configMapKeyRef`` and ``secretKeyRef``. A missing non-optional source is the
upstream ``CreateContainerConfigError``. ``command``/``args`` get ``$(VAR)`` expansion from the result.
"""

from __future__ import annotations

import base64
import math
import re
from fractions import Fraction
from typing import Any

from controllers.client import ApiError, Client, path_for
from schemas import quantity

Obj = dict[str, Any]

_VAR = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")


class ConfigError(Exception):
    """The container cannot be configured yet (CreateContainerConfigError); retried later."""


def expand(text: str, env: dict[str, str]) -> str:
    """Upstream's expansion: ``$(NAME)`` from ``env`` (left as is when unknown), ``$$`` -> ``$``."""
    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        return env.get(m.group(1), m.group(0))

    return _VAR.sub(sub, text)


def command_line(container: Obj, env: dict[str, str]) -> list[str]:
    """command + args, expanded. Images here have no entrypoint, so args alone are the command."""
    return [expand(x, env) for x in (container.get("command") or []) + (container.get("args") or [])]


def field_ref(pod: Obj, path: str) -> str:
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    m = re.fullmatch(r"metadata\.(labels|annotations)\['(.*)'\]", path)
    if m:
        return str((meta.get(m.group(1)) or {}).get(m.group(2), ""))
    if path in ("metadata.labels", "metadata.annotations"):
        items = meta.get(path.split(".")[1]) or {}
        return "\n".join(f'{k}="{v}"' for k, v in sorted(items.items()))
    simple = {
        "metadata.name": meta.get("name", ""), "metadata.namespace": meta.get("namespace", ""),
        "metadata.uid": meta.get("uid", ""), "spec.nodeName": spec.get("nodeName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName", ""),
        "status.hostIP": status.get("hostIP", ""), "status.podIP": status.get("podIP", ""),
        "status.hostIPs": ",".join(x.get("ip", "") for x in status.get("hostIPs") or []),
        "status.podIPs": ",".join(x.get("ip", "") for x in status.get("podIPs") or []),
    }
    if path not in simple:
        raise ConfigError(f"unsupported fieldRef {path}")
    return str(simple[path])


def resource_ref(pod: Obj, container: Obj, ref: Obj, allocatable: dict[str, str]) -> str:
    name = ref.get("containerName") or container.get("name")
    target = next((c for c in (pod.get("spec") or {}).get("containers", []) if c.get("name") == name), container)
    kind, _, res = ref.get("resource", "").partition(".")
    resources = target.get("resources") or {}
    raw = (resources.get(kind) or {}).get(res)
    if raw is None and kind == "requests":
        raw = (resources.get("limits") or {}).get(res)
    if raw is None:
        raw = allocatable.get(res, "0") if kind == "limits" else "0"
    value = quantity.parse(str(raw))[0]
    divisor = quantity.parse(str(ref.get("divisor") or "1"))[0] or Fraction(1)
    return str(max(math.ceil(value / divisor), 1 if value > 0 and res == "cpu" else 0))


async def _source(client: Client, cache: dict[tuple[str, str], Obj | None], kind: str, namespace: str,
                  name: str) -> Obj | None:
    key = (kind, name)
    if key not in cache:
        try:
            cache[key] = await client.get(path_for("", "v1", kind, namespace, name))
        except ApiError as e:
            if not e.not_found:
                raise ConfigError(str(e)) from e
            cache[key] = None
    return cache[key]


def _data(obj: Obj, kind: str) -> dict[str, str]:
    if kind == "secrets":
        return {k: base64.b64decode(v).decode(errors="replace") for k, v in (obj.get("data") or {}).items()}
    out = dict(obj.get("data") or {})
    for k, v in (obj.get("binaryData") or {}).items():
        out[k] = base64.b64decode(v).decode(errors="replace")
    return out


async def container_env(client: Client, pod: Obj, container: Obj, *, base: dict[str, str],
                        allocatable: dict[str, str]) -> dict[str, str]:
    """The full environment: ``base`` (PATH, HOSTNAME, ...) then envFrom then env."""
    namespace = pod["metadata"].get("namespace", "default")
    cache: dict[tuple[str, str], Obj | None] = {}
    env = dict(base)
    for src in container.get("envFrom") or []:
        for field, kind, label in (("configMapRef", "configmaps", "configmap"), ("secretRef", "secrets", "secret")):
            ref = src.get(field)
            if not ref:
                continue
            obj = await _source(client, cache, kind, namespace, ref.get("name", ""))
            if obj is None:
                if ref.get("optional"):
                    continue
                raise ConfigError(f'{label} "{ref.get("name", "")}" not found')
            for k, v in _data(obj, kind).items():
                key = (src.get("prefix") or "") + k
                if _ENV_NAME.match(key):
                    env[key] = v
    for var in container.get("env") or []:
        name = var.get("name", "")
        if "value" in var or not var.get("valueFrom"):
            env[name] = expand(str(var.get("value") or ""), env)
            continue
        vf = var["valueFrom"]
        if "fieldRef" in vf:
            env[name] = field_ref(pod, vf["fieldRef"].get("fieldPath", ""))
        elif "resourceFieldRef" in vf:
            env[name] = resource_ref(pod, container, vf["resourceFieldRef"], allocatable)
        else:
            for field, kind, label in (("configMapKeyRef", "configmaps", "configmap"),
                                       ("secretKeyRef", "secrets", "secret")):
                ref = vf.get(field)
                if not ref:
                    continue
                obj = await _source(client, cache, kind, namespace, ref.get("name", ""))
                data = _data(obj, kind) if obj is not None else None
                if data is None or ref.get("key") not in data:
                    if ref.get("optional"):
                        break
                    if data is None:
                        raise ConfigError(f'{label} "{ref.get("name", "")}" not found')
                    raise ConfigError(f'couldn\'t find key {ref.get("key")} in {label.capitalize()} '
                                      f'{namespace}/{ref.get("name", "")}')
                env[name] = data[ref["key"]]
                break
    return env
