"""Path -> RequestInfo, as upstream's RequestInfoFactory reads resource paths.

/api/v1[/namespaces/{ns}]/{resource}[/{name}[/{subresource}]]
/apis/{group}/{version}[/namespaces/{ns}]/{resource}[/{name}[/{subresource}]]
plus the deprecated /watch/ prefix (…/v1/watch/namespaces/{ns}/pods).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RequestInfo:
    group: str
    version: str
    resource: str
    namespace: str = ""
    name: str = ""
    subresource: str = ""
    watch_path: bool = False  # the deprecated /watch/ prefix


# namespace subresources, which would otherwise read as a resource inside the namespace
NAMESPACE_SUBRESOURCES = frozenset({"status", "finalize"})


def parse(path: str) -> RequestInfo | None:
    """None when ``path`` is not a resource path (discovery, /version, ... or nonsense)."""
    parts = [p for p in path.split("/") if p]
    if len(parts) < 3:
        return None
    if parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif parts[0] == "apis":
        if len(parts) < 4:
            return None
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    watch_path = False
    if rest and rest[0] == "watch":
        watch_path = True
        rest = rest[1:]
        if not rest:
            return None
    namespace = ""
    if rest[0] == "namespaces" and len(rest) >= 3 and rest[2] not in NAMESPACE_SUBRESOURCES:
        namespace = rest[1]
        rest = rest[2:]
    elif rest[0] == "namespaces" and len(rest) == 3:
        # /api/v1/namespaces/{name}/status|finalize
        return RequestInfo(group, version, "namespaces", "", rest[1], rest[2], watch_path)
    if len(rest) > 3:
        return None
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    return RequestInfo(group, version, resource, namespace, name, subresource, watch_path)
