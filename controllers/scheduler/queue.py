"""The scheduling queue (upstream PriorityQueue): pending pods wait in one of

- *active*: ready to be tried, highest ``priority`` first, then the earliest enqueue time;
- *backoff*: failed recently; they return to active when their backoff (1s doubling per attempt up to
  10s) expires;
- *unschedulable*: no node fit; they stay until a cluster event that could help arrives (``move``, with a
  predicate the scheduler builds from the plugins' hints) or, as a safety net, for 5 minutes.

Pods with ``spec.schedulingGates`` are held (as *gated*) until an update removes the gates. A popped pod
is *in flight* until the scheduler requeues it or forgets it (after assuming it on a node).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .nominator import Nominator
from .podinfo import PodInfo

Obj = dict[str, Any]

ACTIVE, BACKOFF, UNSCHEDULABLE, GATED, IN_FLIGHT = "active", "backoff", "unschedulable", "gated", "inflight"
UNSCHEDULABLE_FLUSH_INTERVAL = 30.0
MAX_IN_UNSCHEDULABLE = 300.0


@dataclass(eq=False)
class QueuedPodInfo:
    pod: PodInfo
    timestamp: float
    initial_attempt: float
    attempts: int = 0
    unschedulable_plugins: set[str] = field(default_factory=set)
    seq: int = 0
    #: the pod object changed while it was being scheduled: retry instead of parking it
    updated_in_flight: bool = False

    @property
    def key(self) -> str:
        return self.pod.key


def _gated(pi: PodInfo) -> bool:
    return bool(pi.spec.get("schedulingGates"))


def _meaningful_update(old: Obj, new: Obj) -> bool:
    """Anything but status and bookkeeping metadata changed (upstream isPodUpdated)."""
    def strip(pod: Obj) -> Obj:
        meta = {k: v for k, v in pod.get("metadata", {}).items()
                if k not in ("resourceVersion", "generation", "managedFields")}
        return {"metadata": meta, "spec": pod.get("spec")}
    return strip(old) != strip(new)


class SchedulingQueue:
    def __init__(self, *, initial_backoff: float = 1.0, max_backoff: float = 10.0,
                 max_in_unschedulable: float = MAX_IN_UNSCHEDULABLE,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.initial_backoff, self.max_backoff = initial_backoff, max_backoff
        self.max_in_unschedulable = max_in_unschedulable
        self.clock = clock
        self.nominator = Nominator()
        self._infos: dict[str, QueuedPodInfo] = {}
        self._where: dict[str, str] = {}
        self._active: list[tuple[int, float, int, str]] = []
        self._backoff: list[tuple[float, int, str]] = []
        self._parked: dict[str, QueuedPodInfo] = {}  # unschedulable and gated
        self._seq = itertools.count(1)
        self._ready = asyncio.Event()
        self._timer_wakeup = asyncio.Event()
        self._closed = False

    # --- bookkeeping ----------------------------------------------------------------------------------

    def where(self, key: str) -> str | None:
        return self._where.get(key)

    def __len__(self) -> int:
        return len(self._infos)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for w in self._where.values():
            out[w] = out.get(w, 0) + 1
        return out

    def backoff_duration(self, qpi: QueuedPodInfo) -> float:
        d = self.initial_backoff
        for _ in range(1, qpi.attempts):
            if d >= self.max_backoff:
                break
            d *= 2
        return min(d, self.max_backoff)

    def backing_off(self, qpi: QueuedPodInfo) -> bool:
        return qpi.attempts > 0 and self.clock() < qpi.timestamp + self.backoff_duration(qpi)

    def _set(self, qpi: QueuedPodInfo, where: str) -> None:
        key = qpi.key
        self._parked.pop(key, None)
        qpi.seq = next(self._seq)
        self._where[key] = where
        if where == ACTIVE:
            heapq.heappush(self._active, (-qpi.pod.priority, qpi.timestamp, qpi.seq, key))
            self._ready.set()
        elif where == BACKOFF:
            heapq.heappush(self._backoff, (qpi.timestamp + self.backoff_duration(qpi), qpi.seq, key))
            self._timer_wakeup.set()
        elif where in (UNSCHEDULABLE, GATED):
            self._parked[key] = qpi

    def _activate(self, qpi: QueuedPodInfo) -> None:
        if _gated(qpi.pod):
            self._set(qpi, GATED)
        elif self.backing_off(qpi):
            self._set(qpi, BACKOFF)
        else:
            self._set(qpi, ACTIVE)

    # --- informer-driven -----------------------------------------------------------------------------

    def add(self, pi: PodInfo) -> None:
        """A new pending pod (or a newer version of one we hold)."""
        if pi.key in self._infos:
            self.update(pi)
            return
        now = self.clock()
        qpi = QueuedPodInfo(pi, timestamp=now, initial_attempt=now)
        self._infos[pi.key] = qpi
        self.nominator.update(pi)
        self._set(qpi, GATED if _gated(pi) else ACTIVE)

    def update(self, pi: PodInfo) -> None:
        qpi = self._infos.get(pi.key)
        if qpi is None:
            self.add(pi)
            return
        old, qpi.pod = qpi.pod, pi
        if self.nominator.node_of(pi.key) or pi.nominated_node:
            self.nominator.update(pi)
        where = self._where.get(pi.key)
        if where == IN_FLIGHT:
            qpi.updated_in_flight = qpi.updated_in_flight or _meaningful_update(old.pod, pi.pod)
        elif where == ACTIVE and old.priority != pi.priority:
            self._set(qpi, ACTIVE)
        elif where in (UNSCHEDULABLE, GATED) and _meaningful_update(old.pod, pi.pod):
            self._activate(qpi)

    def delete(self, key: str) -> None:
        self._infos.pop(key, None)
        self._where.pop(key, None)
        self._parked.pop(key, None)
        self.nominator.delete(key)

    # --- the scheduling loop ----------------------------------------------------------------------------

    async def pop(self) -> QueuedPodInfo | None:
        """The next pod to schedule (None once closed); it is in flight until requeued or forgotten."""
        while not self._closed:
            while self._active:
                _, _, seq, key = heapq.heappop(self._active)
                qpi = self._infos.get(key)
                if qpi is None or qpi.seq != seq or self._where.get(key) != ACTIVE:
                    continue
                self._where[key] = IN_FLIGHT
                qpi.attempts += 1
                qpi.updated_in_flight = False
                return qpi
            self._ready.clear()
            await self._ready.wait()
        return None

    def requeue(self, qpi: QueuedPodInfo, plugins: set[str], *, error: bool = False) -> None:
        """After a failed attempt: unschedulable pods park until an event helps; errors back off."""
        qpi.timestamp = self.clock()
        qpi.unschedulable_plugins = set(plugins)
        self._infos[qpi.key] = qpi
        if error or qpi.updated_in_flight:
            self._activate(qpi)
        else:
            self._set(qpi, UNSCHEDULABLE)

    def forget(self, key: str) -> None:
        """The pod is assumed on a node: it leaves the queue."""
        self.delete(key)

    def move(self, should_move: Callable[[QueuedPodInfo], bool]) -> int:
        """Move parked unschedulable pods the event may help to backoff or active."""
        moved = 0
        for qpi in list(self._parked.values()):
            if self._where.get(qpi.key) == UNSCHEDULABLE and should_move(qpi):
                self._activate(qpi)
                moved += 1
        # a pod being scheduled right now decided on the world before this event: if it comes back
        # unschedulable, it must retry rather than park (upstream's moveRequestCycle)
        for key, where in self._where.items():
            in_flight = self._infos.get(key) if where == IN_FLIGHT else None
            if in_flight is not None:
                in_flight.updated_in_flight = True
        return moved

    def parked(self) -> list[QueuedPodInfo]:
        return [q for q in self._parked.values() if self._where.get(q.key) == UNSCHEDULABLE]

    def flush_backoff(self) -> float | None:
        """Move pods whose backoff ended to active; the seconds until the next one ends."""
        now = self.clock()
        while self._backoff:
            expiry, seq, key = self._backoff[0]
            qpi = self._infos.get(key)
            if qpi is None or qpi.seq != seq or self._where.get(key) != BACKOFF:
                heapq.heappop(self._backoff)
                continue
            if expiry > now:
                return expiry - now
            heapq.heappop(self._backoff)
            self._set(qpi, ACTIVE)
        return None

    def flush_unschedulable(self) -> int:
        """Pods parked longer than ``max_in_unschedulable`` get another try (upstream's 5 minutes)."""
        now = self.clock()
        return self.move(lambda q: now - q.timestamp > self.max_in_unschedulable)

    async def run_timers(self) -> None:
        last_flush = self.clock()
        while not self._closed:
            wait = self.flush_backoff()
            if self.clock() - last_flush >= UNSCHEDULABLE_FLUSH_INTERVAL:
                self.flush_unschedulable()
                last_flush = self.clock()
            self._timer_wakeup.clear()
            timeout = min(wait if wait is not None else 1.0, 1.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._timer_wakeup.wait(), max(timeout, 0.001))

    def close(self) -> None:
        self._closed = True
        self._ready.set()
        self._timer_wakeup.set()
