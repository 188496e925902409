"""apps/v1."""

from __future__ import annotations

from . import ResourceInfo, SimpleStrategy, scale, status

_WORKLOAD = SimpleStrategy(status=True, generation=True)

RESOURCES = [
    ResourceInfo("apps", "v1", "controllerrevisions", "ControllerRevision", True),
    ResourceInfo("apps", "v1", "daemonsets", "DaemonSet", True, short_names=("ds",), categories=("all",),
                 subresources=(status(),), strategy=_WORKLOAD),
    ResourceInfo("apps", "v1", "deployments", "Deployment", True, short_names=("deploy",), categories=("all",),
                 subresources=(scale(), status()), strategy=_WORKLOAD),
    ResourceInfo("apps", "v1", "replicasets", "ReplicaSet", True, short_names=("rs",), categories=("all",),
                 subresources=(scale(), status()),
                 strategy=SimpleStrategy(status=True, generation=True, fields=("status.replicas",))),
    ResourceInfo("apps", "v1", "statefulsets", "StatefulSet", True, short_names=("sts",), categories=("all",),
                 subresources=(scale(), status()), strategy=_WORKLOAD),
]
