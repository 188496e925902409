"""apiextensions.k8s.io/v1: CustomResourceDefinitions (kept under /registry/apiextensions.k8s.io/)."""

from __future__ import annotations

from . import ResourceInfo, SimpleStrategy, status

RESOURCES = [
    ResourceInfo("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", False,
                 short_names=("crd", "crds"), categories=("api-extensions",), subresources=(status(),),
                 strategy=SimpleStrategy(status=True, generation=True),
                 storage_name="apiextensions.k8s.io/customresourcedefinitions"),
]
