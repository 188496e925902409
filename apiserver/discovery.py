"""Discovery documents, as pure functions of the resource table.

What each endpoint serves and with which Content-Type (upstream kube-apiserver 1.37):

====================================  =================================================================
``GET /version``                      :func:`version_info` -- ``application/json``
``GET /api``                          :func:`api_versions` -- ``application/json`` (legacy APIVersions)
                                      or :func:`aggregated_discovery` ``(legacy=True)`` when Accept asks
                                      for :data:`AGGREGATED_V2` (Content-Type exactly that string)
``GET /apis``                         :func:`api_group_list` -- ``application/json``
                                      or :func:`aggregated_discovery` ``(legacy=False)``
``GET /apis/<group>``                 :func:`api_group` -- ``application/json``
``GET /api/v1``, ``/apis/<g>/<v>``    :func:`api_resource_list` -- ``application/json``
====================================  =================================================================

Aggregated discovery is chosen by content negotiation: the Accept header names
``application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList`` (kubectl 1.37; older ones also
list ``v=v2beta1`` after it). The response carries ``Content-Type`` equal to the negotiated media type,
``Vary: Accept``, ``Cache-Control: public`` and ``ETag: <etag(body)>``; a request whose ``If-None-Match``
equals that ETag gets ``304 Not Modified``. Since 1.35 upstream answers a request that negotiates only
``v2beta1`` with 404 (AggregatedDiscoveryRemoveBetaType is locked on); :func:`aggregated_discovery`
still builds the v2beta1 document (same shape) for servers that choose to serve it. A plain
``application/json`` (or ``*/*``) Accept gets the legacy documents.

Documents are cached per registry revision; treat the returned dicts as read-only.
"""

from __future__ import annotations

import base64
import hashlib
import platform
import weakref
from collections.abc import Callable
from typing import Any

from .kinds import Registry, ResourceInfo, Subresource

JSON = "application/json"
AGGREGATED_V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
AGGREGATED_V2BETA1 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"

BINARY_VERSION = "1.37"
GIT_VERSION = "v1.37.0+kplane"
GIT_COMMIT = "6b1c4e5d0a1f2e3d4c5b6a7980716253443a2b1c"
BUILD_DATE = "2026-08-18T00:00:00Z"
GO_VERSION = "go1.25.9"

Doc = dict[str, Any]


def _go_platform() -> str:
    arch = platform.machine().lower()
    arch = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386", "i386": "386"}.get(arch, arch)
    return f"{platform.system().lower() or 'linux'}/{arch or 'amd64'}"


def version_info(emulated: str = BINARY_VERSION) -> Doc:
    """``/version`` (k8s.io/apimachinery/pkg/version.Info).

    major/minor are the binary's; emulationMajor/Minor the emulated version; minCompatibility is one
    minor below the emulated version, as upstream defaults it. gitVersion is semver with build metadata
    (``v1.37.0+kplane``), which kubectl's version-skew check and the Python client both accept.
    """
    bmajor, bminor = BINARY_VERSION.split(".")
    emajor, eminor = emulated.split(".")[:2]
    return {
        "major": bmajor,
        "minor": bminor,
        "emulationMajor": emajor,
        "emulationMinor": eminor,
        "minCompatibilityMajor": emajor,
        "minCompatibilityMinor": str(max(int(eminor) - 1, 0)),
        "gitVersion": GIT_VERSION,
        "gitCommit": GIT_COMMIT,
        "gitTreeState": "clean",
        "buildDate": BUILD_DATE,
        "goVersion": GO_VERSION,
        "compiler": "gc",
        "platform": _go_platform(),
    }


def etag(body: bytes) -> str:
    """The quoted ETag upstream puts on discovery (and OpenAPI) bodies: hex SHA-512 of the JSON."""
    return '"' + hashlib.sha512(body).hexdigest().upper() + '"'


def storage_version_hash(group: str, version: str, kind: str) -> str:
    """base64 of the first 8 bytes of sha256("group/version/kind") of the storage version."""
    digest = hashlib.sha256(f"{group}/{version}/{kind}".encode()).digest()
    return base64.b64encode(digest[:8]).decode()


