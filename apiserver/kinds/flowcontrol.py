"""flowcontrol.apiserver.k8s.io/v1."""

from __future__ import annotations

from . import ResourceInfo, SimpleStrategy, status

G = "flowcontrol.apiserver.k8s.io"
_S = SimpleStrategy(status=True, generation=True)

RESOURCES = [
    ResourceInfo(G, "v1", "flowschemas", "FlowSchema", False, subresources=(status(),), strategy=_S),
    ResourceInfo(G, "v1", "prioritylevelconfigurations", "PriorityLevelConfiguration", False,
                 subresources=(status(),), strategy=_S),
]
