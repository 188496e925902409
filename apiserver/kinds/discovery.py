"""discovery.k8s.io/v1."""

from __future__ import annotations

from . import ResourceInfo, SimpleStrategy

RESOURCES = [
    ResourceInfo("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", True,
                 strategy=SimpleStrategy(generation=True)),
]
