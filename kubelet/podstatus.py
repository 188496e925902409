"""Pure: what the kubelet knows of a pod's containers -> the pod's API status, as upstream's
generateAPIPodStatus / getPhase / the status manager's condition generators produce it.

Conditions come in upstream's order (PodReadyToStartContainers, Initialized, Ready, ContainersReady,
PodScheduled) after the conditions other components own; a condition keeps its lastTransitionTime while
its status does not change.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from .runtime import ContainerInfo

Obj = dict[str, Any]

KUBELET_CONDITIONS = ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")
BACKOFF_REASONS = frozenset({"CrashLoopBackOff"})


def rfc3339(ts: float | None = None) -> str:
    when = dt.datetime.fromtimestamp(ts, dt.UTC) if ts is not None else dt.datetime.now(dt.UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class ContainerRecord:
    """The kubelet's memory of one container of a pod across its attempts."""

    name: str
    image: str
    init: bool = False
    sidecar: bool = False  # an init container with restartPolicy Always
    current: ContainerInfo | None = None
    last: ContainerInfo | None = None  # the attempt before ``current`` (lastState)
    attempts: int = 0
    #: shown instead of the state while set: CrashLoopBackOff, CreateContainerConfigError, ...
    waiting_reason: str = ""
    waiting_message: str = ""
    started: bool = False  # startup probe passed (or none) in the running attempt
    ready: bool = False  # readiness probe passing (or none) in the running attempt
    backoff: float = 0.0  # the current back-off period in seconds (0: none yet)
    backoff_set: float = 0.0  # when the back-off period was last raised (time.time())
    liveness_failed: str = ""  # "liveness" | "startup" when a probe asked for a restart

    @property
    def running(self) -> bool:
        return self.current is not None and self.current.running

    @property
    def succeeded(self) -> bool:
        return self.current is not None and self.current.exited and self.current.exit_code == 0

    @property
    def failed(self) -> bool:
        return self.current is not None and self.current.exited and self.current.exit_code != 0


def terminated_state(info: ContainerInfo) -> Obj:
    t: Obj = {"exitCode": info.exit_code if info.exit_code is not None else 0, "reason": info.reason or "Error",
              "startedAt": rfc3339(info.started_at or info.finished_at or None),
              "finishedAt": rfc3339(info.finished_at or None), "containerID": info.id}
    if info.message:
        t["message"] = info.message
    return {"terminated": t}


def container_status(rec: ContainerRecord, default_waiting: str) -> Obj:
    cur = rec.current
    st: Obj = {"name": rec.name, "image": cur.image if cur else rec.image, "imageID": cur.image_id if cur else "",
               "ready": bool(rec.ready and rec.running) or (rec.init and not rec.sidecar and rec.succeeded),
               "restartCount": cur.attempt if cur else 0,
               "started": bool(rec.started and rec.running)}
    last = rec.last
    if cur is None:
        st["state"] = {"waiting": _waiting(rec.waiting_reason or default_waiting, rec.waiting_message)}
    else:
        st["containerID"] = cur.id
        if cur.running:
            st["state"] = {"running": {"startedAt": rfc3339(cur.started_at)}}
        elif rec.waiting_reason:
            st["state"] = {"waiting": _waiting(rec.waiting_reason, rec.waiting_message)}
            last = cur
        else:
            st["state"] = terminated_state(cur)
    st["lastState"] = terminated_state(last) if last is not None and last.exited else {}
    return st


def _waiting(reason: str, message: str) -> Obj:
    return {"reason": reason, "message": message} if message else {"reason": reason}


def phase(pod: Obj, init: list[ContainerRecord], regular: list[ContainerRecord], *, init_done: bool,
          terminal: bool) -> str:
    """upstream's getPhase. ``terminal``: the pod is being torn down, nothing will restart."""
    policy = (pod.get("spec") or {}).get("restartPolicy", "Always")
    if any(r.failed and not r.sidecar for r in init) and policy == "Never":
        return "Failed"
    if not init_done:
        return "Failed" if terminal else "Pending"
    waiting = running = stopped = succeeded = 0
    for r in regular:
        if r.running:
            running += 1
        elif r.current is not None and r.current.exited:
            stopped += 1
            succeeded += r.current.exit_code == 0
        else:
            waiting += 1
    if waiting and not terminal:
        return "Pending"
    if running:
        return "Running"
    if terminal:
        return "Succeeded" if stopped and stopped == succeeded and not waiting else "Failed"
    if stopped:
        if policy == "Always":
            return "Running"
        if stopped == succeeded:
            return "Succeeded"
        return "Failed" if policy == "Never" else "Running"
    return "Pending"


def _condition(ctype: str, ok: bool, reason: str = "", message: str = "") -> Obj:
    c: Obj = {"type": ctype, "status": "True" if ok else "False"}
    if reason:
        c["reason"] = reason
    if message:
        c["message"] = message
    return c


