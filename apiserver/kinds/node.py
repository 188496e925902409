"""node.k8s.io/v1."""

from __future__ import annotations

from . import ResourceInfo

RESOURCES = [
    ResourceInfo("node.k8s.io", "v1", "runtimeclasses", "RuntimeClass", False),
]
