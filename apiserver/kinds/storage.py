"""storage.k8s.io/v1."""

from __future__ import annotations

from . import ResourceInfo, SimpleStrategy, status

G = "storage.k8s.io"
_RETURNS_DELETED = SimpleStrategy(returns_deleted=True)

RESOURCES = [
    ResourceInfo(G, "v1", "csidrivers", "CSIDriver", False, strategy=_RETURNS_DELETED),
    ResourceInfo(G, "v1", "csinodes", "CSINode", False, subresources=(status(),),
                 strategy=SimpleStrategy(status=True, returns_deleted=True)),
    ResourceInfo(G, "v1", "csistoragecapacities", "CSIStorageCapacity", True),
    ResourceInfo(G, "v1", "storageclasses", "StorageClass", False, short_names=("sc",), strategy=_RETURNS_DELETED),
    ResourceInfo(G, "v1", "volumeattachments", "VolumeAttachment", False, subresources=(status(),),
                 strategy=SimpleStrategy(status=True, returns_deleted=True)),
    ResourceInfo(G, "v1", "volumeattributesclasses", "VolumeAttributesClass", False, short_names=("vac",),
                 strategy=_RETURNS_DELETED),
]
