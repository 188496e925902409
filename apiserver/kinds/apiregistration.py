"""apiregistration.k8s.io/v1: APIServices (served by the aggregator, first in /apis)."""

from __future__ import annotations

from . import ResourceInfo, SimpleStrategy, status

RESOURCES = [
    ResourceInfo("apiregistration.k8s.io", "v1", "apiservices", "APIService", False,
                 categories=("api-extensions",), subresources=(status(),), strategy=SimpleStrategy(status=True),
                 storage_name="apiregistration.k8s.io/apiservices"),
]
