"""The TTL-after-finished controller: a Job with ``spec.ttlSecondsAfterFinished`` is deleted (propagation
Background, so the garbage collector removes its pods) that many seconds after its Complete or Failed
condition's lastTransitionTime. Before deleting, the Job is read again uncached, as upstream does, and the
DELETE carries its resourceVersion as a precondition so a Job changed meanwhile is looked at again."""

from __future__ import annotations

import datetime as dt
import logging

from .client import path_for
from .podutil import parse_time, utcnow
from .runtime import Controller, Obj, Result, split_key

log = logging.getLogger("kplane.controllers.ttlafterfinished")


def finished_at(job: Obj) -> dt.datetime | None:
    """When the Job finished: its true Complete or Failed condition's lastTransitionTime."""
    for c in (job.get("status") or {}).get("conditions") or []:
        if c.get("type") in ("Complete", "Failed") and c.get("status") == "True":
            return parse_time(c.get("lastTransitionTime"))
    return None


def time_left(job: Obj, now: dt.datetime) -> float | None:
    """Seconds until the Job expires (<= 0: expired); None when it never does (no TTL, not finished,
    being deleted)."""
    ttl = (job.get("spec") or {}).get("ttlSecondsAfterFinished")
    if ttl is None or job["metadata"].get("deletionTimestamp"):
        return None
    done = finished_at(job)
    if done is None:
        return None
    return (done + dt.timedelta(seconds=int(ttl)) - now).total_seconds()


class TTLAfterFinishedController(Controller):
    name = "ttl-after-finished"
    component = "ttl-after-finished-controller"
    workers = 2

    def setup(self) -> None:
        self.jobs = self.informers.get("batch", "v1", "jobs")
        self.jobs.add_handlers(on_add=self._maybe_enqueue, on_update=lambda old, new: self._maybe_enqueue(new))

    def _maybe_enqueue(self, job: Obj) -> None:
        if time_left(job, utcnow()) is not None:
            self.enqueue(job)

    async def reconcile(self, key: str) -> Result | None:
        cached = self.jobs.get(key)
        if cached is None:
            return None
        left = time_left(cached, utcnow())
        if left is None:
            return None
        if left > 0:
            return Result(requeue_after=left)
        ns, name = split_key(key)
        path = path_for("batch", "v1", "jobs", ns, name)
        fresh = await self.client.get(path)
        left = time_left(fresh, utcnow())
        if left is None:
            return None
        if left > 0:
            return Result(requeue_after=left)
        log.info("cleaning up Job %s", key)
        await self.client.delete(path, propagation="Background",
                                 preconditions={"resourceVersion": fresh["metadata"]["resourceVersion"]})
        return None
