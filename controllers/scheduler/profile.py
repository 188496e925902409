"""A scheduling profile: the configured plugins for one ``schedulerName`` and the generic algorithm that
runs them (upstream schedulePod): pre-filter, filter nodes until enough feasible ones are found, score
them, pick the best (ties broken at random).

``schedule`` is synchronous and reads the live cache; callers must not await between scheduling a pod and
assuming it, so no informer event can interleave.
"""

from __future__ import annotations

import random

from .config import ProfileConfig
from .framework import (
    ERROR,
    SKIP,
    CycleState,
    Diagnosis,
    FitError,
    Handle,
    NoNodesAvailable,
    Plugin,
    Status,
)
from .nodeinfo import NodeInfo
from .nominator import Nominator
from .plugins import REGISTRY
from .podinfo import PodInfo

MIN_FEASIBLE_NODES = 100
_ACTIVE_FILTERS = "/active-filters"
MIN_FEASIBLE_PERCENTAGE = 5


class SchedulingError(Exception):
    """A plugin failed (not a fit problem): the pod goes to backoff."""


def num_feasible_nodes_to_find(num_nodes: int, percentage: int) -> int:
    """Upstream numFeasibleNodesToFind: all of a small cluster, an adaptive share of a large one."""
    if num_nodes < MIN_FEASIBLE_NODES:
        return num_nodes
    if percentage <= 0:
        percentage = max(50 - num_nodes // 125, MIN_FEASIBLE_PERCENTAGE)
    return max(num_nodes * percentage // 100, MIN_FEASIBLE_NODES) if percentage < 100 else num_nodes


class Profile:
    def __init__(self, handle: Handle, config: ProfileConfig, *, percentage_of_nodes_to_score: int = 0,
                 nominator: Nominator | None = None,
                 rng: random.Random | None = None) -> None:
        self.handle = handle
        self.config = config
        self.name = config.scheduler_name
        self.plugins: dict[str, Plugin] = {}
        for name, _ in config.plugins:
            self.plugins[name] = REGISTRY[name](handle, config.plugin_args.get(name))
        filtering = [p for p in self.plugins.values() if p.name not in config.filter_disabled]
        self.pre_filter_plugins = [p for p in filtering if p.implements("pre_filter")]
        self.filter_plugins = [p for p in filtering if p.implements("filter")]
        self.extension_plugins = [p for p in filtering if p.implements("add_pod") or p.implements("remove_pod")]
        self.score_plugins = [(self.plugins[name], w) for name, w in config.plugins
                              if w > 0 and self.plugins[name].implements("score")]
        self.pre_bind_plugins = [p for p in self.plugins.values() if p.implements("pre_bind")]
        self.percentage = (config.percentage_of_nodes_to_score
                           if config.percentage_of_nodes_to_score is not None else percentage_of_nodes_to_score)
        self.nominator = nominator if nominator is not None else Nominator()
        self.rng = rng or random.Random()
        self.next_start = 0

    # --- extension points --------------------------------------------------------------------------------

    def run_pre_filter(self, state: CycleState, pod: PodInfo) -> Status | None:
        for p in self.pre_filter_plugins:
            st = p.pre_filter(state, pod)
            if st is None or st.code == "Success":
                continue
            if st.code == SKIP:
                state.skip_filter.add(p.name)
                continue
            st.plugin = p.name
            return st
        return None

    def run_filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        active: list[Plugin] | None = state.data.get(_ACTIVE_FILTERS)
        if active is None:
            active = state.data[_ACTIVE_FILTERS] = [p for p in self.filter_plugins if p.name not in state.skip_filter]
        for p in active:
            st: Status | None = p.filter(state, pod, node)
            if st is not None and st.code != "Success":
                st.plugin = p.name
                return st
        return None

    def add_pod_to_state(self, state: CycleState, pod: PodInfo, added: PodInfo, node: NodeInfo) -> None:
        for p in self.extension_plugins:
            if p.name not in state.skip_filter:
                p.add_pod(state, pod, added, node)

    def remove_pod_from_state(self, state: CycleState, pod: PodInfo, removed: PodInfo, node: NodeInfo) -> None:
        for p in self.extension_plugins:
            if p.name not in state.skip_filter:
                p.remove_pod(state, pod, removed, node)

    def run_filter_with_nominated(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        """Filters as if pods nominated to this node with at least our priority were already there; the
        pod must pass with and without them (upstream RunFilterPluginsWithNominatedPods)."""
        others = [n for n in self.nominator.for_node(node.name) if n.key != pod.key and n.priority >= pod.priority]
        if not others:
            return self.run_filter(state, pod, node)
        node_with, state_with = node.clone(), state.clone()
        for other in others:
            node_with.add_pod(other)
            self.add_pod_to_state(state_with, pod, other, node_with)
        st = self.run_filter(state_with, pod, node_with)
        if st is not None:
            return st
        return self.run_filter(state, pod, node)

    def run_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> dict[str, int]:
        totals = {n.name: 0 for n in nodes}
        for p, weight in self.score_plugins:
            st = p.pre_score(state, pod, nodes)
            if st is not None and st.code == SKIP:
                continue
            if st is not None and st.code == ERROR:
                raise SchedulingError(st.message)
            scores = {n.name: p.score(state, pod, n) for n in nodes}
            p.normalize(state, pod, scores)
            for name, s in scores.items():
                totals[name] += s * weight
        return totals

    def pre_bind(self, state: CycleState, pod: PodInfo, node_name: str) -> list[tuple[str, dict[str, object]]]:
        out = []
        for p in self.pre_bind_plugins:
            out.extend(p.pre_bind(state, pod, node_name))
        return out

    # --- the algorithm ---------------------------------------------------------------------------------------

    def schedule(self, state: CycleState, pod: PodInfo) -> str:
        """The chosen node's name; raises FitError, NoNodesAvailable or SchedulingError."""
        nodes = self.handle.nodes()
        if not nodes:
            raise NoNodesAvailable()
        diagnosis = Diagnosis()
        st = self.run_pre_filter(state, pod)
        if st is not None:
            if not st.rejected:
                raise SchedulingError(st.message)
            diagnosis.pre_filter_msg = st.message
            diagnosis.node_status = {n.name: st for n in nodes}
            diagnosis.unschedulable_plugins.add(st.plugin)
            raise FitError(pod, len(nodes), diagnosis)
        nominated = self.nominator.node_of(pod.key) or pod.nominated_node
        if nominated:
            ni = self.handle.cache.node(nominated)
            if ni is not None and self.run_filter_with_nominated(state, pod, ni) is None:
                return nominated
        feasible = self.find_feasible(state, pod, nodes, diagnosis)
        if not feasible:
            raise FitError(pod, len(nodes), diagnosis)
        if len(feasible) == 1:
            return feasible[0].name
        return self.select_host(self.run_score(state, pod, feasible))

    def find_feasible(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo],
                      diagnosis: Diagnosis) -> list[NodeInfo]:
        n = len(nodes)
        want = num_feasible_nodes_to_find(n, self.percentage)
        start = self.next_start % n
        feasible: list[NodeInfo] = []
        processed = 0
        check = self.run_filter_with_nominated if self.nominator else self.run_filter
        for i in range(n):
            node = nodes[(start + i) % n]
            processed += 1
            st = check(state, pod, node)
            if st is None:
                feasible.append(node)
                if len(feasible) >= want:
                    break
                continue
            if st.code == ERROR:
                raise SchedulingError(st.message)
            diagnosis.node_status[node.name] = st
            diagnosis.unschedulable_plugins.add(st.plugin)
        self.next_start = (start + processed) % n
        return feasible

    def select_host(self, totals: dict[str, int]) -> str:
        """The best score; among equals each is equally likely (as upstream's reservoir sampling)."""
        best = max(totals.values())
        ties = [name for name, score in totals.items() if score == best]
        return ties[0] if len(ties) == 1 else self.rng.choice(ties)
