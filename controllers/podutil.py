"""Helpers shared by the workload controllers (replicaset, replicationcontroller, deployment).

Pod state as upstream's ``podutil`` reads it (active, terminating, ready, available), pods made from a
template, upstream's ranking of pods for scale-down (``ActivePodsWithRanks``), label-selector matching of
``metav1.LabelSelector`` dicts, and the ControllerRef manager's claim (adopt orphans that match, release
owned objects that stopped matching). Times are RFC 3339 strings on the wire and aware datetimes here.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import functools
import math
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from typing import Any

from schemas.selectors import SelectorError, labels_match, selector_from_object

from .client import ApiError, Client, object_path
from .events import EventRecorder
from .runtime import controller_ref

Obj = dict[str, Any]

DELETION_COST_ANNOTATION = "controller.kubernetes.io/pod-deletion-cost"
_PHASE_ORDINAL = {"Pending": 0, "Unknown": 1, "Running": 2}
_EPOCH = dt.datetime.min.replace(tzinfo=dt.UTC)

# --- time ---------------------------------------------------------------------------------------


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def rfc3339(t: dt.datetime) -> str:
    """metav1.Time on the wire: whole seconds, UTC."""
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        t = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


# --- pod state ----------------------------------------------------------------------------------


def is_pod_active(pod: Obj) -> bool:
    """Counted by a controller: not terminal (Succeeded/Failed) and not being deleted."""
    phase = (pod.get("status") or {}).get("phase")
    return phase not in ("Succeeded", "Failed") and not pod["metadata"].get("deletionTimestamp")


def is_pod_terminating(pod: Obj) -> bool:
    """Being deleted but not yet in a terminal phase (status.terminatingReplicas)."""
    phase = (pod.get("status") or {}).get("phase")
    return bool(pod["metadata"].get("deletionTimestamp")) and phase not in ("Succeeded", "Failed")


def ready_condition(pod: Obj) -> Obj | None:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return dict(cond)
    return None


def is_pod_ready(pod: Obj) -> bool:
    cond = ready_condition(pod)
    return cond is not None and cond.get("status") == "True"


def available_since(pod: Obj, min_ready_seconds: int) -> dt.datetime | None:
    """When a ready pod counts as available (Ready for minReadySeconds); None if it is not ready."""
    cond = ready_condition(pod)
    if cond is None or cond.get("status") != "True":
        return None
    if not min_ready_seconds:
        return _EPOCH
    since = parse_time(cond.get("lastTransitionTime"))
    if since is None:
        return None
    return since + dt.timedelta(seconds=min_ready_seconds)


def is_pod_available(pod: Obj, min_ready_seconds: int, now: dt.datetime) -> bool:
    """Upstream's IsPodAvailable: ready, and ready for longer than minReadySeconds."""
    at = available_since(pod, min_ready_seconds)
    if at is None:
        return False
    return at is _EPOCH or at < now


# --- pods from templates ------------------------------------------------------------------------


def owner_reference(owner: Obj) -> Obj:
    """A ControllerRef to ``owner`` (metav1.NewControllerRef)."""
    meta = owner["metadata"]
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": meta["name"],
            "uid": meta["uid"], "controller": True, "blockOwnerDeletion": True}


def pod_from_template(template: Obj, owner: Obj) -> Obj:
    """The pod a controller creates from ``template`` (GetPodFromTemplate): generateName ``<owner>-``,
    the template's labels/annotations/finalizers, a ControllerRef to ``owner``, a copy of its spec."""
    meta = template.get("metadata") or {}
    name = owner["metadata"]["name"]
    pod_meta: Obj = {"generateName": f"{name}-" if len(name) < 253 else name,
                     "ownerReferences": [owner_reference(owner)]}
    for field in ("labels", "annotations"):
        if meta.get(field):
            pod_meta[field] = dict(meta[field])
    if meta.get("finalizers"):
        pod_meta["finalizers"] = list(meta["finalizers"])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta,
            "spec": copy.deepcopy(template.get("spec") or {})}


# --- ranking for scale-down ---------------------------------------------------------------------


def _max_restarts(pod: Obj) -> tuple[int, int]:
    status = pod.get("status") or {}
    regular = max((int(c.get("restartCount", 0)) for c in status.get("containerStatuses") or []), default=0)
    sidecars = {c.get("name") for c in (pod.get("spec") or {}).get("initContainers") or []
                if c.get("restartPolicy") == "Always"}
    sidecar = max((int(c.get("restartCount", 0)) for c in status.get("initContainerStatuses") or []
                   if c.get("name") in sidecars), default=0)
    return regular, sidecar


