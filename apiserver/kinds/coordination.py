"""coordination.k8s.io/v1."""

from __future__ import annotations

from . import ResourceInfo

RESOURCES = [
    ResourceInfo("coordination.k8s.io", "v1", "leases", "Lease", True),
]
