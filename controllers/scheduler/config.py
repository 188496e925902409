"""Scheduler configuration: upstream's defaults, optionally read from a KubeSchedulerConfiguration file
(kubescheduler.config.k8s.io/v1). Supported: ``podInitialBackoffSeconds``, ``podMaxBackoffSeconds``,
``percentageOfNodesToScore``, and per profile ``schedulerName``, ``percentageOfNodesToScore``,
``plugins.{multiPoint,preFilter,filter,score,postFilter}.{enabled,disabled}`` (names, score weights)
and ``pluginConfig`` args (e.g. NodeResourcesFit ``scoringStrategy.type: MostAllocated``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .plugins import DEFAULT_PLUGINS, REGISTRY

Obj = dict[str, Any]
DEFAULT_SCHEDULER = "default-scheduler"


@dataclass
class ProfileConfig:
    scheduler_name: str = DEFAULT_SCHEDULER
    #: enabled plugins in order, with their score weight (0: not scored)
    plugins: list[tuple[str, int]] = field(default_factory=lambda: list(DEFAULT_PLUGINS))
    filter_disabled: set[str] = field(default_factory=set)
    plugin_args: dict[str, Obj] = field(default_factory=dict)
    percentage_of_nodes_to_score: int | None = None
    preemption: bool = True


@dataclass
class SchedulerConfig:
    profiles: list[ProfileConfig] = field(default_factory=lambda: [ProfileConfig()])
    pod_initial_backoff: float = 1.0
    pod_max_backoff: float = 10.0
    percentage_of_nodes_to_score: int = 0


def _names(section: Obj | None, key: str) -> list[Obj]:
    return list(((section or {}).get(key)) or [])


def _profile(raw: Obj) -> ProfileConfig:
    prof = ProfileConfig(scheduler_name=raw.get("schedulerName") or DEFAULT_SCHEDULER,
                         percentage_of_nodes_to_score=raw.get("percentageOfNodesToScore"))
    plugins = raw.get("plugins") or {}
    weights = dict(prof.plugins)
    order = [name for name, _ in prof.plugins]
    multi = plugins.get("multiPoint")
    for p in _names(multi, "disabled"):
        if p["name"] == "*":
            order.clear()
            prof.preemption = False
        elif p["name"] == "DefaultPreemption":
            prof.preemption = False
        elif p["name"] in order:
            order.remove(p["name"])
    for p in _names(multi, "enabled"):
        if p["name"] == "DefaultPreemption":
            prof.preemption = True
            continue
        if p["name"] not in REGISTRY:
            raise ValueError(f"unknown plugin {p['name']!r}")
        if p["name"] not in order:
            order.append(p["name"])
        if "weight" in p:
            weights[p["name"]] = int(p["weight"])
    for p in _names(plugins.get("score"), "disabled"):
        for name in (order if p["name"] == "*" else [p["name"]]):
            weights[name] = 0
    for p in _names(plugins.get("score"), "enabled"):
        if p["name"] not in order:
            order.append(p["name"])
        weights[p["name"]] = int(p.get("weight", 1))
    for point in ("preFilter", "filter"):
        for p in _names(plugins.get(point), "disabled"):
            prof.filter_disabled.update(order if p["name"] == "*" else [p["name"]])
    for p in _names(plugins.get("postFilter"), "disabled"):
        if p["name"] in ("*", "DefaultPreemption"):
            prof.preemption = False
    prof.plugins = [(name, weights.get(name, 0)) for name in order]
    for pc in raw.get("pluginConfig") or []:
        prof.plugin_args[pc["name"]] = dict(pc.get("args") or {})
    return prof


def load_config(path: str | Path | None) -> SchedulerConfig:
    """Defaults when ``path`` is None; otherwise a KubeSchedulerConfiguration document."""
    if not path:
        return SchedulerConfig()
    raw: Obj = yaml.safe_load(Path(path).read_text()) or {}
    cfg = SchedulerConfig(pod_initial_backoff=float(raw.get("podInitialBackoffSeconds", 1)),
                          pod_max_backoff=float(raw.get("podMaxBackoffSeconds", 10)),
                          percentage_of_nodes_to_score=int(raw.get("percentageOfNodesToScore") or 0))
    if raw.get("profiles"):
        cfg.profiles = [_profile(p) for p in raw["profiles"]]
    return cfg