def api_versions(server_address: str) -> Doc:
    """``/api``: the legacy APIVersions (upstream writes it without apiVersion)."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def _gv(group: str, version: str) -> Doc:
    return {"groupVersion": f"{group}/{version}", "version": version}


def _group(reg: Registry, group: str) -> Doc:
    versions = reg.versions(group)
    return {"name": group, "versions": [_gv(group, v) for v in versions], "preferredVersion": _gv(group, versions[0])}


def api_group_list(reg: Registry) -> Doc:
    """``/apis``: APIGroupList, apiregistration.k8s.io first, then by group priority."""
    return _cached(reg, ("groups",), lambda: {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [_group(reg, g) for g in reg.groups()],
    })


def api_group(reg: Registry, group: str) -> Doc | None:
    """``/apis/<group>``: APIGroup, or None if no resource is in the group."""
    if not group or not reg.versions(group):
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(reg, group)}


def _storage_hash(info: ResourceInfo) -> str:
    group = info.group if info.storage_group is None else info.storage_group
    return storage_version_hash(group, info.storage_version or info.version, info.kind)


def _resource_entry(info: ResourceInfo) -> Doc:
    entry: Doc = {
        "name": info.plural,
        "singularName": info.singular_name,
        "namespaced": info.namespaced,
        "kind": info.kind,
        "verbs": sorted(info.verbs),
    }
    if info.short_names:
        entry["shortNames"] = list(info.short_names)
    if info.categories:
        entry["categories"] = list(info.categories)
    if info.stored:
        entry["storageVersionHash"] = _storage_hash(info)
    return entry


def _subresource_entry(info: ResourceInfo, sub: Subresource) -> Doc:
    entry: Doc = {
        "name": f"{info.plural}/{sub.name}",
        "singularName": "",
        "namespaced": info.namespaced,
    }
    if sub.group or sub.version:
        entry["group"] = sub.group
        entry["version"] = sub.version
    entry["kind"] = sub.kind or info.kind
    entry["verbs"] = sorted(sub.verbs)
    return entry


def _entries(reg: Registry, group: str, version: str) -> list[Doc]:
    """APIResource entries sorted by path, as the installer registers them."""
    entries: list[Doc] = []
    for info in reg.resources(group, version):
        entries.append(_resource_entry(info))
        entries.extend(_subresource_entry(info, s) for s in info.subresources)
    return sorted(entries, key=lambda e: str(e["name"]))


def api_resource_list(reg: Registry, group: str, version: str) -> Doc | None:
    """``/api/v1`` or ``/apis/<group>/<version>``: APIResourceList, or None if nothing is served there."""
    if not reg.resources(group, version):
        return None
    return _cached(reg, ("resources", group, version), lambda: {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": _entries(reg, group, version),
    })


def _discovery_resources(reg: Registry, group: str, version: str) -> list[Doc]:
    """APIResourceDiscovery entries: the legacy list regrouped, subresources under their parent."""
    out: list[Doc] = []
    by_name: dict[str, Doc] = {}
    entries = _entries(reg, group, version)
    for e in entries:
        if "/" in e["name"]:
            continue
        d: Doc = {
            "resource": e["name"],
            # upstream fills group/version only for kinds from another group (Scale, Eviction, ...)
            "responseKind": {"group": e.get("group", ""), "version": e.get("version", ""), "kind": e["kind"]},
            "scope": "Namespaced" if e["namespaced"] else "Cluster",
            "singularResource": e["singularName"],
            "verbs": e["verbs"],
        }
        if "shortNames" in e:
            d["shortNames"] = e["shortNames"]
        if "categories" in e:
            d["categories"] = e["categories"]
        out.append(d)
        by_name[e["name"]] = d
    for e in entries:
        if "/" not in e["name"]:
            continue
        parent, sub = e["name"].split("/", 1)
        by_name[parent].setdefault("subresources", []).append({
            "subresource": sub,
            "responseKind": {"group": e.get("group", ""), "version": e.get("version", ""), "kind": e["kind"]},
            "verbs": e["verbs"],
        })
    return out


def aggregated_discovery(reg: Registry, *, legacy: bool, version: str = "v2") -> Doc:
    """APIGroupDiscoveryList (apidiscovery.k8s.io ``v2`` or ``v2beta1``) for ``/api`` (legacy=True,
    the core group, unnamed) or ``/apis`` (every named group, preferred version first)."""
    if version not in ("v2", "v2beta1"):
        raise ValueError(f"unknown aggregated discovery version {version!r}")

    def build() -> Doc:
        groups = [""] if legacy else reg.groups()
        items = []
        for g in groups:
            versions = [
                {"version": v, "resources": _discovery_resources(reg, g, v), "freshness": "Current"}
                for v in reg.versions(g)
            ]
            if versions:
                items.append({"metadata": {"name": g} if g else {}, "versions": versions})
        return {
            "kind": "APIGroupDiscoveryList",
            "apiVersion": f"apidiscovery.k8s.io/{version}",
            "metadata": {},
            "items": items,
        }

    return _cached(reg, ("aggregated", legacy, version), build)


_CACHE: weakref.WeakKeyDictionary[Registry, tuple[int, dict[tuple[Any, ...], Doc]]] = weakref.WeakKeyDictionary()


def _cached(reg: Registry, key: tuple[Any, ...], build: Callable[[], Doc]) -> Doc:
    revision, docs = _CACHE.get(reg, (-1, {}))
    if revision != reg.revision:
        docs = {}
        _CACHE[reg] = (reg.revision, docs)
    doc = docs.get(key)
    if doc is None:
        doc = docs[key] = build()
    return doc
