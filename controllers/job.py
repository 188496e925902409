"""The Job controller (upstream's pkg/controller/job), level-triggered.

Each reconcile reads the Job and its namespace's pods from the informer caches, claims pods, and:

* counts finished pods through the ``batch.kubernetes.io/job-tracking`` finalizer: a finished pod's UID
  goes to ``status.uncountedTerminatedPods`` (first status write), its finalizer is removed, then it moves
  to ``succeeded``/``failed`` (second write) - so a pod is counted exactly once even if it is deleted;
* decides whether the Job is done: ``FailureTarget`` (BackoffLimitExceeded, DeadlineExceeded) or
  ``SuccessCriteriaMet`` first, then - once no pod is terminating and nothing is uncounted - ``Failed``
  or ``Complete``, as upstream does since JobPodReplacementPolicy/JobManagedBy;
* otherwise creates or deletes pods toward ``parallelism``/``completions`` (Indexed Jobs get one pod per
  pending completion index), waiting out the pod failure back-off (10 s doubling, at most 6 min);
* suspends (deletes active pods, ``Suspended`` condition) and resumes (resets ``startTime``).

Pods whose Job is gone or finished lose the tracking finalizer (keys ``pod:<ns>/<name>`` on the same queue).
podFailurePolicy rules act (FailJob, Ignore, Count); successPolicy, backoffLimitPerIndex and FailIndex are
not implemented.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

from .client import ApiError, path_for
from .podutil import (
    claim,
    emit,
    error_text,
    is_pod_active,
    is_pod_ready,
    namespace_terminating,
    parse_time,
    pod_from_template,
    pods_to_delete,
    recheck_owner,
    rfc3339,
    selector_matcher,
    utcnow,
)
from .runtime import (
    Controller,
    Expectations,
    Obj,
    Result,
    controller_ref,
    key_of,
    resolve_controller_ref,
    split_key,
)

log = logging.getLogger("kplane.controllers.job")

TRACKING_FINALIZER = "batch.kubernetes.io/job-tracking"
COMPLETION_INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"
COMPLETION_INDEX_LABEL = "batch.kubernetes.io/job-completion-index"
COMPLETION_INDEX_ENV = "JOB_COMPLETION_INDEX"
#: pod failure back-off (DefaultJobPodFailureBackOff, MaxJobPodFailureBackOff)
DEFAULT_BACKOFF = 10.0
MAX_BACKOFF = 360.0
#: UIDs held in status.uncountedTerminatedPods at once; pods created or deleted by one sync
MAX_UNCOUNTED_PODS = 500
MAX_POD_CREATE_DELETE_PER_SYNC = 500
ORPHAN_PREFIX = "pod:"


# --- what a Job and its pods mean ------------------------------------------------------------------


def condition(job: Obj, ctype: str) -> Obj | None:
    for c in (job.get("status") or {}).get("conditions") or []:
        if c.get("type") == ctype:
            return dict(c)
    return None


def condition_true(job: Obj, ctype: str) -> bool:
    c = condition(job, ctype)
    return c is not None and c.get("status") == "True"


def is_finished(job: Obj) -> bool:
    return condition_true(job, "Complete") or condition_true(job, "Failed")


def has_finalizer(pod: Obj) -> bool:
    return TRACKING_FINALIZER in (pod["metadata"].get("finalizers") or [])


def is_indexed(job: Obj) -> bool:
    return (job.get("spec") or {}).get("completionMode") == "Indexed"


def is_suspended(job: Obj) -> bool:
    return bool((job.get("spec") or {}).get("suspend"))


def only_replace_failed(job: Obj) -> bool:
    spec = job.get("spec") or {}
    return spec.get("podReplacementPolicy") == "Failed" or spec.get("podFailurePolicy") is not None


def is_pod_failed(pod: Obj, job: Obj) -> bool:
    """Failed phase - or, unless only failed pods are replaced, deleted before it succeeded (an orphaned
    pod may never reach a terminal phase)."""
    phase = (pod.get("status") or {}).get("phase")
    if phase == "Failed":
        return True
    if only_replace_failed(job):
        return False
    return bool(pod["metadata"].get("deletionTimestamp")) and phase != "Succeeded"


def is_terminating(pod: Obj) -> bool:
    return bool(pod["metadata"].get("deletionTimestamp")) and \
        (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")


def completion_index(pod: Obj) -> int:
    """The pod's completion index (annotation, else label); -1 when absent or not a number."""
    meta = pod["metadata"]
    value = (meta.get("annotations") or {}).get(COMPLETION_INDEX_ANNOTATION)
    if value is None:
        value = (meta.get("labels") or {}).get(COMPLETION_INDEX_LABEL)
    try:
        ix = int(str(value))
    except ValueError:
        return -1
    return ix if ix >= 0 and str(ix) == str(value) else -1