def conditions(pod: Obj, init: list[ContainerRecord], regular: list[ContainerRecord], *, phase_: str,
               sandbox_ready: bool, init_done: bool) -> list[Obj]:
    """The kubelet-owned conditions (no lastTransitionTime yet)."""
    spec = pod.get("spec") or {}
    out = [_condition("PodReadyToStartContainers", sandbox_ready)]
    incomplete = [r.name for r in init if not (r.started and r.running if r.sidecar else r.succeeded)]
    if phase_ == "Succeeded" and init_done:
        out.append(_condition("Initialized", True, "PodCompleted"))
    elif init_done:
        out.append(_condition("Initialized", True))
    else:
        out.append(_condition("Initialized", False, "ContainersNotInitialized",
                              f"containers with incomplete status: [{' '.join(incomplete)}]"))
    unready = [r.name for r in [*[i for i in init if i.sidecar], *regular] if not (r.ready and r.running)]
    if phase_ == "Succeeded":
        ready = _condition("Ready", False, "PodCompleted")
        containers_ready = _condition("ContainersReady", False, "PodCompleted")
    elif unready:
        msg = f"containers with unready status: [{' '.join(unready)}]"
        ready = _condition("Ready", False, "ContainersNotReady", msg)
        containers_ready = _condition("ContainersReady", False, "ContainersNotReady", msg)
    else:
        containers_ready = _condition("ContainersReady", True)
        ready = _condition("Ready", True)
        gates = [g.get("conditionType", "") for g in spec.get("readinessGates") or []]
        have = {c.get("type"): c.get("status") for c in (pod.get("status") or {}).get("conditions") or []}
        missing = [g for g in gates if g not in have]
        false = [g for g in gates if g in have and have[g] != "True"]
        if missing:
            ready = _condition("Ready", False, "ReadinessGatesNotReady",
                               f'corresponding condition of pod readiness gate "{missing[0]}" does not exist.')
        elif false:
            ready = _condition("Ready", False, "ReadinessGatesNotReady",
                               f'the status of pod readiness gate "{false[0]}" is not "True", but False')
    out += [ready, containers_ready, _condition("PodScheduled", True)]
    return out


def merge_conditions(old: list[Obj], new: list[Obj], *, generation: int | None, now: str) -> list[Obj]:
    """Others' conditions first (kept as they are), then ours with lastTransitionTime carried over."""
    before = {c.get("type"): c for c in old}
    out = [c for c in old if c.get("type") not in KUBELET_CONDITIONS]
    for c in new:
        prev = before.get(c["type"])
        c = dict(c)
        if generation is not None:
            c["observedGeneration"] = generation
        c["lastTransitionTime"] = prev.get("lastTransitionTime", now) if prev and prev.get("status") == c["status"] \
            else now
        out.append(c)
    return out


def pod_status(pod: Obj, *, init: list[ContainerRecord], regular: list[ContainerRecord], init_done: bool,
               sandbox_ready: bool, terminal: bool, host_ip: str, pod_ip: str, start_time: str,
               old: Obj, failure: tuple[str, str] | None = None) -> Obj:
    """The status the kubelet would write. ``old`` is the status the API holds (or we wrote last);
    ``failure`` = (reason, message) forces phase Failed (DeadlineExceeded, OutOfpods, ...)."""
    spec = pod.get("spec") or {}
    generation = pod["metadata"].get("generation")
    phase_ = "Failed" if failure else phase(pod, init, regular, init_done=init_done, terminal=terminal)
    if old.get("phase") in ("Succeeded", "Failed"):  # a terminal phase never changes back
        phase_ = old["phase"]
    status: Obj = {"phase": phase_}
    if generation is not None:
        status["observedGeneration"] = generation
    now = rfc3339()
    status["conditions"] = merge_conditions(
        old.get("conditions") or [], conditions(pod, init, regular, phase_=phase_, sandbox_ready=sandbox_ready,
                                                  init_done=init_done),
        generation=generation, now=now)
    if failure:
        status["reason"], status["message"] = failure
    elif old.get("reason") and old.get("phase") == phase_ and phase_ in ("Succeeded", "Failed"):
        status["reason"] = old["reason"]
        if old.get("message"):
            status["message"] = old["message"]
    if host_ip:
        status["hostIP"] = host_ip
        status["hostIPs"] = [{"ip": host_ip}]
    if pod_ip:
        status["podIP"] = pod_ip
        status["podIPs"] = [{"ip": pod_ip}]
    if start_time:
        status["startTime"] = start_time
    if init:
        status["initContainerStatuses"] = [
            container_status(r, "PodInitializing" if i else "ContainerCreating") for i, r in enumerate(init)]
    status["containerStatuses"] = [container_status(r, "ContainerCreating" if init_done else "PodInitializing")
                                   for r in regular]
    status["qosClass"] = old.get("qosClass") or qos_class(spec)
    return status


def qos_class(spec: Obj) -> str:
    requests: dict[str, str] = {}
    limits: dict[str, str] = {}
    guaranteed = True
    containers = (spec.get("containers") or []) + (spec.get("initContainers") or [])
    for c in containers:
        res = c.get("resources") or {}
        req, lim = res.get("requests") or {}, res.get("limits") or {}
        for k in ("cpu", "memory"):
            if k in req:
                requests[k] = req[k]
            if k in lim:
                limits[k] = lim[k]
            if k not in lim or (k in req and str(req[k]) != str(lim[k])):
                guaranteed = False
    if not requests and not limits:
        return "BestEffort"
    return "Guaranteed" if guaranteed and containers else "Burstable"


#: the status keys the kubelet writes (a status patch nulls the ones it dropped, and no others)
KUBELET_STATUS_KEYS = ("phase", "observedGeneration", "conditions", "reason", "message", "hostIP", "hostIPs",
                       "podIP", "podIPs", "startTime", "initContainerStatuses", "containerStatuses", "qosClass")


def status_patch(old: Obj, new: Obj) -> Obj | None:
    """A JSON merge patch of ``status`` from ``old`` to ``new`` over the kubelet's keys; None if equal."""
    patch: Obj = {}
    for k in KUBELET_STATUS_KEYS:
        if k in new:
            if old.get(k) != new[k]:
                patch[k] = new[k]
        elif k in old:
            patch[k] = None
    return patch or None
