"""authentication.k8s.io/v1: create-only reviews without storage."""

from __future__ import annotations

from . import ResourceInfo

G = "authentication.k8s.io"

RESOURCES = [
    ResourceInfo(G, "v1", "selfsubjectreviews", "SelfSubjectReview", False, verbs=("create",), stored=False),
    ResourceInfo(G, "v1", "tokenreviews", "TokenReview", False, verbs=("create",), stored=False),
]
