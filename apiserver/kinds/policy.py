"""policy/v1."""

from __future__ import annotations

from . import ResourceInfo, SimpleStrategy, status

RESOURCES = [
    ResourceInfo("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", True, short_names=("pdb",),
                 subresources=(status(),), strategy=SimpleStrategy(status=True, generation=True)),
]
