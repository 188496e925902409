"""DefaultPreemption (a PostFilter): when no node fits, find a node where evicting lower-priority pods lets
the pod fit, nominate the pod there and name the victims.

As upstream: only nodes rejected as Unschedulable (not UnschedulableAndUnresolvable) are candidates; on a
candidate every lower-priority pod is removed, the pod must then pass the filters, and victims are
reprieved from the most important down (PodDisruptionBudget-protected ones first) while it still fits.
Among candidates the node with the fewest PDB violations, then the lowest highest-victim priority, the
smallest priority sum, the fewest victims, the latest start wins.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from .framework import UNRESOLVABLE, CycleState, Diagnosis, FitError, Status, unresolvable
from .nodeinfo import NodeInfo
from .podinfo import PodInfo, safe_selector, selects, start_time
from .profile import Profile

Obj = dict[str, Any]
NO_VICTIMS = "No preemption victims found for incoming pod"
NOT_HELPFUL = "Preemption is not helpful for scheduling"
MIN_CANDIDATE_NODES_PERCENTAGE = 10
MIN_CANDIDATE_NODES_ABSOLUTE = 100
INT32_OFFSET = 2**31


@dataclass
class Outcome:
    """``nominated`` None leaves status.nominatedNodeName alone, "" clears it."""

    message: str = ""
    nominated: str | None = None
    victims: list[PodInfo] = field(default_factory=list)
    #: lower-priority pods nominated to the chosen node that lose their nomination
    denominated: list[PodInfo] = field(default_factory=list)


def _more_important(p: PodInfo) -> tuple[int, str]:
    """Sort key: higher priority first, then the one that started earlier."""
    return (-p.priority, start_time(p.pod))


def _terminating_by_preemption(p: PodInfo) -> bool:
    if not p.deleting:
        return False
    for c in (p.pod.get("status") or {}).get("conditions") or []:
        if c.get("type") == "DisruptionTarget":
            return bool(c.get("status") == "True" and c.get("reason") == "PreemptionByScheduler")
    return False


class DefaultPreemption:
    def __init__(self, profile: Profile, *, rng: random.Random | None = None) -> None:
        self.profile = profile
        self.handle = profile.handle
        self.rng = rng or random.Random()

    def _pdbs(self) -> list[Obj]:
        return self.handle.store("poddisruptionbudgets").list()

    def eligible(self, pod: PodInfo, diagnosis: Diagnosis) -> str:
        """"" when the pod may preempt, else upstream's reason."""
        if pod.preemption_policy == "Never":
            return "not eligible due to preemptionPolicy=Never."
        nominated = self.profile.nominator.node_of(pod.key) or pod.nominated_node
        if nominated:
            st = diagnosis.node_status.get(nominated)
            if st is not None and st.code == UNRESOLVABLE:
                return ""
            ni = self.handle.cache.node(nominated)
            if ni is not None and any(p.priority < pod.priority and _terminating_by_preemption(p)
                                      for p in ni.pods.values()):
                return "not eligible due to a terminating pod on the nominated node."
        return ""

    def post_filter(self, state: CycleState, pod: PodInfo, diagnosis: Diagnosis) -> Outcome:
        reason = self.eligible(pod, diagnosis)
        if reason:
            return Outcome(message="preemption: " + reason)
        nodes = self.handle.nodes()
        potential = [n for n in nodes if (st := diagnosis.node_status.get(n.name)) is not None
                     and st.code == "Unschedulable"]
        statuses: dict[str, Status] = {}
        candidates: list[tuple[NodeInfo, list[PodInfo], int]] = []
        if potential:
            want = min(max(len(potential) * MIN_CANDIDATE_NODES_PERCENTAGE // 100, MIN_CANDIDATE_NODES_ABSOLUTE),
                       len(potential))
            offset = self.rng.randrange(len(potential))
            pdbs = self._pdbs()
            for i in range(len(potential)):
                node = potential[(offset + i) % len(potential)]
                victims, violations, st = self.select_victims(state, pod, node, pdbs)
                if st is None:
                    candidates.append((node, victims, violations))
                    if sum(1 for c in candidates if c[2] == 0) and len(candidates) >= want:
                        break
                else:
                    statuses[node.name] = st
        if not candidates:
            fit = FitError(pod, len(nodes), Diagnosis(node_status=statuses, absent_status=unresolvable(NOT_HELPFUL)))
            return Outcome(message="preemption: " + str(fit), nominated="")
        node, victims, _ = self.pick(candidates)
        lower = [p for p in self.profile.nominator.for_node(node.name) if p.priority < pod.priority]
        return Outcome(nominated=node.name, victims=victims, denominated=lower)

    def select_victims(self, state: CycleState, pod: PodInfo, node: NodeInfo,
                       pdbs: list[Obj]) -> tuple[list[PodInfo], int, Status | None]:
        """(victims most important first, PDB violations, None) or (..., the reason this node cannot work)."""
        ni, st = node.clone(), state.clone()
        potential = [p for p in ni.pods.values() if p.priority < pod.priority]
        if not potential:
            return [], 0, unresolvable(NO_VICTIMS)
        for p in potential:
            ni.remove_pod(p.key)
            self.profile.remove_pod_from_state(st, pod, p, ni)
        status = self.profile.run_filter_with_nominated(st, pod, ni)
        if status is not None:
            return [], 0, status
        potential.sort(key=_more_important)
        violating, non_violating = self._split_by_pdb(potential, pdbs)
        victims: list[PodInfo] = []
        violations = 0
        for group, counts in ((violating, True), (non_violating, False)):
            for p in group:
                ni.add_pod(p)
                self.profile.add_pod_to_state(st, pod, p, ni)
                if self.profile.run_filter_with_nominated(st, pod, ni) is not None:
                    ni.remove_pod(p.key)
                    self.profile.remove_pod_from_state(st, pod, p, ni)
                    victims.append(p)
                    violations += 1 if counts else 0
        if violating and non_violating:
            victims.sort(key=_more_important)
        if not victims:
            return [], 0, unresolvable(NO_VICTIMS)
        return victims, violations, None

    @staticmethod
    def _split_by_pdb(pods: list[PodInfo], pdbs: list[Obj]) -> tuple[list[PodInfo], list[PodInfo]]:
        allowed = [int((pdb.get("status") or {}).get("disruptionsAllowed") or 0) for pdb in pdbs]
        selectors = [safe_selector((pdb.get("spec") or {}).get("selector")) for pdb in pdbs]
        violating: list[PodInfo] = []
        fine: list[PodInfo] = []
        for p in pods:
            violated = False
            if p.labels:
                for i, pdb in enumerate(pdbs):
                    if pdb["metadata"].get("namespace") != p.namespace or not selectors[i]:
                        continue
                    if not selects(selectors[i], p.labels):
                        continue
                    if p.name in ((pdb.get("status") or {}).get("disruptedPods") or {}):
                        continue
                    allowed[i] -= 1
                    if allowed[i] < 0:
                        violated = True
            (violating if violated else fine).append(p)
        return violating, fine

    @staticmethod
    def pick(candidates: list[tuple[NodeInfo, list[PodInfo], int]]) -> tuple[NodeInfo, list[PodInfo], int]:
        def rank(c: tuple[NodeInfo, list[PodInfo], int]) -> tuple[int, int, int, int, str]:
            _, victims, violations = c
            earliest = min((start_time(v.pod) for v in victims if v.priority == victims[0].priority), default="")
            return (violations, victims[0].priority, sum(v.priority + INT32_OFFSET for v in victims), len(victims),
                    _negate(earliest))
        return min(candidates, key=rank)


def _negate(ts: str) -> str:
    """Order RFC 3339 timestamps latest-first under ``min``."""
    return "".join(chr(0x10FFFF - ord(ch)) for ch in ts)
