"""The resource table: one ResourceInfo per (group, version, resource).

Routes, discovery and OpenAPI are all derived from :data:`REGISTRY`; nothing else lists resources.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from ..strategy import DEFAULT, Strategy

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class Subresource:
    name: str  # "status", "scale", "binding", ...
    kind: str  # the kind the subresource speaks ("" = the parent's kind)
    verbs: tuple[str, ...]
    group: str = ""  # group/version of that kind when it differs from the parent's (e.g. autoscaling/v1 Scale)
    version: str = ""


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
        for info in infos:
            self.add(info)

    def add(self, info: ResourceInfo) -> None:
        key = (info.group, info.version, info.plural)
        if key not in self._by_path:
            self._order.append(info)
        else:
            self._order = [info if (i.group, i.version, i.plural) == key else i for i in self._order]
        self._by_path[key] = info

    def remove(self, group: str, version: str, plural: str) -> None:
        info = self._by_path.pop((group, version, plural), None)
        if info is not None:
            self._order.remove(info)

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


def builtin() -> Registry:
    from . import core

    return Registry(core.RESOURCES)
