"""The Kubernetes OpenAPI definitions, as shipped by the ``kubernetes-validate`` package.

``load(version)`` returns a cached :class:`SchemaSet` for one Kubernetes minor version ("1.25".."1.37").
Nothing is read until a definition is first asked for; the single ``_definitions.json`` file (every
definition with its descriptions and ``x-kubernetes-*`` extensions) is then parsed once with orjson
(about 10 ms for 1.37). The package itself is never imported (its import pulls in jsonschema and costs
over 100 ms); only its data directory is located.
"""

from __future__ import annotations

import functools
import importlib.util
import threading
from pathlib import Path
from typing import Any

import orjson

__all__ = ["SchemaSet", "load", "available_versions", "REF_PREFIX"]

#: how a ``$ref`` names a definition inside ``_definitions.json``
REF_PREFIX = "#/$defs/"


@functools.cache
def _data_root() -> Path:
    spec = importlib.util.find_spec("kubernetes_validate")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the kubernetes-validate package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "kubernetes-json-schema"


def available_versions() -> list[str]:
    """Minor versions ("1.25", ...) for which definitions are installed, oldest first."""
    out = []
    for p in _data_root().iterdir():
        name = p.name
        if name.startswith("v") and name.endswith(".0-local"):
            out.append(name[1:-len(".0-local")])
    return sorted(out, key=lambda v: tuple(int(x) for x in v.split(".")))


class SchemaSet:
    """All OpenAPI definitions of one Kubernetes version.

    ``definitions`` maps a definition name ("io.k8s.api.core.v1.Pod") to its JSON schema (a dict; do not
    mutate it). ``for_kind`` finds the definition of a top-level kind through each definition's
    ``x-kubernetes-group-version-kind``. ``cache`` is free scratch space for derived, per-version data
    (the validator keeps its compiled walkers there).
    """

    def __init__(self, version: str, path: Path) -> None:
        self.version = version
        self.path = path
        self.cache: dict[str, Any] = {}
        self._defs: dict[str, dict[str, Any]] | None = None
        self._gvk: dict[tuple[str, str, str], str] | None = None
        self._lock = threading.Lock()

    @property
    def definitions(self) -> dict[str, dict[str, Any]]:
        defs = self._defs
        if defs is None:
            with self._lock:
                if self._defs is None:
                    doc = orjson.loads(self.path.read_bytes())
                    self._defs = doc.get("$defs") or doc.get("definitions") or {}
                defs = self._defs
        return defs

    def _index(self) -> dict[tuple[str, str, str], str]:
        idx = self._gvk
        if idx is None:
            idx = {}
            for name, schema in self.definitions.items():
                for gvk in schema.get("x-kubernetes-group-version-kind") or ():
                    key = (gvk.get("group", ""), gvk.get("version", ""), gvk.get("kind", ""))
                    # a kind shared by several definitions (DeleteOptions, WatchEvent) keeps the first,
                    # which for meta kinds is the apimachinery one
                    idx.setdefault(key, name)
            self._gvk = idx
        return idx

    def for_kind(self, group: str, version: str, kind: str) -> str | None:
        """The definition name for ``group/version, Kind=kind`` ("" is the core group), or None."""
        return self._index().get((group, version, kind))

    def kinds(self) -> list[tuple[str, str, str]]:
        """Every (group, version, kind) some definition declares."""
        return list(self._index())

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        """Follow a ``$ref`` (if any) to the definition it names."""
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith(REF_PREFIX):
            return self.definitions[ref[len(REF_PREFIX):]]
        return schema

    def __repr__(self) -> str:
        return f"SchemaSet({self.version!r})"


def _normalize(version: str) -> str:
    v = version.lstrip("v")
    parts = v.split(".")
    if len(parts) < 2 or not all(p.isdigit() for p in parts):
        raise ValueError(f"not a Kubernetes version: {version!r}")
    return f"{parts[0]}.{parts[1]}"


@functools.cache
def _load(minor: str) -> SchemaSet:
    path = _data_root() / f"v{minor}.0-local" / "_definitions.json"
    if not path.is_file():
        raise ValueError(f"no schemas for Kubernetes {minor} (have {', '.join(available_versions())})")
    return SchemaSet(minor, path)


def load(version: str = "1.37") -> SchemaSet:
    """The (cached, lazily parsed) definitions of Kubernetes ``version`` ("1.37", "v1.37.0", ...)."""
    return _load(_normalize(version))