def _deletion_cost(pod: Obj) -> int:
    value = (pod["metadata"].get("annotations") or {}).get(DELETION_COST_ANNOTATION)
    try:
        return int(value) if value is not None else 0
    except ValueError:
        return 0


def _log_rank(t: dt.datetime, now: dt.datetime) -> int:
    nanos = (now - t) // dt.timedelta(microseconds=1) * 1000
    return int(math.log2(nanos)) if nanos > 0 else -1


def _after_or_zero(t1: dt.datetime | None, t2: dt.datetime | None) -> bool:
    if t1 is None or t2 is None:
        return t1 is None
    return t1 > t2


def _less(a: Obj, b: Obj, rank_a: int, rank_b: int, now: dt.datetime) -> bool:
    """ActivePodsWithRanks.Less: is ``a`` deleted before ``b``?"""
    na, nb = (a.get("spec") or {}).get("nodeName", ""), (b.get("spec") or {}).get("nodeName", "")
    if na != nb and (not na or not nb):  # 1. unassigned < assigned
        return not na
    pa = _PHASE_ORDINAL.get((a.get("status") or {}).get("phase", ""), 0)
    pb = _PHASE_ORDINAL.get((b.get("status") or {}).get("phase", ""), 0)
    if pa != pb:  # 2. Pending < Unknown < Running
        return pa < pb
    ra, rb = is_pod_ready(a), is_pod_ready(b)
    if ra != rb:  # 3. not ready < ready
        return not ra
    ca, cb = _deletion_cost(a), _deletion_cost(b)
    if ca != cb:  # 4. lower pod-deletion-cost first
        return ca < cb
    if rank_a != rank_b:  # 5. doubled up on a node < not doubled up
        return rank_a > rank_b
    if ra and rb:  # 6. ready for less time first (logarithmic buckets)
        ta = parse_time((ready_condition(a) or {}).get("lastTransitionTime"))
        tb = parse_time((ready_condition(b) or {}).get("lastTransitionTime"))
        if ta != tb:
            if ta is None or tb is None:
                return _after_or_zero(ta, tb)
            diff = _log_rank(ta, now) - _log_rank(tb, now)
            if diff == 0:
                return str(a["metadata"].get("uid", "")) < str(b["metadata"].get("uid", ""))
            return diff < 0
    xa, xb = _max_restarts(a), _max_restarts(b)
    if xa != xb:  # 7. more restarts first (regular containers, then sidecars)
        return xa[0] > xb[0] if xa[0] != xb[0] else xa[1] > xb[1]
    ta = parse_time(a["metadata"].get("creationTimestamp"))
    tb = parse_time(b["metadata"].get("creationTimestamp"))
    if ta != tb:  # 8. newer first (logarithmic buckets)
        if ta is None or tb is None:
            return _after_or_zero(ta, tb)
        diff = _log_rank(ta, now) - _log_rank(tb, now)
        if diff == 0:
            return str(a["metadata"].get("uid", "")) < str(b["metadata"].get("uid", ""))
        return diff < 0
    return False


def pods_to_delete(pods: list[Obj], related: Iterable[Obj], count: int,
                   now: dt.datetime | None = None) -> list[Obj]:
    """The ``count`` pods upstream's ReplicaSet controller deletes first. ``related`` are the active pods
    of this controller and its siblings (same owner), used to prefer pods doubled up on a node."""
    if count >= len(pods):
        return list(pods)
    now = now or utcnow()
    on_node = Counter((p.get("spec") or {}).get("nodeName", "") for p in related if is_pod_active(p))
    ranked = [(p, on_node[(p.get("spec") or {}).get("nodeName", "")]) for p in pods]

    def cmp(x: tuple[Obj, int], y: tuple[Obj, int]) -> int:
        if _less(x[0], y[0], x[1], y[1], now):
            return -1
        if _less(y[0], x[0], y[1], x[1], now):
            return 1
        return 0

    ranked.sort(key=functools.cmp_to_key(cmp))
    return [p for p, _ in ranked[:count]]


# --- selectors and ControllerRefs ------------------------------------------------------------------


Matcher = Callable[[Mapping[str, str] | None], bool]


