"""rbac.authorization.k8s.io/v1."""

from __future__ import annotations

from . import ResourceInfo

G = "rbac.authorization.k8s.io"

RESOURCES = [
    ResourceInfo(G, "v1", "clusterrolebindings", "ClusterRoleBinding", False),
    ResourceInfo(G, "v1", "clusterroles", "ClusterRole", False),
    ResourceInfo(G, "v1", "rolebindings", "RoleBinding", True),
    ResourceInfo(G, "v1", "roles", "Role", True),
]
