"""The CronJob controller (upstream's pkg/controller/cronjob, controller v2), level-triggered.

A reconcile reads the CronJob and the Jobs it controls from the informer caches: finished Jobs leave
``status.active`` (SawCompletedJob) and set ``lastSuccessfulTime``, history beyond
``successfulJobsHistoryLimit``/``failedJobsHistoryLimit`` is deleted (oldest start first), then - unless
suspended - the most recent unmet schedule time is run as Job ``<cronjob>-<minutes since epoch>``, subject
to ``startingDeadlineSeconds`` (MissSchedule) and ``concurrencyPolicy``. The key is requeued for the next
schedule time (plus 100 ms), never polled. :func:`decide` holds the scheduling decision, with ``now``
injectable for tests.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import logging
from dataclasses import dataclass, field

from schemas import cron

from .client import ApiError, path_for
from .podutil import emit, error_text, namespace_terminating, owner_reference, parse_time, rfc3339, utcnow
from .runtime import Controller, Obj, Result, controller_ref, key_of, split_key

log = logging.getLogger("kplane.controllers.cronjob")

SCHEDULED_TIMESTAMP_ANNOTATION = "batch.kubernetes.io/cronjob-scheduled-timestamp"
#: added to every requeue so the reconcile lands just after the schedule time (nextScheduleDelta)
NEXT_SCHEDULE_DELTA = 0.1
TOO_MANY_MISSED = 100
NONE_MISSED, FEW_MISSED, MANY_MISSED = 0, 1, 2


# --- pure helpers ------------------------------------------------------------------------------------


def finished_condition(job: Obj) -> str | None:
    """"Complete" or "Failed" when the Job has finished (that condition is True), else None."""
    for c in (job.get("status") or {}).get("conditions") or []:
        if c.get("type") in ("Complete", "Failed") and c.get("status") == "True":
            return str(c["type"])
    return None


def job_name(cronjob: Obj, scheduled: dt.datetime) -> str:
    return f"{cronjob['metadata']['name']}-{int(scheduled.timestamp()) // 60}"


def location_of(cronjob: Obj) -> dt.tzinfo:
    return cron.load_location((cronjob.get("spec") or {}).get("timeZone") or "")


def schedule_of(cronjob: Obj) -> cron.Schedule:
    """The parsed schedule: spec.timeZone applies unless the schedule carries its own TZ prefix."""
    spec = cronjob.get("spec") or {}
    return cron.parse(spec.get("schedule") or "", location_of(cronjob) if spec.get("timeZone") else None)


def most_recent_schedule_time(cronjob: Obj, now: dt.datetime, sched: cron.Schedule, with_deadline: bool
                              ) -> tuple[dt.datetime, dt.datetime | None, int]:
    """(earliest time considered, the latest schedule time in (earliest, now] or None, how many were
    missed: NONE_MISSED/FEW_MISSED/MANY_MISSED). Raises CronError for a schedule that never fires."""
    meta, spec, status = cronjob["metadata"], cronjob.get("spec") or {}, cronjob.get("status") or {}
    earliest = parse_time(status.get("lastScheduleTime")) or parse_time(meta.get("creationTimestamp")) or now
    deadline = spec.get("startingDeadlineSeconds")
    if with_deadline and deadline is not None:
        limit = now - dt.timedelta(seconds=int(deadline))
        if limit > earliest:
            earliest = limit
    t1 = sched.next_after(earliest)
    t2 = sched.next_after(t1) if t1 is not None else None
    if t1 is None or now < t1:
        return earliest, None, NONE_MISSED
    if t2 is None or now < t2:
        return earliest, t1, NONE_MISSED
    between = round((t2 - t1).total_seconds())
    if between < 1:
        raise cron.CronError("time difference between two schedules is less than 1 second")
    missed = int((now - t1).total_seconds()) // between + 1
    recent: dt.datetime | None = None
    t = sched.next_after(t1 + dt.timedelta(seconds=(missed - 2) * between))
    for _ in range(1000):  # the schedule may be irregular; walk forward to the last one before now
        if t is None or t > now:
            break
        recent = t
        t = sched.next_after(t)
    return earliest, recent, MANY_MISSED if missed > TOO_MANY_MISSED else FEW_MISSED


def next_schedule_delay(cronjob: Obj, now: dt.datetime, sched: cron.Schedule) -> float | None:
    """Seconds until the reconcile after the next schedule time (nextScheduleTimeDuration)."""
    try:
        earliest, recent, missed = most_recent_schedule_time(cronjob, now, sched, False)
    except cron.CronError:
        recent, missed, earliest = now, FEW_MISSED, now
    base = recent if recent is not None else earliest if missed == NONE_MISSED else now
    nxt = sched.next_after(base)
    if nxt is None:
        return None
    return max((nxt - now).total_seconds() + NEXT_SCHEDULE_DELTA, NEXT_SCHEDULE_DELTA)


def job_from_template(cronjob: Obj, scheduled: dt.datetime) -> Obj:
    """getJobFromTemplate2: the template's labels and annotations, the scheduled-timestamp annotation (in
    the CronJob's zone), a ControllerRef, a copy of the Job spec."""
    template = (cronjob.get("spec") or {}).get("jobTemplate") or {}
    tmeta = template.get("metadata") or {}
    annotations = dict(tmeta.get("annotations") or {})
    local = scheduled.astimezone(location_of(cronjob))
    annotations[SCHEDULED_TIMESTAMP_ANNOTATION] = local.isoformat().replace("+00:00", "Z")
    meta: Obj = {"name": job_name(cronjob, scheduled), "annotations": annotations,
                 "ownerReferences": [owner_reference(cronjob)]}
    if tmeta.get("labels"):
        meta["labels"] = dict(tmeta["labels"])
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta,
            "spec": copy.deepcopy(template.get("spec") or {})}