def selector_matcher(selector: Mapping[str, Any] | None) -> Matcher:
    """A metav1.LabelSelector dict as a predicate on labels: None or an invalid selector matches nothing,
    ``{}`` matches everything (LabelSelectorAsSelector)."""
    try:
        parsed = selector_from_object(selector)
    except SelectorError:
        parsed = None
    if parsed is None:
        return lambda labels: False
    reqs = parsed
    return lambda labels: labels_match(reqs, labels)


def map_matcher(selector: Mapping[str, str] | None) -> Matcher:
    """A plain label map (ReplicationController's selector) as a predicate; empty matches everything."""
    want = dict(selector or {})
    return lambda labels: all((labels or {}).get(k) == v for k, v in want.items())


def error_text(err: BaseException) -> str:
    """What Go's err.Error() says: an API error's Status message."""
    if isinstance(err, ApiError):
        return str(err.body.get("message") or err)
    return str(err)


def namespace_terminating(err: ApiError) -> bool:
    causes = (err.body.get("details") or {}).get("causes") or []
    return any(c.get("type") == "NamespaceTerminating" for c in causes)


async def claim(client: Client, owner: Obj, objs: Iterable[Obj], matches: Matcher, plural: str,
                can_adopt: Callable[[], Awaitable[None]]) -> list[Obj]:
    """BaseControllerRefManager.ClaimObject over ``objs``: the ones ``owner`` controls after adopting
    matching orphans (strategic-merge patch adding our ControllerRef, with a uid precondition) and
    releasing owned ones that stopped matching. ``can_adopt`` raises when the owner must not adopt (it is
    gone or being deleted); it is awaited once, before the first adoption. Errors other than NotFound are
    raised after every object was tried."""
    meta = owner["metadata"]
    uid, deleting = meta["uid"], bool(meta.get("deletionTimestamp"))
    claimed: list[Obj] = []
    errors: list[Exception] = []
    checked = False
    for obj in objs:
        ref = controller_ref(obj)
        labels = obj["metadata"].get("labels")
        if ref is not None:
            if ref.get("uid") != uid:
                continue
            if matches(labels):
                claimed.append(obj)
                continue
            if deleting:
                continue
            patch: Obj = {"metadata": {"ownerReferences": [{"$patch": "delete", "uid": uid}],
                                       "uid": obj["metadata"]["uid"]}}
            try:
                await client.patch(object_path(obj, plural), patch, patch_type="strategic")
            except ApiError as e:
                if not e.not_found:
                    errors.append(e)
            continue
        if deleting or not matches(labels) or obj["metadata"].get("deletionTimestamp"):
            continue
        if obj["metadata"].get("namespace") != meta.get("namespace"):
            continue
        try:
            if not checked:
                checked = True
                await can_adopt()
            patch = {"metadata": {"ownerReferences": [owner_reference(owner)], "uid": obj["metadata"]["uid"]}}
            claimed.append(await client.patch(object_path(obj, plural), patch, patch_type="strategic"))
        except ApiError as e:
            if not e.not_found:
                errors.append(e)
        except Exception as e:
            errors.append(e)
            break  # cannot adopt at all
    if errors:
        raise errors[0]
    return claimed


def recheck_owner(client: Client, owner: Obj, plural: str) -> Callable[[], Awaitable[None]]:
    """RecheckDeletionTimestamp: an uncached read of ``owner`` before adopting anything."""

    async def check() -> None:
        fresh = await client.get(object_path(owner, plural))
        meta, want = fresh["metadata"], owner["metadata"]
        if meta.get("uid") != want["uid"]:
            raise RuntimeError(f"original {owner['kind']} {want.get('namespace')}/{want['name']} is gone: "
                               f"got uid {meta.get('uid')}, wanted {want['uid']}")
        if meta.get("deletionTimestamp"):
            raise RuntimeError(f"{want.get('namespace')}/{want['name']} has just been deleted at "
                               f"{meta['deletionTimestamp']}")

    return check


# --- events ---------------------------------------------------------------------------------------

_pending: set[asyncio.Task[None]] = set()


def emit(recorder: EventRecorder, obj: Obj, event_type: str, reason: str, message: str) -> None:
    """Record an event without waiting for it (upstream's recorder is asynchronous too)."""
    coro: Coroutine[Any, Any, None] = recorder.record(obj, event_type, reason, message)
    task = asyncio.get_running_loop().create_task(coro)
    _pending.add(task)
    task.add_done_callback(_pending.discard)
