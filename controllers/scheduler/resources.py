"""Resource arithmetic of the scheduler: quantities as integers and a pod's effective requests.

CPU is counted in millicores, everything else in whole units (bytes, pods, devices), rounded up as
upstream's ``Quantity.MilliValue()`` / ``Value()`` do. A pod's request follows upstream's
``resource.PodRequests``: regular containers add up, init containers run one at a time (their max counts),
restartable ("sidecar") init containers keep running alongside everything after them, pod overhead is
added on top, and pod-level ``spec.resources.requests`` win over the container sum for cpu and memory.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from typing import Any

from schemas.quantity import QuantityError, parse

Obj = dict[str, Any]
Resources = dict[str, int]

CPU = "cpu"
MEMORY = "memory"
EPHEMERAL_STORAGE = "ephemeral-storage"
PODS = "pods"
#: what a container without a cpu/memory request counts as when scoring (upstream's non-zero defaults)
DEFAULT_MILLI_CPU = 100
DEFAULT_MEMORY = 200 * 1024 * 1024


@functools.lru_cache(maxsize=8192)
def _amount(text: str, milli: bool) -> int:
    try:
        value, _, _ = parse(text.strip())
    except QuantityError:
        return 0
    return math.ceil(value * 1000 if milli else value)


def quantity(q: Any, *, milli: bool = False) -> int:
    """A Quantity (string or number) as an int: millis when ``milli``, else whole units rounded up."""
    if q is None or q == "":
        return 0
    return _amount(str(q), milli)


def is_scalar(name: str) -> bool:
    """Extended, hugepages, attachable-volumes and prefixed native resources (upstream IsScalarResourceName)."""
    return "/" in name or name.startswith(("hugepages-", "attachable-volumes-"))


def to_resources(rl: Mapping[str, Any] | None) -> Resources:
    """A ResourceList as integers; names the scheduler does not account for (``storage``, ...) are dropped."""
    out: Resources = {}
    for name, q in (rl or {}).items():
        if name == CPU:
            out[CPU] = quantity(q, milli=True)
        elif name in (MEMORY, EPHEMERAL_STORAGE, PODS) or is_scalar(name):
            out[name] = quantity(q)
    return out


def add_into(acc: Resources, other: Mapping[str, int]) -> None:
    for k, v in other.items():
        acc[k] = acc.get(k, 0) + v


def max_into(acc: Resources, other: Mapping[str, int]) -> None:
    for k, v in other.items():
        if v > acc.get(k, 0):
            acc[k] = v


def _aggregate(spec: Obj, per_container: Callable[[Obj], Resources]) -> Resources:
    total: Resources = {}
    for c in spec.get("containers") or []:
        add_into(total, per_container(c))
    sidecars: Resources = {}
    init_max: Resources = {}
    for c in spec.get("initContainers") or []:
        reqs = per_container(c)
        if c.get("restartPolicy") == "Always":
            add_into(total, reqs)
            add_into(sidecars, reqs)
            step = dict(sidecars)
        else:
            step = dict(reqs)
            add_into(step, sidecars)
        max_into(init_max, step)
    max_into(total, init_max)
    pod_level = to_resources((spec.get("resources") or {}).get("requests"))
    for name in (CPU, MEMORY):
        if name in pod_level:
            total[name] = pod_level[name]
    add_into(total, to_resources(spec.get("overhead")))
    return total


def _requests_of(c: Obj) -> Resources:
    return to_resources((c.get("resources") or {}).get("requests"))


def _non_zero_requests_of(c: Obj) -> Resources:
    reqs = (c.get("resources") or {}).get("requests") or {}
    return {CPU: quantity(reqs[CPU], milli=True) if CPU in reqs else DEFAULT_MILLI_CPU,
            MEMORY: quantity(reqs[MEMORY]) if MEMORY in reqs else DEFAULT_MEMORY}


def pod_requests(spec: Obj) -> Resources:
    """What the pod asks of a node, for filtering (zero entries dropped)."""
    return {k: v for k, v in _aggregate(spec, _requests_of).items() if v}


def pod_non_zero_requests(spec: Obj) -> tuple[int, int]:
    """(milli cpu, memory) with upstream's defaults for containers that request neither (for scoring)."""
    r = _aggregate(spec, _non_zero_requests_of)
    return r.get(CPU, 0), r.get(MEMORY, 0)


def node_allocatable(node: Obj) -> Resources:
    return to_resources((node.get("status") or {}).get("allocatable"))
