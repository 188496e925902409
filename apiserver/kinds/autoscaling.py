"""autoscaling/v2 (preferred) and autoscaling/v1: one resource, stored as autoscaling/v2."""

from __future__ import annotations

from . import ResourceInfo, SimpleStrategy, status

_HPA = SimpleStrategy(status=True, generation=True)

RESOURCES = [
    ResourceInfo("autoscaling", version, "horizontalpodautoscalers", "HorizontalPodAutoscaler", True,
                 short_names=("hpa",), categories=("all",), subresources=(status(),), strategy=_HPA,
                 storage_version="v2", preferred=version == "v2")
    for version in ("v2", "v1")
]
