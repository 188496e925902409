"""Pod volumes for the process runtime, materialised under ``<pod dir>/volumes/<name>``.

emptyDir is a directory; configMap, secret, downwardAPI and projected (those sources; service-account
tokens are not issued yet) become files with their ``items``/``mode``; hostPath is the host path itself;
any other kind (persistentVolumeClaim, ...) is an empty directory for now.

There are no mount namespaces, so a container sees its mounts through a documented path rewrite: in its
command, args, env values and workingDir (and in ``kubectl exec`` commands), a path under a volumeMount's
``mountPath`` is replaced by the materialised directory (``/etc/config/app.yaml`` ->
``<pod dir>/volumes/config/app.yaml``).
"""

from __future__ import annotations

import base64
import os
import re
import shutil
from pathlib import Path
from typing import Any

from controllers.client import ApiError, Client, path_for

from .env import ConfigError, field_ref

Obj = dict[str, Any]


def _write(base: Path, rel: str, data: bytes, mode: int | None) -> None:
    target = (base / rel).resolve()
    if not str(target).startswith(str(base.resolve())):
        raise ConfigError(f"invalid path {rel!r}")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    os.chmod(target, mode if mode is not None else 0o644)


async def _object(client: Client, kind: str, namespace: str, name: str) -> Obj | None:
    try:
        return await client.get(path_for("", "v1", kind, namespace, name))
    except ApiError as e:
        if e.not_found:
            return None
        raise ConfigError(str(e)) from e


def _data(obj: Obj, kind: str) -> dict[str, bytes]:
    out = {k: (base64.b64decode(v) if kind == "secrets" else str(v).encode())
           for k, v in (obj.get("data") or {}).items()}
    out.update({k: base64.b64decode(v) for k, v in (obj.get("binaryData") or {}).items()})
    return out


async def _keys(client: Client, pod: Obj, base: Path, src: Obj, kind: str, name: str, mode: int | None) -> None:
    label = "configmap" if kind == "configmaps" else "secret"
    obj = await _object(client, kind, pod["metadata"].get("namespace", ""), name)
    if obj is None:
        if src.get("optional"):
            return
        raise ConfigError(f'MountVolume.SetUp failed for volume: {label} "{name}" not found')
    data = _data(obj, kind)
    items = src.get("items")
    if items:
        for item in items:
            if item.get("key") not in data:
                if src.get("optional"):
                    continue
                raise ConfigError(f"MountVolume.SetUp failed for volume: configmap references non-existent config "
                                  f"key: {item.get('key')}")
            _write(base, item.get("path") or item["key"], data[item["key"]], item.get("mode", mode))
    else:
        for key, value in data.items():
            _write(base, key, value, mode)


def _downward(pod: Obj, base: Path, items: list[Obj], mode: int | None) -> None:
    for item in items:
        if "fieldRef" in item:
            _write(base, item["path"], field_ref(pod, item["fieldRef"].get("fieldPath", "")).encode(),
                   item.get("mode", mode))


async def materialize(client: Client, pod: Obj, pod_dir: Path) -> dict[str, Path]:
    """Volume name -> the host directory (or file) holding it; ConfigError when a source is missing."""
    out: dict[str, Path] = {}
    for vol in (pod.get("spec") or {}).get("volumes") or []:
        name = vol["name"]
        base = pod_dir / "volumes" / name
        if "hostPath" in vol:
            host = Path(vol["hostPath"].get("path", "/"))
            if vol["hostPath"].get("type") == "DirectoryOrCreate":
                host.mkdir(parents=True, exist_ok=True)
            out[name] = host
            continue
        if base.exists() and "emptyDir" not in vol:
            shutil.rmtree(base)  # refreshed from its sources on every sandbox creation
        base.mkdir(parents=True, exist_ok=True)
        out[name] = base
        if "configMap" in vol:
            src = vol["configMap"]
            await _keys(client, pod, base, src, "configmaps", src.get("name", ""), src.get("defaultMode"))
        elif "secret" in vol:
            src = vol["secret"]
            await _keys(client, pod, base, src, "secrets", src.get("secretName", ""), src.get("defaultMode"))
        elif "downwardAPI" in vol:
            _downward(pod, base, vol["downwardAPI"].get("items") or [], vol["downwardAPI"].get("defaultMode"))
        elif "projected" in vol:
            mode = vol["projected"].get("defaultMode")
            for source in vol["projected"].get("sources") or []:
                if "configMap" in source:
                    await _keys(client, pod, base, source["configMap"], "configmaps",
                                source["configMap"].get("name", ""), mode)
                elif "secret" in source:
                    await _keys(client, pod, base, source["secret"], "secrets", source["secret"].get("name", ""), mode)
                elif "downwardAPI" in source:
                    _downward(pod, base, source["downwardAPI"].get("items") or [], mode)
    return out


def container_mounts(container: Obj, volumes: dict[str, Path]) -> list[tuple[str, str]]:
    """(mountPath, host path) for the container's volumeMounts, longest mountPath first."""
    mounts = []
    for m in container.get("volumeMounts") or []:
        host = volumes.get(m.get("name", ""))
        if host is None or not m.get("mountPath"):
            continue
        if m.get("subPath"):
            host = host / m["subPath"]
        mounts.append((m["mountPath"].rstrip("/") or "/", str(host)))
    return sorted(mounts, key=lambda x: -len(x[0]))


def rewrite(text: str, mounts: list[tuple[str, str]]) -> str:
    """Paths under a mountPath -> the same path under its host directory (one pass, longest mount first)."""
    targets = {m: h for m, h in mounts if m != "/"}
    if not targets or "/" not in text:
        return text
    pattern = "|".join(re.escape(m) for m in sorted(targets, key=len, reverse=True))
    return re.sub(rf"(?<![\w.-])({pattern})(?=/|$|[^\w.-])", lambda m: targets[m.group(1)], text)
