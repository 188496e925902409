"""events.k8s.io/v1: the same objects as core v1 events, stored as core v1 Events."""

from __future__ import annotations

from . import ResourceInfo

RESOURCES = [
    ResourceInfo("events.k8s.io", "v1", "events", "Event", True, short_names=("ev",),
                 storage_group="", storage_version="v1"),
]
