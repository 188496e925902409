"""scheduling.k8s.io/v1."""

from __future__ import annotations

from . import ResourceInfo

RESOURCES = [
    ResourceInfo("scheduling.k8s.io", "v1", "priorityclasses", "PriorityClass", False, short_names=("pc",)),
]
