"""storagemigration.k8s.io/v1 (GA in 1.37)."""

from __future__ import annotations

from . import ResourceInfo, SimpleStrategy, status

RESOURCES = [
    ResourceInfo("storagemigration.k8s.io", "v1", "storageversionmigrations", "StorageVersionMigration", False,
                 subresources=(status(),), strategy=SimpleStrategy(status=True)),
]