def parse_indexes(text: str | None, completions: int) -> set[int]:
    """``"1,3-5"`` as a set of indexes below ``completions`` (bad parts are skipped)."""
    out: set[int] = set()
    for part in (text or "").split(","):
        lo, _, hi = part.partition("-")
        try:
            first, last = int(lo), int(hi or lo)
        except ValueError:
            continue
        out.update(range(max(first, 0), min(last, completions - 1) + 1))
    return out


def format_indexes(indexes: set[int]) -> str:
    """Sorted indexes as comma-separated intervals, ``"0-2,4,6,7"`` (completedIndexes): an interval of
    two is written as two numbers, as upstream."""
    runs: list[list[int]] = []
    for ix in sorted(indexes):
        if runs and ix == runs[-1][1] + 1:
            runs[-1][1] = ix
        else:
            runs.append([ix, ix])
    return ",".join(str(a) if a == b else f"{a},{b}" if b == a + 1 else f"{a}-{b}" for a, b in runs)


def finish_time(pod: Obj) -> dt.datetime:
    """When a pod finished: its last container termination, else its deletion, else now."""
    status = pod.get("status") or {}
    times = [t for cs in (status.get("containerStatuses") or []) + (status.get("initContainerStatuses") or [])
             if (t := parse_time(((cs.get("state") or {}).get("terminated") or {}).get("finishedAt")))]
    if times:
        return max(times)
    return parse_time(pod["metadata"].get("deletionTimestamp")) or utcnow()


def new_condition(ctype: str, reason: str, message: str, status: str = "True") -> Obj:
    now = rfc3339(utcnow())
    cond: Obj = {"type": ctype, "status": status, "lastProbeTime": now, "lastTransitionTime": now}
    if reason:
        cond["reason"] = reason
    if message:
        cond["message"] = message
    return cond


def ensure_condition(conditions: list[Obj], ctype: str, status: str, reason: str, message: str) -> bool:
    """Set (or add, unless ``status`` is False) a condition; True if the list changed."""
    for i, c in enumerate(conditions):
        if c.get("type") == ctype:
            if c.get("status") != status or c.get("reason", "") != reason or c.get("message", "") != message:
                conditions[i] = new_condition(ctype, reason, message, status)
                return True
            return False
    if status != "False":
        conditions.append(new_condition(ctype, reason, message, status))
        return True
    return False


def past_backoff_limit_on_failure(job: Obj, pods: list[Obj]) -> bool:
    """restartPolicy OnFailure: container restarts of running/pending pods count against backoffLimit."""
    spec = job.get("spec") or {}
    if ((spec.get("template") or {}).get("spec") or {}).get("restartPolicy") != "OnFailure":
        return False
    restarts = 0
    for p in pods:
        status = p.get("status") or {}
        if status.get("phase") in ("Running", "Pending"):
            for cs in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
                restarts += int(cs.get("restartCount") or 0)
    limit = int(spec.get("backoffLimit") or 0)
    return restarts > 0 if limit == 0 else restarts >= limit


def match_pod_failure_policy(job: Obj, pod: Obj) -> tuple[str | None, bool]:
    """The first podFailurePolicy rule a failed pod matches: (FailJob message or None, whether the failure
    counts toward backoffLimit - an Ignore rule says no). Exit codes of 0 never match; FailIndex needs
    backoffLimitPerIndex, which is not implemented, and counts as Count."""
    policy = (job.get("spec") or {}).get("podFailurePolicy")
    if not isinstance(policy, dict):
        return None, True
    status = pod.get("status") or {}
    meta = pod["metadata"]
    for index, rule in enumerate(policy.get("rules") or []):
        action = rule.get("action", "")
        if rule.get("onExitCodes") is not None:
            req = rule["onExitCodes"]
            hit = next((cs for cs in (status.get("containerStatuses") or []) + (status.get("initContainerStatuses") or [])
                        if _exit_code_matches(cs, req)), None)
            if hit is None:
                continue
            if action == "FailJob":
                code = hit["state"]["terminated"]["exitCode"]
                return (f"Container {hit.get('name')} for pod {meta.get('namespace')}/{meta['name']} failed with "
                        f"exit code {code} matching FailJob rule at index {index}"), True
        elif rule.get("onPodConditions") is not None:
            patterns = {(p.get("type"), p.get("status", "True")) for p in rule["onPodConditions"] or []}
            cond = next((c for c in status.get("conditions") or [] if (c.get("type"), c.get("status")) in patterns),
                        None)
            if cond is None:
                continue
            if action == "FailJob":
                return (f"Pod {meta.get('namespace')}/{meta['name']} has condition {cond.get('type')} matching "
                        f"FailJob rule at index {index}"), True
        else:
            continue
        return None, action != "Ignore"
    return None, True


