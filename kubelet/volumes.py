"""Pod volumes for the process runtime, materialised under ``<pod dir>/volumes/<name>``.

emptyDir is a directory; configMap, secret, downwardAPI and projected (those sources; service-account
tokens are not issued yet) become files with their ``items``/``mode``; hostPath is the host path itself;
any other kind (persistentVolumeClaim, ...) is an empty directory for now.

configMap, secret, downwardAPI and projected volumes are written as upstream's AtomicWriter does: the
files live in a timestamped ``..<time>`` directory, ``..data`` is a symlink to it, and every top-level
name is a symlink through ``..data``. An update writes a new directory and swaps ``..data`` in one
rename, so the volume directory itself (what a container's bind mount holds) never changes and readers
never see half an update. The pod worker rewrites them every ``--sync-frequency``.

How a container sees its mounts (``--volume-mounts``, see kubelet/mountns.py): as root, in a mount
namespace of its own with each volumeMount bind-mounted at its ``mountPath``; otherwise through a
documented path rewrite: in its command, args, env values and workingDir (and in ``kubectl exec``
commands), a path under a volumeMount's ``mountPath`` is replaced by the materialised directory
(``/etc/config/app.yaml`` -> ``<pod dir>/volumes/config/app.yaml``).
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

from controllers.client import ApiError, Client, path_for

from .env import ConfigError, field_ref

Obj = dict[str, Any]


Payload = dict[str, tuple[bytes, int]]  # relative path -> (content, mode)

DATA = "..data"


def _put(payload: Payload, rel: str, data: bytes, mode: int | None) -> None:
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    if not parts or ".." in parts or parts[0].startswith(".."):
        raise ConfigError(f"invalid path {rel!r}")
    payload["/".join(parts)] = (data, mode if mode is not None else 0o644)


def _current(base: Path) -> Payload | None:
    """What ``..data`` holds now (None when there is no ``..data``)."""
    data = base / DATA
    if not data.is_symlink():
        return None
    out: Payload = {}
    root = data.resolve()
    for f in root.rglob("*"):
        if f.is_file() and not f.is_symlink():
            out[str(f.relative_to(root))] = (f.read_bytes(), f.stat().st_mode & 0o7777)
    return out


def atomic_write(base: Path, payload: Payload) -> bool:
    """Make ``base`` hold exactly ``payload`` (upstream's AtomicWriter layout); False when it already did."""
    base.mkdir(parents=True, exist_ok=True)
    if _current(base) == payload:
        return False
    old = os.readlink(base / DATA) if (base / DATA).is_symlink() else ""
    stamp = base / f"..{time.strftime('%Y_%m_%d_%H_%M_%S')}.{time.monotonic_ns() % 10**9}"
    stamp.mkdir()
    for rel, (data, mode) in payload.items():
        target = stamp / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        os.chmod(target, mode)
    tmp = base / "..data_tmp"
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    tmp.symlink_to(stamp.name)
    os.replace(tmp, base / DATA)
    tops = {rel.split("/", 1)[0] for rel in payload}
    for name in tops:
        link = base / name
        if link.is_symlink() and os.readlink(link) == f"{DATA}/{name}":
            continue
        if link.is_dir() and not link.is_symlink():
            shutil.rmtree(link)
        elif link.exists() or link.is_symlink():
            link.unlink()
        link.symlink_to(f"{DATA}/{name}")
    for link in base.iterdir():  # names the new payload no longer has
        if link.is_symlink() and link.name not in tops and os.readlink(link).startswith(f"{DATA}/"):
            link.unlink()
    if old and old != stamp.name and not old.startswith("/") and (base / old).is_dir():
        shutil.rmtree(base / old)
    return True


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


async def _keys(client: Client, pod: Obj, payload: Payload, src: Obj, kind: str, name: str,
                mode: int | None) -> None:
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
            _put(payload, item.get("path") or item["key"], data[item["key"]], item.get("mode", mode))
    else:
        for key, value in data.items():
            _put(payload, key, value, mode)


def _downward(pod: Obj, payload: Payload, items: list[Obj], mode: int | None) -> None:
    for item in items:
        if "fieldRef" in item:
            _put(payload, item["path"], field_ref(pod, item["fieldRef"].get("fieldPath", "")).encode(),
                   item.get("mode", mode))


async def materialize(client: Client, pod: Obj, pod_dir: Path) -> dict[str, Path]:
    """Volume name -> the host directory (or file) holding it; ConfigError when a source is missing.
    Called again to refresh: directories are updated in place (see :func:`atomic_write`)."""
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
        base.mkdir(parents=True, exist_ok=True)
        out[name] = base
        payload: Payload = {}
        if "configMap" in vol:
            src = vol["configMap"]
            await _keys(client, pod, payload, src, "configmaps", src.get("name", ""), src.get("defaultMode"))
        elif "secret" in vol:
            src = vol["secret"]
            await _keys(client, pod, payload, src, "secrets", src.get("secretName", ""), src.get("defaultMode"))
        elif "downwardAPI" in vol:
            _downward(pod, payload, vol["downwardAPI"].get("items") or [], vol["downwardAPI"].get("defaultMode"))
        elif "projected" in vol:
            mode = vol["projected"].get("defaultMode")
            for source in vol["projected"].get("sources") or []:
                if "configMap" in source:
                    await _keys(client, pod, payload, source["configMap"], "configmaps",
                                source["configMap"].get("name", ""), mode)
                elif "secret" in source:
                    await _keys(client, pod, payload, source["secret"], "secrets",
                                source["secret"].get("name", ""), mode)
                elif "downwardAPI" in source:
                    _downward(pod, payload, source["downwardAPI"].get("items") or [], mode)
        else:
            continue
        atomic_write(base, payload)
    return out


def prepare_subpaths(container: Obj, volumes: dict[str, Path]) -> None:
    """As upstream's kubelet: a missing subPath is created as a directory; a subPath that resolves (through
    symlinks) outside its volume is refused. ConfigError with upstream's words."""
    for m in container.get("volumeMounts") or []:
        sub, base = m.get("subPath"), volumes.get(m.get("name", ""))
        if not sub or base is None:
            continue
        what = f'failed to prepare subPath for volumeMount "{m.get("name")}" of container "{container.get("name")}"'
        target = base / sub
        try:
            if not os.path.lexists(target):
                target.mkdir(parents=True, exist_ok=True)
            real, root = os.path.realpath(target), os.path.realpath(base)
        except OSError as e:
            raise ConfigError(what) from e
        if real != root and not real.startswith(root.rstrip("/") + "/"):
            raise ConfigError(what)


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