def job_ref(job: Obj) -> Obj:
    meta = job["metadata"]
    return {"kind": "Job", "namespace": meta.get("namespace", ""), "name": meta["name"], "uid": meta["uid"],
            "apiVersion": "batch/v1", "resourceVersion": meta.get("resourceVersion", "")}


def _start_order(a: Obj, b: Obj) -> int:
    """byJobStartTime: jobs without a startTime last, ties by name."""
    ta = parse_time((a.get("status") or {}).get("startTime"))
    tb = parse_time((b.get("status") or {}).get("startTime"))
    if ta is None and tb is not None:
        return 1
    if ta is not None and tb is None:
        return -1
    if ta == tb:
        na, nb = a["metadata"]["name"], b["metadata"]["name"]
        return -1 if na < nb else 1 if na > nb else 0
    assert ta is not None and tb is not None
    return -1 if ta < tb else 1


def oldest_first(jobs: list[Obj]) -> list[Obj]:
    return sorted(jobs, key=functools.cmp_to_key(_start_order))


@dataclass
class Decision:
    """What a sync does about the schedule: ``action`` is "none", "create" (``scheduled``), or a reason
    not to create; ``events`` are (type, reason, message); ``requeue_after`` in seconds."""

    action: str = "none"
    scheduled: dt.datetime | None = None
    requeue_after: float | None = None
    events: list[tuple[str, str, str]] = field(default_factory=list)