def _exit_code_matches(cs: Obj, req: Obj) -> bool:
    terminated = (cs.get("state") or {}).get("terminated")
    if not terminated or (req.get("containerName") and req["containerName"] != cs.get("name")):
        return False
    code = int(terminated.get("exitCode") or 0)
    if code == 0:
        return False
    values = [int(v) for v in req.get("values") or []]
    if req.get("operator") == "In":
        return code in values
    if req.get("operator") == "NotIn":
        return code not in values
    return False


@dataclass
class BackoffRecord:
    """Failures since the last success and when the latest one happened (upstream's backoffRecord)."""

    failures: int = 0
    last_failure: dt.datetime | None = None

    def next(self, succeeded: list[Obj], failed: list[Obj]) -> BackoffRecord:
        if not succeeded and not failed:
            return self
        if succeeded:
            last_success = max(finish_time(p) for p in succeeded)
            late = [finish_time(p) for p in failed if finish_time(p) > last_success]
            return BackoffRecord(len(late), max(late) if late else None)
        latest = max(finish_time(p) for p in failed)
        last = latest if self.last_failure is None else max(latest, self.last_failure)
        return BackoffRecord(self.failures + len(failed), last)

    def remaining(self, now: dt.datetime) -> float:
        if self.failures == 0 or self.last_failure is None:
            return 0.0
        backoff = min(DEFAULT_BACKOFF * 2.0 ** (self.failures - 1), MAX_BACKOFF)
        return max(0.0, backoff - (now - self.last_failure).total_seconds())


@dataclass
class SyncContext:
    job: Obj
    key: str
    pods: list[Obj]
    active: list[Obj]
    ready: int
    terminating: int
    expected_rm: set[str]
    uncounted_succeeded: set[str]
    uncounted_failed: set[str]
    succeeded: int = 0
    failed: int = 0
    finished: Obj | None = None
    backoff: BackoffRecord | None = None
    prev_succeeded_indexes: frozenset[int] = frozenset()
    succeeded_indexes: frozenset[int] = frozenset()
    requeue_after: float | None = None
    manage_error: BaseException | None = None


