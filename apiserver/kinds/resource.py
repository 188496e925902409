"""resource.k8s.io/v1: dynamic resource allocation (DeviceTaintRules GA in 1.37)."""

from __future__ import annotations

from . import ResourceInfo, SimpleStrategy, status

G = "resource.k8s.io"

RESOURCES = [
    ResourceInfo(G, "v1", "deviceclasses", "DeviceClass", False,
                 strategy=SimpleStrategy(generation=True, returns_deleted=True)),
    ResourceInfo(G, "v1", "devicetaintrules", "DeviceTaintRule", False, subresources=(status(),),
                 strategy=SimpleStrategy(status=True, generation=True)),
    ResourceInfo(G, "v1", "resourceclaims", "ResourceClaim", True, subresources=(status(),),
                 strategy=SimpleStrategy(status=True, returns_deleted=True)),
    ResourceInfo(G, "v1", "resourceclaimtemplates", "ResourceClaimTemplate", True,
                 strategy=SimpleStrategy(returns_deleted=True)),
    ResourceInfo(G, "v1", "resourceslices", "ResourceSlice", False,
                 strategy=SimpleStrategy(generation=True, returns_deleted=True,
                                         fields=("spec.nodeName", "spec.driver"))),
]