def decide(cronjob: Obj, now: dt.datetime) -> Decision:
    """The scheduling half of upstream's syncCronJob, given the CronJob (status.active already
    reconciled) and the time."""
    spec, status = cronjob.get("spec") or {}, cronjob.get("status") or {}
    out = Decision()
    if cronjob["metadata"].get("deletionTimestamp"):
        return out
    tz = spec.get("timeZone")
    if tz is not None:
        try:
            cron.load_location(tz)
        except cron.CronError as e:
            out.action = "invalid"
            out.events.append(("Warning", "UnknownTimeZone", f'invalid timeZone: "{tz}": {e}'))
            return out
    if spec.get("suspend"):
        out.action = "suspended"
        return out
    schedule = spec.get("schedule") or ""
    if "TZ" in schedule:
        out.events.append(("Warning", "UnsupportedSchedule",
                           f'CRON_TZ or TZ used in schedule "{schedule}" is not officially supported, see '
                           "https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/ for more details"))
    try:
        sched = schedule_of(cronjob)
    except cron.CronError as e:
        out.action = "invalid"
        out.events.append(("Warning", "UnparseableSchedule", f'unparseable schedule: "{schedule}" : {e}'))
        return out
    try:
        _, scheduled, missed = most_recent_schedule_time(cronjob, now, sched, True)
    except cron.CronError as e:
        out.action = "invalid"
        out.events.append(("Warning", "InvalidSchedule", f"invalid schedule: {schedule} : {e}"))
        return out
    if scheduled is not None and missed == MANY_MISSED:
        out.events.append(("Warning", "TooManyMissedTimes", "too many missed start times. Set or decrease "
                           ".spec.startingDeadlineSeconds or check clock skew"))
    out.requeue_after = next_schedule_delay(cronjob, now, sched)
    if scheduled is None:
        return out
    out.scheduled = scheduled
    deadline = spec.get("startingDeadlineSeconds")
    if deadline is not None and scheduled + dt.timedelta(seconds=int(deadline)) < now:
        out.action = "missed"
        out.events.append(("Warning", "MissSchedule", "Missed scheduled time to start a job: "
                           + scheduled.astimezone(dt.UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")))
        return out
    name = job_name(cronjob, scheduled)
    active = status.get("active") or []
    if any(r.get("name") == name for r in active) or parse_time(status.get("lastScheduleTime")) == scheduled:
        out.action = "processed"
        return out
    policy = spec.get("concurrencyPolicy") or "Allow"
    if policy == "Forbid" and active:
        out.action = "forbidden"
        out.events.append(("Normal", "JobAlreadyActive",
                           "Not starting job because prior execution is running and concurrency policy is Forbid"))
        return out
    out.action = "replace" if policy == "Replace" and active else "create"
    return out


# --- the controller ------------------------------------------------------------------------------------


class CronJobController(Controller):
    name = "cronjob"
    component = "cronjob-controller"
    workers = 5

    def setup(self) -> None:
        self.now = utcnow
        self.cronjobs = self.informers.get("batch", "v1", "cronjobs")
        self.jobs = self.informers.get("batch", "v1", "jobs")
        self.cronjobs.add_handlers(on_add=self.enqueue, on_update=lambda old, new: self.enqueue(new),
                                   on_delete=self.enqueue)
        self.jobs.add_handlers(on_add=self._job_changed, on_update=lambda old, new: self._job_changed(new),
                               on_delete=self._job_changed)

    def _job_changed(self, job: Obj) -> None:
        ref = controller_ref(job)
        if ref is None or ref.get("kind") != "CronJob":
            return
        self.queue.add(f"{job['metadata'].get('namespace', '')}/{ref.get('name')}")

    def _owned_jobs(self, cronjob: Obj) -> list[Obj]:
        uid = cronjob["metadata"]["uid"]
        return [j for j in self.jobs.list(cronjob["metadata"].get("namespace", ""))
                if (ref := controller_ref(j)) is not None and ref.get("kind") == "CronJob" and ref.get("uid") == uid]

    def _event(self, cronjob: Obj, event_type: str, reason: str, message: str) -> None:
        emit(self.events, cronjob, event_type, reason, message)

    async def reconcile(self, key: str) -> Result | None:
        cached = self.cronjobs.get(key)
        if cached is None:
            return None
        cronjob = copy.deepcopy(cached)
        cronjob.setdefault("apiVersion", "batch/v1")
        cronjob.setdefault("kind", "CronJob")
        status = cronjob.setdefault("status", {})
        before = copy.deepcopy(status)
        jobs = self._owned_jobs(cronjob)
        try:
            await self._cleanup(cronjob, jobs)
            await self._sync_active(cronjob, jobs)
            decision = decide(cronjob, self.now())
            for event in decision.events:
                self._event(cronjob, *event)
            if decision.action in ("create", "replace"):
                assert decision.scheduled is not None
                if decision.action == "replace":
                    await self._replace(cronjob)
                await self._create(cronjob, decision.scheduled)
        finally:
            if cronjob["status"] != before:
                await self._update_status(cronjob)
        if decision.requeue_after is not None:
            return Result(requeue_after=decision.requeue_after)
        return None

    async def _sync_active(self, cronjob: Obj, jobs: list[Obj]) -> None:
        status = cronjob["status"]
        active_uids = {r.get("uid") for r in status.get("active") or []}
        for job in jobs:
            uid, done = job["metadata"]["uid"], finished_condition(job)
            if uid not in active_uids and done is None:
                fresh = await self.client.get(path_for("batch", "v1", "cronjobs", *split_key(key_of(cronjob))))
                if any(r.get("uid") == uid for r in (fresh.get("status") or {}).get("active") or []):
                    continue
                self._event(cronjob, "Warning", "UnexpectedJob",
                            f"Saw a job that the controller did not create or forgot: {job['metadata']['name']}")
            elif uid in active_uids and done is not None:
                self._drop_active(cronjob, uid)
                self._event(cronjob, "Normal", "SawCompletedJob",
                            f"Saw completed job: {job['metadata']['name']}, condition: {done}")
            if done == "Complete":
                completed = (job.get("status") or {}).get("completionTime")
                last = parse_time(status.get("lastSuccessfulTime"))
                when = parse_time(completed)
                if when is not None and (last is None or when > last):
                    status["lastSuccessfulTime"] = rfc3339(when)
        seen = {j["metadata"]["uid"] for j in jobs}
        for ref in list(status.get("active") or []):
            if ref.get("uid") in seen:
                continue
            try:
                await self.client.get(path_for("batch", "v1", "jobs", ref.get("namespace", ""), ref.get("name", "")))
            except ApiError as e:
                if not e.not_found:
                    raise
                self._event(cronjob, "Normal", "MissingJob", f"Active job went missing: {ref.get('name')}")
                self._drop_active(cronjob, ref.get("uid", ""))

    @staticmethod
    def _drop_active(cronjob: Obj, uid: str) -> None:
        status = cronjob["status"]
        status["active"] = [r for r in status.get("active") or [] if r.get("uid") != uid]
        if not status["active"]:
            status.pop("active")

    async def _cleanup(self, cronjob: Obj, jobs: list[Obj]) -> None:
        spec = cronjob.get("spec") or {}
        for kind, limit_field in (("Complete", "successfulJobsHistoryLimit"), ("Failed", "failedJobsHistoryLimit")):
            limit = spec.get(limit_field)
            if limit is None:
                continue
            done = [j for j in jobs if finished_condition(j) == kind]
            for job in oldest_first(done)[:max(len(done) - int(limit), 0)]:
                await self._delete_job(cronjob, job)

    async def _delete_job(self, cronjob: Obj, job: Obj) -> bool:
        meta = job["metadata"]
        try:
            await self.client.delete(path_for("batch", "v1", "jobs", meta.get("namespace", ""), meta["name"]),
                                     propagation="Background")
        except ApiError as e:
            if not e.not_found:
                self._event(cronjob, "Warning", "FailedDelete", f"Deleted job: {error_text(e)}")
                return False
        self._drop_active(cronjob, meta["uid"])
        self._event(cronjob, "Normal", "SuccessfulDelete", f"Deleted job {meta['name']}")
        return True

    async def _replace(self, cronjob: Obj) -> None:
        for ref in list(cronjob["status"].get("active") or []):
            try:
                job = await self.client.get(path_for("batch", "v1", "jobs", ref.get("namespace", ""),
                                                     ref.get("name", "")))
            except ApiError as e:
                self._event(cronjob, "Warning", "FailedGet", f"Get job: {error_text(e)}")
                raise
            if not await self._delete_job(cronjob, job):
                raise RuntimeError(f"could not replace job {ref.get('namespace')}/{ref.get('name')}")

    async def _create(self, cronjob: Obj, scheduled: dt.datetime) -> None:
        ns = cronjob["metadata"]["namespace"]
        body = job_from_template(cronjob, scheduled)
        try:
            job = await self.client.create(path_for("batch", "v1", "jobs", ns), body)
        except ApiError as e:
            if namespace_terminating(e):
                return
            if e.status != 409:
                self._event(cronjob, "Warning", "FailedCreate", f"Error creating job: {error_text(e)}")
                raise
            job = await self.client.get(path_for("batch", "v1", "jobs", ns, body["metadata"]["name"]))
            ref = controller_ref(job)
            if ref is None or ref.get("uid") != cronjob["metadata"]["uid"]:
                return
            if any(r.get("uid") == job["metadata"]["uid"] for r in cronjob["status"].get("active") or []):
                return
        else:
            self._event(cronjob, "Normal", "SuccessfulCreate", f"Created job {job['metadata']['name']}")
        status = cronjob["status"]
        status["active"] = [*(status.get("active") or []), job_ref(job)]
        status["lastScheduleTime"] = rfc3339(scheduled)

    async def _update_status(self, cronjob: Obj) -> None:
        ns, name = split_key(key_of(cronjob))
        await self.client.update(path_for("batch", "v1", "cronjobs", ns, name, "status"), cronjob)