class JobController(Controller):
    name = "job"
    component = "job-controller"
    workers = 5

    def setup(self) -> None:
        self.expectations = Expectations()
        #: pod UIDs whose finalizer removal this controller issued but its cache has not shown yet
        self.expected_rm: dict[str, set[str]] = {}
        self.backoffs: dict[str, BackoffRecord] = {}
        self.jobs = self.informers.get("batch", "v1", "jobs")
        self.pods = self.informers.get("", "v1", "pods")
        self.jobs.add_handlers(on_add=self.enqueue, on_update=lambda old, new: self.enqueue(new),
                               on_delete=self._job_deleted)
        self.pods.add_handlers(on_add=self._pod_added, on_update=self._pod_updated, on_delete=self._pod_deleted)

    # --- event handlers ----------------------------------------------------------------------------

    def _resolve(self, pod: Obj) -> Obj | None:
        ref = controller_ref(pod)
        if ref is None or ref.get("apiVersion") != "batch/v1":
            return None
        return resolve_controller_ref(pod["metadata"].get("namespace", ""), ref, "Job", self.jobs)

    def _matching_jobs(self, pod: Obj) -> list[Obj]:
        labels = pod["metadata"].get("labels")
        if not labels or controller_ref(pod) is not None:
            return []
        return [j for j in self.jobs.list(pod["metadata"].get("namespace", ""))
                if selector_matcher((j.get("spec") or {}).get("selector"))(labels)]

    def _enqueue_orphan_if_needed(self, pod: Obj, job: Obj | None) -> None:
        if has_finalizer(pod) and (job is None or is_finished(job)):
            self.queue.add(ORPHAN_PREFIX + key_of(pod))

    def _observe_finalizer(self, pod: Obj, job: Obj | None) -> None:
        if job is not None and not has_finalizer(pod):
            self.expected_rm.get(key_of(job), set()).discard(pod["metadata"].get("uid", ""))

    def _pod_added(self, pod: Obj) -> None:
        job = self._resolve(pod)
        if job is not None:
            self.expectations.creation_observed(key_of(job))
            if pod["metadata"].get("deletionTimestamp"):
                self.expectations.deletion_observed(key_of(job), key_of(pod))
            self.enqueue(job)
        else:
            for j in self._matching_jobs(pod):
                self.enqueue(j)
        self._enqueue_orphan_if_needed(pod, job)

    def _pod_updated(self, old: Obj, cur: Obj) -> None:
        if old["metadata"].get("resourceVersion") == cur["metadata"].get("resourceVersion"):
            return
        job = self._resolve(cur)
        previous = self._resolve(old)
        if previous is not None and (job is None or previous["metadata"]["uid"] != job["metadata"]["uid"]):
            self.enqueue(previous)
        if job is not None:
            self._observe_finalizer(cur, job)
            if cur["metadata"].get("deletionTimestamp"):
                self.expectations.deletion_observed(key_of(job), key_of(cur))
            self.enqueue(job)
        else:
            for j in self._matching_jobs(cur):
                self.enqueue(j)
        self._enqueue_orphan_if_needed(cur, job)

    def _pod_deleted(self, pod: Obj) -> None:
        job = self._resolve(pod)
        if job is None:
            return
        key = key_of(job)
        self.expectations.deletion_observed(key, key_of(pod))
        self.expected_rm.get(key, set()).discard(pod["metadata"].get("uid", ""))
        self.enqueue(job)

    def _job_deleted(self, job: Obj) -> None:
        key = key_of(job)
        self.expectations.forget(key)
        self.expected_rm.pop(key, None)
        self.backoffs.pop(key, None)
        uid = job["metadata"].get("uid")
        for pod in self.pods.by_index("owner", uid):
            if (controller_ref(pod) or {}).get("uid") == uid and has_finalizer(pod):
                self.queue.add(ORPHAN_PREFIX + key_of(pod))

    # --- reconcile -----------------------------------------------------------------------------------

    async def reconcile(self, key: str) -> Result | None:
        if key.startswith(ORPHAN_PREFIX):
            await self._sync_orphan(key.removeprefix(ORPHAN_PREFIX))
            return None
        cached = self.jobs.get(key)
        if cached is None:
            self.expectations.forget(key)
            self.expected_rm.pop(key, None)
            self.backoffs.pop(key, None)
            return None
        job = copy.deepcopy(cached)
        job.setdefault("apiVersion", "batch/v1")
        job.setdefault("kind", "Job")
        if is_finished(job):
            self.backoffs.pop(key, None)
            for pod in self.pods.by_index("owner", job["metadata"]["uid"]):
                self._enqueue_orphan_if_needed(pod, job)
            return None
        mode = (job.get("spec") or {}).get("completionMode") or "NonIndexed"
        if mode not in ("NonIndexed", "Indexed"):
            emit(self.events, job, "Warning", "UnknownCompletionMode",
                 "Skipped Job sync because completion mode is unknown")
            return None
        spec = job.setdefault("spec", {})
        status = job.setdefault("status", {})
        uncounted = status.setdefault("uncountedTerminatedPods", {})
        satisfied = self.expectations.satisfied(key)
        pods = await self._pods_for_job(job)
        active = [p for p in pods if is_pod_active(p)]
        ctx = SyncContext(job=job, key=key, pods=pods, active=active, ready=sum(1 for p in active if is_pod_ready(p)),
                          terminating=sum(1 for p in pods if is_terminating(p)),
                          expected_rm=set(self.expected_rm.get(key, set())),
                          uncounted_succeeded=set(uncounted.get("succeeded") or []),
                          uncounted_failed=set(uncounted.get("failed") or []))
        n_active = len(active)
        new_succeeded = self._new_finished(ctx, ctx.uncounted_succeeded,
                                           lambda p: (p.get("status") or {}).get("phase") == "Succeeded")
        new_failed = self._new_finished(ctx, ctx.uncounted_failed, lambda p: is_pod_failed(p, job))
        ctx.succeeded = int(status.get("succeeded") or 0) + len(new_succeeded) + len(ctx.uncounted_succeeded)
        counted_failures = sum(1 for p in new_failed if match_pod_failure_policy(job, p)[1])
        ctx.failed = int(status.get("failed") or 0) + counted_failures + len(ctx.uncounted_failed)
        if not status.get("startTime") and not is_suspended(job):
            status["startTime"] = rfc3339(utcnow())
        ctx.backoff = self.backoffs.get(key, BackoffRecord()).next(new_succeeded, new_failed)

        backoff_limit = int(spec.get("backoffLimit") if spec.get("backoffLimit") is not None else 6)
        ctx.finished = condition(job, "SuccessCriteriaMet") if condition_true(job, "SuccessCriteriaMet") else None
        if ctx.finished is None and condition_true(job, "FailureTarget"):
            target = condition(job, "FailureTarget") or {}
            ctx.finished = new_condition("Failed", target.get("reason", ""), target.get("message", ""))
        elif ctx.finished is None and spec.get("podFailurePolicy") is not None:
            for p in pods:
                message = match_pod_failure_policy(job, p)[0] if is_pod_failed(p, job) else None
                if message is not None:
                    ctx.finished = new_condition("FailureTarget", "PodFailurePolicy", message)
                    break
        if ctx.finished is None:
            deadline = spec.get("activeDeadlineSeconds")
            if ctx.failed > backoff_limit or past_backoff_limit_on_failure(job, pods):
                ctx.finished = new_condition("FailureTarget", "BackoffLimitExceeded",
                                             "Job has reached the specified backoff limit")
            elif deadline is not None and not is_suspended(job):
                started = parse_time(status.get("startTime")) or utcnow()
                left = float(deadline) - (utcnow() - started).total_seconds()
                if left <= 0:
                    ctx.finished = new_condition("FailureTarget", "DeadlineExceeded",
                                                 "Job was active longer than specified deadline")
                else:
                    ctx.requeue_after = left
        if is_indexed(job):
            completions = int(spec.get("completions") or 0)
            prev = parse_indexes(status.get("completedIndexes"), completions)
            now_done = {ix for p in pods if (p.get("status") or {}).get("phase") == "Succeeded"
                        and 0 <= (ix := completion_index(p)) < completions}
            ctx.prev_succeeded_indexes = frozenset(prev)
            ctx.succeeded_indexes = frozenset(prev | now_done)
            ctx.succeeded = len(ctx.succeeded_indexes)

        manage_error: BaseException | None = None
        suspend_changed = False
        if ctx.finished is not None:
            deleted_ready, deleted, manage_error = await self._delete_active(job, ctx.active)
            if deleted != n_active or not satisfied:
                ctx.finished = None  # pods or finalizers may still be on their way
            n_active -= deleted
            ctx.terminating += deleted
            ctx.ready -= deleted_ready
        else:
            managed = False
            if satisfied and not job["metadata"].get("deletionTimestamp"):
                n_active, manage_error = await self._manage(ctx)
                managed = True
            completions = spec.get("completions")
            if completions is None:
                complete = ctx.succeeded > 0 and n_active == 0
            else:
                complete = ctx.succeeded >= int(completions) and n_active == 0
            if complete:
                ctx.finished = new_condition("SuccessCriteriaMet", "CompletionsReached",
                                             "Reached expected number of succeeded pods")
            elif managed:
                conditions = status.setdefault("conditions", [])
                if is_suspended(job):
                    if ensure_condition(conditions, "Suspended", "True", "JobSuspended", "Job suspended"):
                        suspend_changed = True
                        emit(self.events, job, "Normal", "Suspended", "Job suspended")
                elif ensure_condition(conditions, "Suspended", "False", "JobResumed", "Job resumed"):
                    suspend_changed = True
                    emit(self.events, job, "Normal", "Resumed", "Job resumed")
                    status["startTime"] = rfc3339(utcnow())  # activeDeadlineSeconds counts from resumption
                if not conditions:
                    status.pop("conditions")

        needs_update = (suspend_changed or n_active != int(status.get("active") or 0)
                        or status.get("ready") != ctx.ready or status.get("terminating") != ctx.terminating)
        status["active"] = n_active
        status["ready"] = ctx.ready
        status["terminating"] = ctx.terminating
        await self._track(ctx, needs_update)
        if manage_error is not None:
            raise manage_error
        return Result(requeue_after=ctx.requeue_after) if ctx.requeue_after else None

    def _new_finished(self, ctx: SyncContext, uncounted: set[str], pred: Callable[[Obj], bool]) -> list[Obj]:
        """Finished pods not yet in the status: they carry the finalizer and are not uncounted already."""
        completions = int((ctx.job.get("spec") or {}).get("completions") or 0)
        out: list[Obj] = []
        for p in ctx.pods:
            uid = p["metadata"].get("uid", "")
            if not has_finalizer(p) or uid in uncounted or uid in ctx.expected_rm:
                continue
            if is_indexed(ctx.job) and not 0 <= completion_index(p) < completions:
                continue
            if pred(p):
                out.append(p)
        return out

    async def _pods_for_job(self, job: Obj) -> list[Obj]:
        """Every pod this Job controls, after adopting matching orphans and releasing non-matching ones.
        Adopted pods count as carrying the tracking finalizer, as upstream."""
        uid = job["metadata"]["uid"]
        ns = job["metadata"]["namespace"]
        before = {p["metadata"].get("uid") for p in self.pods.list(ns) if (controller_ref(p) or {}).get("uid") == uid}
        matches = selector_matcher((job.get("spec") or {}).get("selector"))
        pods = await claim(self.client, job, self.pods.list(ns), matches, "pods",
                           recheck_owner(self.client, job, "jobs"))
        out: list[Obj] = []
        for p in pods:
            if p["metadata"].get("uid") not in before and not has_finalizer(p):
                p = copy.deepcopy(p)
                p["metadata"]["finalizers"] = [*(p["metadata"].get("finalizers") or []), TRACKING_FINALIZER]
            out.append(p)
        return out

    # --- pods ------------------------------------------------------------------------------------------

    async def _manage(self, ctx: SyncContext) -> tuple[int, BaseException | None]:
        """Create or delete pods toward the wanted number of active ones; the new active count."""
        job, key = ctx.job, ctx.key
        spec = job["spec"]
        active = len(ctx.active)
        parallelism = int(spec.get("parallelism") if spec.get("parallelism") is not None else 1)
        if is_suspended(job):
            victims = ctx.active[:MAX_POD_CREATE_DELETE_PER_SYNC]
            return active - await self._delete_job_pods(ctx, victims), ctx.manage_error
        completions = spec.get("completions")
        if completions is None:
            want = active if ctx.succeeded > 0 else parallelism
        else:
            want = max(0, min(int(completions) - ctx.succeeded, parallelism))
        victims = self._pods_for_removal(job, ctx.active, max(0, active - want))[:MAX_POD_CREATE_DELETE_PER_SYNC]
        if victims:
            return active - await self._delete_job_pods(ctx, victims), ctx.manage_error
        terminating = ctx.terminating if only_replace_failed(job) else 0
        diff = want - terminating - active
        if diff <= 0:
            return active, None
        wait = (ctx.backoff or BackoffRecord()).remaining(utcnow())
        if wait > 0:
            ctx.requeue_after = wait if ctx.requeue_after is None else min(wait, ctx.requeue_after)
            return active, None
        diff = min(diff, MAX_POD_CREATE_DELETE_PER_SYNC)
        indexes: list[int | None] = [None] * diff
        if is_indexed(job):
            indexes = list(self._pending_indexes(ctx, diff, int(completions or 0)))
            diff = len(indexes)
        if diff == 0:
            return active, None
        template = copy.deepcopy(spec.get("template") or {})
        if is_indexed(job):
            add_completion_index_env(template)
        tmeta = template.setdefault("metadata", {})
        if TRACKING_FINALIZER not in (tmeta.get("finalizers") or []):
            tmeta["finalizers"] = [*(tmeta.get("finalizers") or []), TRACKING_FINALIZER]
        self.expectations.expect(key, adds=diff)
        created, error = 0, None
        batch, pos = 1, 0
        while pos < diff:
            chunk = indexes[pos:pos + batch]
            results = await asyncio.gather(*(self._create_pod(job, template, ix) for ix in chunk),
                                           return_exceptions=True)
            errors = [r for r in results if isinstance(r, BaseException)]
            created += len(chunk) - len(errors)
            pos += len(chunk)
            if errors:
                error = errors[0]
                break
            batch = min(2 * batch, diff - pos)
        for _ in range(diff - created):
            self.expectations.creation_failed(key)
        return active + created, error

    @staticmethod
    def _pending_indexes(ctx: SyncContext, count: int, completions: int) -> list[int]:
        taken = {completion_index(p) for p in ctx.active} | set(ctx.succeeded_indexes)
        out: list[int] = []
        for ix in range(completions):
            if len(out) >= count:
                break
            if ix not in taken:
                out.append(ix)
        return out

    @staticmethod
    def _pods_for_removal(job: Obj, pods: list[Obj], at_least: int) -> list[Obj]:
        """Indexed Jobs first lose pods with a bad, out-of-range or duplicated index; then the pods in the
        earliest stages go (unscheduled, pending, not ready)."""
        rm: list[Obj] = []
        left = list(pods)
        if is_indexed(job):
            completions = int((job.get("spec") or {}).get("completions") or 0)
            seen: set[int] = set()
            left = []
            ranked = pods_to_delete(pods, pods, len(pods))
            for p in reversed(ranked):  # the pods most worth keeping come first
                ix = completion_index(p)
                if not 0 <= ix < completions or ix in seen:
                    rm.append(p)
                else:
                    seen.add(ix)
                    left.append(p)
        if len(rm) < at_least:
            rm += pods_to_delete(left, left, at_least - len(rm))
        return rm

    async def _create_pod(self, job: Obj, template: Obj, index: int | None) -> None:
        name = job["metadata"]["name"]
        if index is not None:
            template = copy.deepcopy(template)
            tmeta = template.setdefault("metadata", {})
            tmeta.setdefault("annotations", {})[COMPLETION_INDEX_ANNOTATION] = str(index)
            tmeta.setdefault("labels", {})[COMPLETION_INDEX_LABEL] = str(index)
            template.setdefault("spec", {})["hostname"] = f"{name}-{index}"
        pod = pod_from_template(template, job)
        if index is not None:
            suffix = f"-{index}-"
            prefix = name + suffix
            pod["metadata"]["generateName"] = prefix if len(prefix) <= 58 else name[:58 - len(suffix)] + suffix
        ns = job["metadata"]["namespace"]
        try:
            created = await self.client.create(path_for("", "v1", "pods", ns), pod)
        except ApiError as e:
            if namespace_terminating(e):
                return
            emit(self.events, job, "Warning", "FailedCreate", f"Error creating: {error_text(e)}")
            raise
        emit(self.events, job, "Normal", "SuccessfulCreate", f"Created pod: {created['metadata']['name']}")

    async def _delete_pod(self, job: Obj, pod: Obj) -> None:
        name = pod["metadata"]["name"]
        try:
            await self.client.delete(path_for("", "v1", "pods", job["metadata"]["namespace"], name))
        except ApiError as e:
            if e.not_found:
                return
            emit(self.events, job, "Warning", "FailedDelete", f"Error deleting: {error_text(e)}")
            raise
        emit(self.events, job, "Normal", "SuccessfulDelete", f"Deleted pod: {name}")

    async def _delete_active(self, job: Obj, pods: list[Obj]) -> tuple[int, int, BaseException | None]:
        """DELETE the active pods of a finished Job, keeping finalizers: (ready deleted, deleted, error)."""
        results = await asyncio.gather(*(self._delete_pod(job, p) for p in pods), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        ready = sum(1 for p, r in zip(pods, results, strict=True) if r is None and is_pod_ready(p))
        return ready, len(pods) - len(errors), errors[0] if errors else None

    async def _delete_job_pods(self, ctx: SyncContext, pods: list[Obj]) -> int:
        """Remove the finalizer, then DELETE (excess or suspended pods); returns how many went."""
        key = ctx.key
        self.expectations.expect(key, deletes=[key_of(p) for p in pods])

        async def one(pod: Obj) -> None:
            try:
                if has_finalizer(pod):
                    await self._remove_finalizer(pod)
                await self._delete_pod(ctx.job, pod)
            except BaseException:
                self.expectations.deletion_observed(key, key_of(pod))
                raise

        results = await asyncio.gather(*(one(p) for p in pods), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        ctx.terminating += len(pods) - len(errors)
        ctx.ready -= sum(1 for p, r in zip(pods, results, strict=True) if r is None and is_pod_ready(p))
        if errors:
            ctx.manage_error = errors[0]
        return len(pods) - len(errors)

    async def _remove_finalizer(self, pod: Obj) -> Obj | None:
        meta = pod["metadata"]
        patch = {"metadata": {"$deleteFromPrimitiveList/finalizers": [TRACKING_FINALIZER]}}
        try:
            return await self.client.patch(path_for("", "v1", "pods", meta.get("namespace", ""), meta["name"]),
                                           patch, patch_type="strategic")
        except ApiError as e:
            if e.not_found:
                return None
            raise

    async def _sync_orphan(self, pod_key: str) -> None:
        pod = self.pods.get(pod_key)
        if pod is None or not has_finalizer(pod):
            return
        ref = controller_ref(pod)
        if ref is not None:
            if ref.get("kind") != "Job" or ref.get("apiVersion") != "batch/v1":
                return
            job = self._resolve(pod)
            if job is not None and not is_finished(job):
                return
        await self._remove_finalizer(pod)

    # --- status ----------------------------------------------------------------------------------------

    async def _track(self, ctx: SyncContext, needs_flush: bool) -> None:
        """upstream's trackJobStatusAndRemoveFinalizers: record finished pods as uncounted, remove their
        finalizers, count them, and set the terminal condition when nothing is left in flight."""
        job, status = ctx.job, ctx.job["status"]
        indexed = is_indexed(job)
        completions = int((job.get("spec") or {}).get("completions") or 0)
        pods = sorted(ctx.pods, key=completion_index) if indexed else ctx.pods
        with_finalizer = {p["metadata"]["uid"] for p in pods
                          if has_finalizer(p) and p["metadata"]["uid"] not in ctx.expected_rm}
        if self._count_uncounted(status, with_finalizer):
            needs_flush = True
        uncounted = status["uncountedTerminatedPods"]
        to_remove: list[Obj] = []
        new_indexes: set[int] = set()
        reached_max = False
        finished = ctx.finished
        for pod in pods:
            uid = pod["metadata"]["uid"]
            if not has_finalizer(pod) or uid in ctx.expected_rm:
                continue
            failed = is_pod_failed(pod, job)
            succeeded = (pod.get("status") or {}).get("phase") == "Succeeded"
            if not (job["metadata"].get("deletionTimestamp") or finished is not None or succeeded or failed):
                continue
            to_remove.append(pod)
            if succeeded and uid not in ctx.uncounted_failed:
                if indexed:
                    ix = completion_index(pod)
                    if 0 <= ix < completions and ix not in ctx.prev_succeeded_indexes:
                        new_indexes.add(ix)
                        needs_flush = True
                elif uid not in ctx.uncounted_succeeded:
                    needs_flush = True
                    uncounted.setdefault("succeeded", []).append(uid)
                    ctx.uncounted_succeeded.add(uid)
            elif failed or (finished is not None and finished["type"] != "SuccessCriteriaMet"):
                ix = completion_index(pod)
                if uid not in ctx.uncounted_failed and (not indexed or 0 <= ix < completions) \
                        and match_pod_failure_policy(job, pod)[1]:
                    needs_flush = True
                    uncounted.setdefault("failed", []).append(uid)
                    ctx.uncounted_failed.add(uid)
            if len(new_indexes) + len(uncounted.get("succeeded") or []) + \
                    len(uncounted.get("failed") or []) >= MAX_UNCOUNTED_PODS:
                reached_max = True
                break
        if indexed:
            done = set(ctx.prev_succeeded_indexes) | new_indexes
            text = format_indexes(done)
            if text != (status.get("completedIndexes") or ""):
                needs_flush = True
            status["succeeded"] = len(done)
            status["completedIndexes"] = text
        if finished is not None and finished["type"] == "FailureTarget":
            status.setdefault("conditions", []).append(finished)
            needs_flush = True
            finished = new_condition("Failed", finished.get("reason", ""), finished.get("message", ""))
        if finished is not None and finished["type"] == "SuccessCriteriaMet":
            if not condition_true(job, "SuccessCriteriaMet"):
                status.setdefault("conditions", []).append(finished)
                needs_flush = True
            finished = new_condition("Complete", finished.get("reason", ""), finished.get("message", ""))

        if needs_flush:
            job = await self._update_status(job)
            status = job["status"]
            ctx.job = job
            self.backoffs[ctx.key] = ctx.backoff or BackoffRecord()
            needs_flush = False
        rm_error: BaseException | None = None
        if to_remove:
            expected = self.expected_rm.setdefault(ctx.key, set())
            expected.update(p["metadata"]["uid"] for p in to_remove)
            results = await asyncio.gather(*(self._remove_finalizer(p) for p in to_remove), return_exceptions=True)
            for pod, r in zip(to_remove, results, strict=True):
                if isinstance(r, BaseException):
                    expected.discard(pod["metadata"]["uid"])
                    rm_error = rm_error or r
                else:
                    with_finalizer.discard(pod["metadata"]["uid"])
        status.setdefault("uncountedTerminatedPods", {})
        if self._count_uncounted(status, with_finalizer):
            needs_flush = True
        if rm_error is not None:
            if needs_flush:
                await self._update_status(job)
            raise rm_error
        job_finished = False
        if finished is not None and not reached_max:
            unc = status["uncountedTerminatedPods"]
            if not unc.get("succeeded") and not unc.get("failed") and ctx.terminating == 0:
                conditions = status.setdefault("conditions", [])
                ensure_condition(conditions, finished["type"], "True", finished.get("reason", ""),
                                 finished.get("message", ""))
                if finished["type"] == "Complete":
                    status["completionTime"] = (condition({"status": status}, "Complete") or {}).get(
                        "lastTransitionTime")
                job_finished = needs_flush = True
        if needs_flush:
            job = await self._update_status(job)
            if job_finished:
                self._record_finished(job, finished or {})

    @staticmethod
    def _count_uncounted(status: Obj, with_finalizer: set[str]) -> bool:
        """Move UIDs whose pods no longer carry the finalizer from uncounted into the counters."""
        uncounted = status.setdefault("uncountedTerminatedPods", {})
        changed = False
        for field, counter in (("succeeded", "succeeded"), ("failed", "failed")):
            uids = uncounted.get(field) or []
            keep = [u for u in uids if u in with_finalizer]
            if len(keep) != len(uids):
                changed = True
                status[counter] = int(status.get(counter) or 0) + len(uids) - len(keep)
                if keep:
                    uncounted[field] = keep
                else:
                    uncounted.pop(field, None)
        return changed

    def _record_finished(self, job: Obj, finished: Obj) -> None:
        if finished.get("type") == "Complete":
            completions = (job.get("spec") or {}).get("completions")
            if completions is not None and int((job.get("status") or {}).get("succeeded") or 0) > int(completions):
                emit(self.events, job, "Warning", "TooManySucceededPods",
                     "Too many succeeded pods running after completion count reached")
            emit(self.events, job, "Normal", "Completed", "Job completed")
        else:
            emit(self.events, job, "Warning", finished.get("reason", ""), finished.get("message", ""))

    async def _update_status(self, job: Obj) -> Obj:
        """PUT /status with the Go type's omitempty rules; a conflict goes back to the queue."""
        status = job["status"]
        for f in ("active", "succeeded", "failed"):
            if not status.get(f):
                status.pop(f, None)
        for f in ("completedIndexes", "conditions"):
            if not status.get(f):
                status.pop(f, None)
        ns, name = split_key(key_of(job))
        updated = await self.client.update(path_for("batch", "v1", "jobs", ns, name, "status"), job)
        updated.setdefault("apiVersion", "batch/v1")
        updated.setdefault("kind", "Job")
        st = updated.setdefault("status", {})
        st.setdefault("uncountedTerminatedPods", {})
        return updated


def add_completion_index_env(template: Obj) -> None:
    """JOB_COMPLETION_INDEX from the completion-index annotation (downward API), in every container."""
    env_var: Obj = {"name": COMPLETION_INDEX_ENV, "valueFrom": {"fieldRef": {
        "fieldPath": f"metadata.annotations['{COMPLETION_INDEX_ANNOTATION}']"}}}
    spec = template.setdefault("spec", {})
    for field in ("initContainers", "containers"):
        for c in spec.get(field) or []:
            env = c.setdefault("env", [])
            if not any(e.get("name") == COMPLETION_INDEX_ENV for e in env):
                env.append(copy.deepcopy(env_var))
