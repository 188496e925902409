"""authorization.k8s.io/v1: create-only reviews without storage."""

from __future__ import annotations

from . import ResourceInfo

G = "authorization.k8s.io"

RESOURCES = [
    ResourceInfo(G, "v1", "localsubjectaccessreviews", "LocalSubjectAccessReview", True, verbs=("create",),
                 stored=False),
    ResourceInfo(G, "v1", "selfsubjectaccessreviews", "SelfSubjectAccessReview", False, verbs=("create",),
                 stored=False),
    ResourceInfo(G, "v1", "selfsubjectrulesreviews", "SelfSubjectRulesReview", False, verbs=("create",),
                 stored=False),
    ResourceInfo(G, "v1", "subjectaccessreviews", "SubjectAccessReview", False, verbs=("create",), stored=False),
]
