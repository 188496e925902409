"""The in-tree plugins of the default profile, in upstream's order (which is also the filter order)."""

from __future__ import annotations

from ..framework import Plugin
from .interpodaffinity import InterPodAffinity
from .noderesources import NodeResourcesBalancedAllocation, NodeResourcesFit
from .nodes import ImageLocality, NodeAffinity, NodeName, NodePorts, NodeUnschedulable, TaintToleration
from .topologyspread import PodTopologySpread
from .volumebinding import VolumeBinding

#: name -> plugin class
REGISTRY: dict[str, type[Plugin]] = {p.name: p for p in (
    NodeUnschedulable, NodeName, TaintToleration, NodeAffinity, NodePorts, NodeResourcesFit, VolumeBinding,
    PodTopologySpread, InterPodAffinity, NodeResourcesBalancedAllocation, ImageLocality)}

#: (plugin, score weight) of upstream's default profile; weight 0 = no score extension
DEFAULT_PLUGINS: list[tuple[str, int]] = [
    ("NodeUnschedulable", 0), ("NodeName", 0), ("TaintToleration", 3), ("NodeAffinity", 2), ("NodePorts", 0),
    ("NodeResourcesFit", 1), ("VolumeBinding", 0), ("PodTopologySpread", 2), ("InterPodAffinity", 2),
    ("NodeResourcesBalancedAllocation", 1), ("ImageLocality", 1),
]

__all__ = ["REGISTRY", "DEFAULT_PLUGINS", "InterPodAffinity", "NodeResourcesBalancedAllocation", "NodeResourcesFit",
           "ImageLocality", "NodeAffinity", "NodeName", "NodePorts", "NodeUnschedulable", "TaintToleration",
           "PodTopologySpread", "VolumeBinding"]
