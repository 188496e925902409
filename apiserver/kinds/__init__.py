"""The resource table: one ResourceInfo per (group, version, resource).

Routes, discovery and OpenAPI are all derived from :data:`REGISTRY`; nothing else lists resources.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..strategy import DEFAULT, Strategy

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class Subresource:
    name: str  # "status", "scale", "binding", ...
    kind: str  # the kind the subresource speaks ("" = the parent's kind)
    verbs: tuple[str, ...]
    group: str = ""  # group/version of that kind when it differs from the parent's (e.g. autoscaling/v1 Scale)
    version: str = ""
    #: HTTP methods of a connect subresource (exec, attach, portforward, proxy); empty for REST ones
    methods: tuple[str, ...] = ()
    #: a connect subresource that also takes a trailing path (``.../proxy/{path}``)
    subpath: bool = False

    @property
    def is_connect(self) -> bool:
        return bool(self.methods)


@dataclass(frozen=True)
class ResourceInfo:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    verbs: tuple[str, ...] = ALL_VERBS
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    singular: str = ""
    subresources: tuple[Subresource, ...] = ()
    strategy: Strategy = DEFAULT
    #: the storage key segment, as upstream's etcd layout ("minions" for nodes, "services/specs")
    storage_name: str = ""
    #: the version objects are stored in when several versions serve one resource
    storage_version: str = ""
    #: the preferred version of the group serves this resource
    preferred: bool = True
    #: the group objects are stored in when it differs (events.k8s.io events are stored as core v1 Events)
    storage_group: str | None = None
    #: False for virtual resources without storage (bindings, componentstatuses, *reviews)
    stored: bool = True
    extra: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def api_version(self) -> str:
        return self.group_version

    @property
    def list_kind(self) -> str:
        return self.kind + "List"

    @property
    def singular_name(self) -> str:
        return self.singular or self.kind.lower()

    @property
    def key_root(self) -> str:
        """``/registry/<resource>`` (``/registry/<group>/<resource>`` for custom resources)."""
        return "/registry/" + (self.storage_name or self.plural)

    def key(self, namespace: str, name: str) -> str:
        return f"{self.key_root}/{namespace}/{name}" if self.namespaced else f"{self.key_root}/{name}"

    def prefix(self, namespace: str = "") -> str:
        return f"{self.key_root}/{namespace}/" if self.namespaced and namespace else f"{self.key_root}/"

    def subresource(self, name: str) -> Subresource | None:
        for s in self.subresources:
            if s.name == name:
                return s
        return None


class Registry:
    """Lookup by group/version/plural, by kind, and by short name."""

    def __init__(self, infos: Iterable[ResourceInfo] = ()) -> None:
        self._by_path: dict[tuple[str, str, str], ResourceInfo] = {}
        self._order: list[ResourceInfo] = []
        #: bumped by every add/remove; caches derived from the table (discovery, OpenAPI) key on it
        self.revision = 0
        for info in infos:
            self.add(info)

    def add(self, info: ResourceInfo) -> None:
        key = (info.group, info.version, info.plural)
        if key not in self._by_path:
            self._order.append(info)
        else:
            self._order = [info if (i.group, i.version, i.plural) == key else i for i in self._order]
        self._by_path[key] = info
        self.revision += 1

    def remove(self, group: str, version: str, plural: str) -> None:
        info = self._by_path.pop((group, version, plural), None)
        if info is not None:
            self._order.remove(info)
            self.revision += 1

    def get(self, group: str, version: str, plural: str) -> ResourceInfo | None:
        return self._by_path.get((group, version, plural))

    def by_kind(self, group: str, version: str, kind: str) -> ResourceInfo | None:
        for info in self._order:
            if (info.group, info.version, info.kind) == (group, version, kind):
                return info
        return None

    def __iter__(self) -> Iterator[ResourceInfo]:
        return iter(self._order)

    def group_versions(self) -> list[tuple[str, str]]:
        """(group, version) pairs in table order, each once."""
        seen: dict[tuple[str, str], None] = {}
        for info in self._order:
            seen.setdefault((info.group, info.version), None)
        return list(seen)

    def resources(self, group: str, version: str) -> list[ResourceInfo]:
        """The resources one group/version serves, in table order."""
        return [i for i in self._order if i.group == group and i.version == version]

    def versions(self, group: str) -> list[str]:
        """The versions of ``group``, preferred first (the order discovery lists them in)."""
        infos: dict[str, list[ResourceInfo]] = {}
        for info in self._order:
            if info.group == group:
                infos.setdefault(info.version, []).append(info)

        def key(v: str) -> tuple[bool, int, tuple[int, int, int, str]]:
            preferred = any(i.preferred for i in infos[v])
            return (not preferred, -priority(group, v)[1], kube_version_key(v))

        return sorted(infos, key=key)

    def preferred_version(self, group: str) -> str | None:
        versions = self.versions(group)
        return versions[0] if versions else None

    def groups(self) -> list[str]:
        """Named groups (not the legacy core group) in discovery order: apiregistration.k8s.io
        first, then by descending group priority, ties by name."""
        names = {info.group for info in self._order if info.group}

        def key(g: str) -> tuple[int, int, str]:
            first = 0 if g == APIREGISTRATION else 1
            return (first, -max(priority(g, v)[0] for v in self.versions(g)), g)

        return sorted(names, key=key)


APIREGISTRATION = "apiregistration.k8s.io"

#: (groupPriorityMinimum, versionPriority) of the APIServices kube-apiserver registers for its
#: built-in group versions (aggregator priorities); they order /apis and each group's versions.
PRIORITIES: dict[tuple[str, str], tuple[int, int]] = {
    ("", "v1"): (18000, 1),
    ("apps", "v1"): (17800, 15),
    ("events.k8s.io", "v1"): (17750, 15),
    ("authentication.k8s.io", "v1"): (17700, 15),
    ("authorization.k8s.io", "v1"): (17600, 15),
    ("autoscaling", "v2"): (17500, 30),
    ("autoscaling", "v1"): (17500, 15),
    ("batch", "v1"): (17400, 15),
    ("certificates.k8s.io", "v1"): (17300, 15),
    ("networking.k8s.io", "v1"): (17200, 15),
    ("policy", "v1"): (17100, 15),
    ("rbac.authorization.k8s.io", "v1"): (17000, 15),
    ("storage.k8s.io", "v1"): (16800, 15),
    ("admissionregistration.k8s.io", "v1"): (16700, 15),
    ("apiextensions.k8s.io", "v1"): (16700, 15),
    ("scheduling.k8s.io", "v1"): (16600, 15),
    ("coordination.k8s.io", "v1"): (16500, 15),
    ("node.k8s.io", "v1"): (16300, 15),
    ("discovery.k8s.io", "v1"): (16200, 15),
    ("resource.k8s.io", "v1"): (16200, 21),
    ("flowcontrol.apiserver.k8s.io", "v1"): (16100, 21),
    ("storagemigration.k8s.io", "v1"): (15800, 15),
}

#: what the CRD registration controller gives custom resource group versions
CUSTOM_PRIORITY = (1000, 100)


def priority(group: str, version: str) -> tuple[int, int]:
    return PRIORITIES.get((group, version), CUSTOM_PRIORITY)


def kube_version_key(version: str) -> tuple[int, int, int, str]:
    """Sort key putting versions in Kubernetes order: v2 > v1 > v1beta2 > v1beta1 > v1alpha1 > others
    (the non-Kubernetes-like ones by name)."""
    m = re.fullmatch(r"v([1-9][0-9]*)(?:(alpha|beta)([1-9][0-9]*))?", version)
    if m is None:
        return (3, 0, 0, version)
    major = int(m.group(1))
    stage = {"": 0, "beta": 1, "alpha": 2}[m.group(2) or ""]
    minor = int(m.group(3) or 0)
    return (stage, -major, -minor, "")


STATUS_VERBS = ("get", "patch", "update")
#: kube verbs of a proxy subresource (HEAD and OPTIONS have none)
PROXY_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")
PROXY_VERBS = ("create", "delete", "get", "patch", "update")


def status(kind: str = "") -> Subresource:
    return Subresource("status", kind, STATUS_VERBS)


def scale() -> Subresource:
    return Subresource("scale", "Scale", STATUS_VERBS, group="autoscaling", version="v1")


def proxy(kind: str) -> Subresource:
    return Subresource("proxy", kind, PROXY_VERBS, methods=PROXY_METHODS, subpath=True)


def _field(obj: dict[str, Any], path: str) -> str:
    cur: Any = obj
    for part in path.split("."):
        cur = cur.get(part) if isinstance(cur, dict) else None
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return "" if cur is None else str(cur)


class SimpleStrategy(Strategy):
    """A strategy configured by flags: status subresource, generation, delete response and the
    extra fields a fieldSelector may use (dotted paths)."""

    def __init__(self, *, status: bool = False, generation: bool = False, returns_deleted: bool = False,
                 fields: tuple[str, ...] = ()) -> None:
        self.has_status = status
        self.tracks_generation = generation
        self.return_deleted_object = returns_deleted
        self.fields = fields

    def field_attrs(self, obj: dict[str, Any]) -> dict[str, str]:
        return {f: _field(obj, f) for f in self.fields}


def builtin() -> Registry:
    """Every GA built-in resource of Kubernetes 1.37, in discovery order."""
    from . import (
        admissionregistration,
        apiextensions,
        apiregistration,
        apps,
        authentication,
        authorization,
        autoscaling,
        batch,
        certificates,
        coordination,
        core,
        discovery,
        events,
        flowcontrol,
        networking,
        node,
        policy,
        rbac,
        resource,
        scheduling,
        storage,
        storagemigration,
    )

    modules = (core, apiregistration, apps, events, authentication, authorization, autoscaling, batch,
               certificates, networking, policy, rbac, storage, admissionregistration, apiextensions,
               scheduling, coordination, node, discovery, resource, flowcontrol, storagemigration)
    infos = [info for m in modules for info in m.RESOURCES]
    reg = Registry(infos)
    order = {g: n for n, g in enumerate([""] + reg.groups())}
    infos.sort(key=lambda i: (order[i.group], reg.versions(i.group).index(i.version), i.plural))
    return Registry(infos)
