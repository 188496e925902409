"""The Deployment controller (upstream's pkg/controller/deployment), level-triggered.

A reconcile claims the ReplicaSets the Deployment's selector matches, then, as upstream: scaling events
and paused Deployments scale proportionally; otherwise RollingUpdate (scale the new ReplicaSet up within
maxSurge, old ones down within maxUnavailable) or Recreate (old ones to 0, wait for their pods to go, then
the new one up). The new ReplicaSet is ``<name>-<pod-template-hash>``; revisions, desired/max replicas and
revision history live in annotations; ``status`` (replicas, conditions Progressing/Available, ...) is
written through ``/status``. Old ReplicaSets with no replicas beyond ``revisionHistoryLimit`` are deleted.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import math
from collections.abc import Sequence
from typing import Any

from .client import ApiError, object_path, path_for
from .podutil import (
    claim,
    emit,
    error_text,
    namespace_terminating,
    owner_reference,
    parse_time,
    recheck_owner,
    rfc3339,
    selector_matcher,
    utcnow,
)
from .runtime import Controller, Obj, Result, controller_ref, resolve_controller_ref

REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
HASH_LABEL = "pod-template-hash"
#: deployment annotations not copied to its ReplicaSets
SKIP_ANNOTATIONS = frozenset({"kubectl.kubernetes.io/last-applied-configuration", REVISION, REVISION_HISTORY,
                              DESIRED_REPLICAS, MAX_REPLICAS, "deprecated.deployment.rollback.to"})
MAX_REV_HISTORY_CHARS = 2000
MAX_INT32 = 2**31 - 1
_ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"
_EPOCH = dt.datetime.min.replace(tzinfo=dt.UTC)

# --- pure helpers (deploymentutil) ------------------------------------------------------------------


def _compact(value: Any) -> Any:
    """Drop None, {} and [] recursively: Go's semantic equality treats nil and empty alike."""
    if isinstance(value, dict):
        out = {k: _compact(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not None and v != {} and v != []}
    if isinstance(value, list):
        return [_compact(v) for v in value]
    return value


def _template_without_hash(template: Obj | None) -> Obj:
    t = copy.deepcopy(template or {})
    labels = (t.get("metadata") or {}).get("labels")
    if labels:
        labels.pop(HASH_LABEL, None)
    t.get("metadata", {}).pop("creationTimestamp", None)
    result: Obj = _compact(t)
    return result


def equal_ignore_hash(a: Obj | None, b: Obj | None) -> bool:
    return _template_without_hash(a) == _template_without_hash(b)


def compute_hash(template: Obj, collision_count: int | None) -> str:
    """ComputeHash: FNV-32a of the template (canonical JSON here; upstream hashes a Go dump), then the
    collision count as 8 little-endian bytes, the decimal sum encoded with SafeEncodeString."""
    h = 0x811C9DC5
    data = json.dumps(_template_without_hash(template), sort_keys=True, separators=(",", ":")).encode()
    if collision_count is not None:
        data += (collision_count & 0xFFFFFFFF).to_bytes(4, "little") + b"\0\0\0\0"
    for byte in data:
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return "".join(_ALPHANUMS[ord(c) % len(_ALPHANUMS)] for c in str(h))


def replicas_of(obj: Obj | None) -> int:
    if obj is None:
        return 0
    value = (obj.get("spec") or {}).get("replicas")
    return 1 if value is None else int(value)


def status_of(obj: Obj | None, field: str) -> int:
    return int(((obj or {}).get("status") or {}).get(field) or 0)


def scaled_value(value: int | str | None, total: int, round_up: bool) -> int:
    """intstr.GetScaledValueFromIntOrPercent (a percentage of ``total``, rounded up or down)."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    if not value.endswith("%"):
        raise ValueError(f"invalid value for IntOrString: invalid type: string is not a percentage: {value}")
    pct = int(value[:-1])
    exact = pct * total / 100
    return math.ceil(exact) if round_up else math.floor(exact)


def is_rolling(d: Obj) -> bool:
    return bool(((d.get("spec") or {}).get("strategy") or {}).get("type", "RollingUpdate") == "RollingUpdate")


def resolve_fenceposts(d: Obj) -> tuple[int, int]:
    """(maxSurge, maxUnavailable): surge rounds up, unavailable down; both 0 means unavailable 1."""
    ru = ((d.get("spec") or {}).get("strategy") or {}).get("rollingUpdate") or {}
    desired = replicas_of(d)
    surge = scaled_value(ru.get("maxSurge", 0), desired, True)
    unavailable = scaled_value(ru.get("maxUnavailable", 0), desired, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def max_surge(d: Obj) -> int:
    return resolve_fenceposts(d)[0] if is_rolling(d) else 0


def max_unavailable(d: Obj) -> int:
    if not is_rolling(d) or replicas_of(d) == 0:
        return 0
    return min(resolve_fenceposts(d)[1], replicas_of(d))


def revision_of(rs: Obj) -> int:
    try:
        return int((rs["metadata"].get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return 0


def _created(rs: Obj) -> tuple[dt.datetime, str]:
    meta = rs["metadata"]
    return parse_time(meta.get("creationTimestamp")) or _EPOCH, meta["name"]


def find_new_rs(d: Obj, rs_list: list[Obj]) -> Obj | None:
    """The oldest ReplicaSet whose template equals the Deployment's (ignoring the hash label)."""
    template = (d.get("spec") or {}).get("template")
    for rs in sorted(rs_list, key=_created):
        if equal_ignore_hash((rs.get("spec") or {}).get("template"), template):
            return rs
    return None


def active(rss: Sequence[Obj | None]) -> list[Obj]:
    return [rs for rs in rss if rs is not None and replicas_of(rs) > 0]


def total_spec(rss: Sequence[Obj | None]) -> int:
    return sum(replicas_of(rs) for rs in rss if rs is not None)


def total_status(rss: Sequence[Obj | None], field: str) -> int:
    return sum(status_of(rs, field) for rs in rss if rs is not None)


def total_terminating(rss: Sequence[Obj | None]) -> int | None:
    count = 0
    for rs in rss:
        if rs is None:
            continue
        status = rs.get("status") or {}
        if status.get("terminatingReplicas") is None:
            if status.get("observedGeneration"):
                return None  # not reported: unknown
            continue
        count += int(status["terminatingReplicas"])
    return count


def new_rs_new_replicas(d: Obj, all_rss: Sequence[Obj | None], new_rs: Obj) -> int:
    if not is_rolling(d):
        return replicas_of(d)
    ru = ((d.get("spec") or {}).get("strategy") or {}).get("rollingUpdate") or {}
    surge = scaled_value(ru.get("maxSurge", 0), replicas_of(d), True)
    current, max_total = total_spec(all_rss), replicas_of(d) + surge
    if current >= max_total:
        return replicas_of(new_rs)
    return replicas_of(new_rs) + min(max_total - current, replicas_of(d) - replicas_of(new_rs))


def has_progress_deadline(d: Obj) -> bool:
    value = (d.get("spec") or {}).get("progressDeadlineSeconds")
    return value is not None and value != MAX_INT32


def get_condition(status: Obj, kind: str) -> Obj | None:
    return next((c for c in status.get("conditions") or [] if c.get("type") == kind), None)


def new_condition(kind: str, status: str, reason: str, message: str) -> Obj:
    now = rfc3339(utcnow())
    return {"type": kind, "status": status, "lastUpdateTime": now, "lastTransitionTime": now,
            "reason": reason, "message": message}


def set_condition(status: Obj, cond: Obj) -> None:
    """SetDeploymentCondition: same status and reason is a no-op; same status keeps lastTransitionTime."""
    current = get_condition(status, cond["type"])
    if current is not None and current.get("status") == cond["status"] and current.get("reason") == cond["reason"]:
        return
    if current is not None and current.get("status") == cond["status"]:
        cond["lastTransitionTime"] = current.get("lastTransitionTime")
    status["conditions"] = [c for c in status.get("conditions") or [] if c.get("type") != cond["type"]] + [cond]


def remove_condition(status: Obj, kind: str) -> None:
    status["conditions"] = [c for c in status.get("conditions") or [] if c.get("type") != kind]


def deployment_complete(d: Obj, status: Obj) -> bool:
    want = replicas_of(d)
    return (int(status.get("updatedReplicas") or 0) == want and int(status.get("replicas") or 0) == want
            and int(status.get("availableReplicas") or 0) == want
            and int(status.get("observedGeneration") or 0) >= int(d["metadata"].get("generation") or 0))


def deployment_progressing(d: Obj, new: Obj) -> bool:
    old = d.get("status") or {}

    def g(s: Obj, f: str) -> int:
        return int(s.get(f) or 0)

    return (g(new, "updatedReplicas") > g(old, "updatedReplicas")
            or g(new, "replicas") - g(new, "updatedReplicas") < g(old, "replicas") - g(old, "updatedReplicas")
            or g(new, "readyReplicas") > g(old, "readyReplicas")
            or g(new, "availableReplicas") > g(old, "availableReplicas"))


def deployment_timed_out(d: Obj, status: Obj) -> bool:
    if not has_progress_deadline(d):
        return False
    cond = get_condition(status, "Progressing")
    if cond is None or cond.get("reason") == "NewReplicaSetAvailable":
        return False
    if cond.get("reason") == "ProgressDeadlineExceeded":
        return True
    since = parse_time(cond.get("lastUpdateTime")) or _EPOCH
    return since + dt.timedelta(seconds=int(d["spec"]["progressDeadlineSeconds"])) < utcnow()


def round_half_away(x: float) -> int:
    return int(math.floor(x + 0.5)) if x >= 0 else -int(math.floor(-x + 0.5))


def _annotation_int(rs: Obj, name: str) -> int | None:
    try:
        return int((rs["metadata"].get("annotations") or {})[name])
    except (KeyError, ValueError):
        return None


def get_proportion(rs: Obj, d: Obj, to_add: int, added: int) -> int:
    """GetProportion: this ReplicaSet's share of ``to_add`` replicas, by its max-replicas annotation."""
    if replicas_of(rs) == 0 or to_add == 0 or to_add == added:
        return 0
    if replicas_of(d) == 0:
        fraction = -replicas_of(rs)
    else:
        before = _annotation_int(rs, MAX_REPLICAS) or status_of(d, "replicas")
        if before == 0:
            fraction = 0
        else:
            fraction = round_half_away(replicas_of(rs) * (replicas_of(d) + max_surge(d)) / before) - replicas_of(rs)
    allowed = to_add - added
    return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)


def set_replicas_annotations(rs: Obj, desired: int, maximum: int) -> bool:
    ann = rs["metadata"].setdefault("annotations", {})
    changed = bool(ann.get(DESIRED_REPLICAS) != str(desired) or ann.get(MAX_REPLICAS) != str(maximum))
    ann[DESIRED_REPLICAS], ann[MAX_REPLICAS] = str(desired), str(maximum)
    return changed


def set_new_rs_annotations(d: Obj, rs: Obj, new_revision: int, exists: bool) -> bool:
    """SetNewReplicaSetAnnotations: copy the Deployment's annotations, raise the revision (keeping the
    superseded one in revision-history on a rollback) and, on creation, the replicas annotations."""
    ann = rs["metadata"].setdefault("annotations", {})
    changed = False
    for k, v in (d["metadata"].get("annotations") or {}).items():
        if k in SKIP_ANNOTATIONS or ann.get(k) == v:
            continue
        ann[k], changed = v, True
    old_text = ann.get(REVISION)
    try:
        old = int(old_text) if old_text is not None else 0
    except ValueError:
        return changed
    if old < new_revision:
        ann[REVISION], changed = str(new_revision), True
        if old_text is not None:
            history = [h for h in (ann.get(REVISION_HISTORY) or "").split(",") if h]
            while history and len(",".join(history + [old_text])) > MAX_REV_HISTORY_CHARS:
                history.pop(0)
            ann[REVISION_HISTORY] = ",".join(history + [old_text])
    if not exists and set_replicas_annotations(rs, replicas_of(d), replicas_of(d) + max_surge(d)):
        changed = True
    return changed


def calculate_status(all_rss: Sequence[Obj | None], new_rs: Obj | None, d: Obj) -> Obj:
    """The Deployment's status from its ReplicaSets (omitempty fields left out, as Go writes them)."""
    old = d.get("status") or {}
    available = total_status(all_rss, "availableReplicas")
    status: Obj = {
        "observedGeneration": d["metadata"].get("generation"),
        "replicas": total_status(all_rss, "replicas"),
        "updatedReplicas": total_status([new_rs], "replicas"),
        "readyReplicas": total_status(all_rss, "readyReplicas"),
        "availableReplicas": available,
        "unavailableReplicas": max(total_spec(all_rss) - available, 0),
        "terminatingReplicas": total_terminating(all_rss),
        "collisionCount": old.get("collisionCount"),
        "conditions": copy.deepcopy(old.get("conditions") or []),
    }
    if available >= replicas_of(d) - max_unavailable(d):
        set_condition(status, new_condition("Available", "True", "MinimumReplicasAvailable",
                                            "Deployment has minimum availability."))
    else:
        set_condition(status, new_condition("Available", "False", "MinimumReplicasUnavailable",
                                            "Deployment does not have minimum availability."))
    return status


def compact_status(status: Obj) -> Obj:
    """Status as Go serializes it: zero counters and empty lists dropped; pointers (collisionCount,
    terminatingReplicas) kept when set."""
    pointers = ("collisionCount", "terminatingReplicas")
    return {k: v for k, v in status.items()
            if (v is not None if k in pointers else v not in (None, 0, [], {}))}


def _available(rs: Obj) -> int:
    """Available pods of an old ReplicaSet for scale-down decisions: never more than it is scaled to (its
    status may not yet reflect a scale-down), so a lagging status cannot overshoot maxUnavailable."""
    return min(status_of(rs, "availableReplicas"), replicas_of(rs))


class DeploymentController(Controller):
    name = "deployment"
    component = "deployment-controller"
    workers = 5

    def setup(self) -> None:
        self.deployments = self.informers.get("apps", "v1", "deployments")
        self.replicasets = self.informers.get("apps", "v1", "replicasets")
        self.pods = self.informers.get("", "v1", "pods")
        self.deployments.add_handlers(on_add=self.enqueue, on_update=lambda old, new: self.enqueue(new),
                                      on_delete=self.enqueue)
        self.replicasets.add_handlers(on_add=self._rs_added, on_update=self._rs_updated,
                                      on_delete=self._rs_deleted)
        self.pods.add_handlers(on_delete=self._pod_deleted)

    # --- event handlers: objects to Deployment keys ------------------------------------------------

    def _resolve(self, namespace: str, ref: Obj | None) -> Obj | None:
        return resolve_controller_ref(namespace, ref, "Deployment", self.deployments)

    def _enqueue_owner_or_matching(self, rs: Obj, *, orphan_changed: bool = True) -> None:
        ns = rs["metadata"].get("namespace", "")
        ref = controller_ref(rs)
        if ref is not None:
            d = self._resolve(ns, ref)
            if d is not None:
                self.enqueue(d)
            return
        labels = rs["metadata"].get("labels")
        if orphan_changed and labels:
            for d in self.deployments.list(ns):
                if selector_matcher((d.get("spec") or {}).get("selector"))(labels):
                    self.enqueue(d)

    def _rs_added(self, rs: Obj) -> None:
        if rs["metadata"].get("deletionTimestamp"):
            self._rs_deleted(rs)
        else:
            self._enqueue_owner_or_matching(rs)

    def _rs_updated(self, old: Obj, cur: Obj) -> None:
        if old["metadata"].get("resourceVersion") == cur["metadata"].get("resourceVersion"):
            return
        cur_ref, old_ref = controller_ref(cur), controller_ref(old)
        if cur_ref != old_ref and old_ref is not None:
            self._rs_deleted(old)
        changed = cur_ref != old_ref or old["metadata"].get("labels") != cur["metadata"].get("labels")
        self._enqueue_owner_or_matching(cur, orphan_changed=changed)

    def _rs_deleted(self, rs: Obj) -> None:
        d = self._resolve(rs["metadata"].get("namespace", ""), controller_ref(rs))
        if d is not None:
            self.enqueue(d)

    def _pod_deleted(self, pod: Obj) -> None:
        """A Recreate rollout waits for the old pods to be gone."""
        ns = pod["metadata"].get("namespace", "")
        ref = controller_ref(pod)
        if ref is None or ref.get("kind") != "ReplicaSet":
            return
        rs = self.replicasets.get(f"{ns}/{ref.get('name')}")
        d = self._resolve(ns, controller_ref(rs)) if rs is not None else None
        if d is not None and not is_rolling(d):
            self.enqueue(d)

    # --- reconcile ------------------------------------------------------------------------------

    async def reconcile(self, key: str) -> Result | None:
        cached = self.deployments.get(key)
        if cached is None:
            return None
        d = copy.deepcopy(cached)
        d.setdefault("apiVersion", "apps/v1")
        d.setdefault("kind", "Deployment")
        return await _Sync(self, d).run()

    async def claim_replicasets(self, d: Obj) -> list[Obj]:
        """ReplicaSets this Deployment controls, after adopting matching orphans and releasing owned
        ones that stopped matching."""
        matches = selector_matcher((d.get("spec") or {}).get("selector"))
        rss = [copy.deepcopy(rs) for rs in self.replicasets.list(d["metadata"]["namespace"])]
        for rs in rss:
            rs.setdefault("apiVersion", "apps/v1")
            rs.setdefault("kind", "ReplicaSet")
        return await claim(self.client, d, rss, matches, "replicasets", recheck_owner(self.client, d, "deployments"))

    @staticmethod
    def status_path(d: Obj) -> str:
        meta = d["metadata"]
        return path_for("apps", "v1", "deployments", meta["namespace"], meta["name"], "status")

    def pod_map(self, d: Obj, rs_list: list[Obj]) -> dict[str, list[Obj]]:
        """Pods matching the Deployment's selector, by the uid of the ReplicaSet controlling them."""
        matches = selector_matcher((d.get("spec") or {}).get("selector"))
        out: dict[str, list[Obj]] = {}
        for rs in rs_list:
            uid = rs["metadata"]["uid"]
            out[uid] = [p for p in self.pods.by_index("owner", uid)
                        if (controller_ref(p) or {}).get("uid") == uid and matches(p["metadata"].get("labels"))]
        return out


class _Sync:
    """One reconcile of one Deployment. ``d`` is the latest copy: every write replaces it with the API's
    answer, so one reconcile can write several times without conflicting with itself."""

    def __init__(self, controller: DeploymentController, d: Obj) -> None:
        self.c, self.client, self.d = controller, controller.client, d

    @property
    def status(self) -> Obj:
        result: Obj = self.d.setdefault("status", {})
        return result

    def event(self, event_type: str, reason: str, message: str) -> None:
        emit(self.c.events, self.d, event_type, reason, message)

    async def run(self) -> Result | None:
        d = self.d
        if not _compact((d.get("spec") or {}).get("selector") or {}):
            self.event("Warning", "SelectingAll", "This deployment is selecting all pods. A non-empty selector "
                       "is required.")
            if int(self.status.get("observedGeneration") or 0) < int(d["metadata"].get("generation") or 0):
                self.status["observedGeneration"] = d["metadata"].get("generation")
                await self.write_status()
            return None
        rs_list = await self.c.claim_replicasets(d)
        pod_map = self.c.pod_map(d, rs_list)
        if d["metadata"].get("deletionTimestamp"):
            new_rs, old = await self.get_all(rs_list, False)
            return await self.sync_deployment_status([*old, new_rs], new_rs)
        await self.check_paused_conditions()
        if (d.get("spec") or {}).get("paused") or await self.is_scaling_event(rs_list):
            return await self.sync(rs_list)
        if not is_rolling(d):
            return await self.rollout_recreate(rs_list, pod_map)
        return await self.rollout_rolling(rs_list)

    # --- writes ---------------------------------------------------------------------------------

    async def write_status(self) -> None:
        """PUT /status. Upstream's deployments/status also takes metadata.annotations (the revision);
        where the server keeps metadata on /status, the revision is then patched onto the object."""
        want = (self.d["metadata"].get("annotations") or {}).get(REVISION)
        updated = await self.client.update(self.c.status_path(self.d), self.d)
        if want is not None and (updated["metadata"].get("annotations") or {}).get(REVISION) != want:
            patch = {"metadata": {"resourceVersion": updated["metadata"]["resourceVersion"],
                                  "annotations": {REVISION: want}}}
            updated = await self.client.patch(object_path(updated, "deployments"), patch)
        self.d = updated

    def set_revision(self, revision: str) -> bool:
        ann = self.d["metadata"].setdefault("annotations", {})
        if ann.get(REVISION) == revision:
            return False
        ann[REVISION] = revision
        return True

    async def scale_rs(self, rs: Obj, size: int) -> tuple[bool, Obj]:
        """Set spec.replicas and the desired/max-replicas annotations; a size change is an event."""
        d, old_size = self.d, replicas_of(rs)
        desired, maximum = replicas_of(d), replicas_of(d) + max_surge(d)
        ann = rs["metadata"].get("annotations") or {}
        if old_size == size and ann.get(DESIRED_REPLICAS) == str(desired) and ann.get(MAX_REPLICAS) == str(maximum):
            return False, rs
        body = copy.deepcopy(rs)
        body["spec"]["replicas"] = size
        set_replicas_annotations(body, desired, maximum)
        updated = await self.client.update(object_path(body, "replicasets"), body)
        if old_size == size:
            return False, updated
        direction = "up" if old_size < size else "down"
        self.event("Normal", "ScalingReplicaSet",
                   f"Scaled {direction} replica set {rs['metadata']['name']} from {old_size} to {size}")
        return True, updated

    async def scale_and_record(self, rs: Obj, size: int) -> tuple[bool, Obj]:
        return (False, rs) if replicas_of(rs) == size else await self.scale_rs(rs, size)

    # --- the new ReplicaSet and revisions --------------------------------------------------------

    async def get_all(self, rs_list: list[Obj], create: bool) -> tuple[Obj | None, list[Obj]]:
        """(new ReplicaSet, all old ones), syncing the new one's revision and annotations."""
        found = find_new_rs(self.d, rs_list)
        old = [rs for rs in rs_list if found is None or rs["metadata"]["uid"] != found["metadata"]["uid"]]
        return await self.get_new_rs(rs_list, old, create), old

    async def get_new_rs(self, rs_list: list[Obj], old: list[Obj], create: bool) -> Obj | None:
        d = self.d
        spec = d.get("spec") or {}
        existing = find_new_rs(d, rs_list)
        new_revision = max((revision_of(rs) for rs in old), default=0) + 1
        if existing is not None:
            rs = copy.deepcopy(existing)
            min_ready = int(spec.get("minReadySeconds") or 0)
            changed = set_new_rs_annotations(d, rs, new_revision, exists=True)
            if changed or int(rs["spec"].get("minReadySeconds") or 0) != min_ready:
                rs["spec"]["minReadySeconds"] = min_ready
                updated = await self.client.update(object_path(rs, "replicasets"), rs)
                rs_list[rs_list.index(existing)] = updated
                return updated
            needs_update = self.set_revision((rs["metadata"].get("annotations") or {}).get(REVISION, ""))
            if has_progress_deadline(d) and get_condition(self.status, "Progressing") is None:
                set_condition(self.status, new_condition("Progressing", "True", "FoundNewReplicaSet",
                                                         f'Found new replica set "{rs["metadata"]["name"]}"'))
                needs_update = True
            if needs_update:
                await self.write_status()
            return rs
        if not create:
            return None
        template = copy.deepcopy(spec.get("template") or {})
        pod_hash = compute_hash(template, self.status.get("collisionCount"))
        labels = dict((template.get("metadata") or {}).get("labels") or {}, **{HASH_LABEL: pod_hash})
        template.setdefault("metadata", {})["labels"] = labels
        selector = copy.deepcopy(spec.get("selector") or {})
        selector["matchLabels"] = dict(selector.get("matchLabels") or {}, **{HASH_LABEL: pod_hash})
        name, ns = f"{d['metadata']['name']}-{pod_hash}", d["metadata"]["namespace"]
        new_rs: Obj = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
                       "metadata": {"name": name, "namespace": ns, "labels": dict(labels),
                                    "ownerReferences": [owner_reference(d)]},
                       "spec": {"replicas": 0, "minReadySeconds": int(spec.get("minReadySeconds") or 0),
                                "selector": selector, "template": template}}
        count = new_rs_new_replicas(d, [*old, new_rs], new_rs)
        new_rs["spec"]["replicas"] = count
        set_new_rs_annotations(d, new_rs, new_revision, exists=False)
        already_exists = False
        try:
            created = await self.client.create(path_for("apps", "v1", "replicasets", ns), new_rs)
        except ApiError as e:
            if e.status == 409 and e.reason == "AlreadyExists":
                rs = await self.client.get(path_for("apps", "v1", "replicasets", ns, name))
                ref = controller_ref(rs)
                if (ref is None or ref.get("uid") != d["metadata"]["uid"]
                        or not equal_ignore_hash(spec.get("template"), (rs.get("spec") or {}).get("template"))):
                    # a hash collision: bump collisionCount and try again with another name
                    self.status["collisionCount"] = int(self.status.get("collisionCount") or 0) + 1
                    await self.write_status()
                    raise
                created, already_exists = rs, True
            elif namespace_terminating(e):
                raise
            else:
                msg = f'Failed to create new replica set "{name}": {error_text(e)}'
                if has_progress_deadline(d):
                    set_condition(self.status, new_condition("Progressing", "False", "ReplicaSetCreateError", msg))
                    try:
                        await self.write_status()
                    except ApiError:
                        pass
                self.event("Warning", "ReplicaSetCreateError", msg)
                raise
        if not already_exists and count > 0:
            self.event("Normal", "ScalingReplicaSet", f"Scaled up replica set {name} from 0 to {count}")
        needs_update = self.set_revision(str(new_revision))
        if not already_exists and has_progress_deadline(d):
            set_condition(self.status, new_condition("Progressing", "True", "NewReplicaSetCreated",
                                                     f'Created new replica set "{name}"'))
            needs_update = True
        if needs_update:
            await self.write_status()
        rs_list.append(created)
        return created

    # --- pause, scaling events, cleanup ----------------------------------------------------------

    async def check_paused_conditions(self) -> None:
        if not has_progress_deadline(self.d):
            return
        cond = get_condition(self.status, "Progressing")
        if cond is not None and cond.get("reason") == "ProgressDeadlineExceeded":
            return
        paused = bool((self.d.get("spec") or {}).get("paused"))
        paused_cond = cond is not None and cond.get("reason") == "DeploymentPaused"
        if paused and not paused_cond:
            set_condition(self.status, new_condition("Progressing", "Unknown", "DeploymentPaused",
                                                     "Deployment is paused"))
        elif not paused and paused_cond:
            set_condition(self.status, new_condition("Progressing", "Unknown", "DeploymentResumed",
                                                     "Deployment is resumed"))
        else:
            return
        await self.write_status()

    async def is_scaling_event(self, rs_list: list[Obj]) -> bool:
        new_rs, old = await self.get_all(rs_list, False)
        for rs in active([*old, new_rs]):
            desired = _annotation_int(rs, DESIRED_REPLICAS)
            if desired is not None and desired != replicas_of(self.d):
                return True
        return False

    async def sync(self, rs_list: list[Obj]) -> Result | None:
        """Scaling events and paused Deployments: scale (proportionally), clean up, status."""
        new_rs, old = await self.get_all(rs_list, False)
        await self.scale(new_rs, old)
        if (self.d.get("spec") or {}).get("paused"):
            await self.cleanup(old)
        return await self.sync_deployment_status([*old, new_rs], new_rs)

    async def scale(self, new_rs: Obj | None, old: list[Obj]) -> None:
        d, want = self.d, replicas_of(self.d)
        olds = sorted(old, key=_created, reverse=True)
        actives = active([*olds, new_rs])
        if new_rs is not None or olds:
            if len(actives) <= 1:
                target = actives[0] if actives else (new_rs if new_rs is not None else olds[0])
                if replicas_of(target) != want:
                    await self.scale_and_record(target, want)
                return
        desired = _annotation_int(new_rs, DESIRED_REPLICAS) if new_rs is not None else None
        if (new_rs is not None and desired == want and replicas_of(new_rs) == want
                and status_of(new_rs, "availableReplicas") == want):
            for rs in active(list(old)):  # the new ReplicaSet is saturated
                await self.scale_and_record(rs, 0)
            return
        if not is_rolling(d):
            return
        allowed = want + max_surge(d) if want > 0 else 0
        to_add = allowed - total_spec(actives)
        actives.sort(key=_created, reverse=to_add > 0)  # ties: newer first up, older first down
        actives.sort(key=lambda rs: -replicas_of(rs))
        sizes: list[int] = []
        added = 0
        for rs in actives:
            share = get_proportion(rs, d, to_add, added) if to_add else 0
            sizes.append(replicas_of(rs) + share)
            added += share
        for i, rs in enumerate(actives):
            if i == 0 and to_add:
                sizes[0] = max(sizes[0] + to_add - added, 0)
            await self.scale_rs(rs, sizes[i])

    async def cleanup(self, old: list[Obj]) -> None:
        """Delete the oldest ReplicaSets without replicas beyond spec.revisionHistoryLimit."""
        limit = (self.d.get("spec") or {}).get("revisionHistoryLimit")
        if limit is None or limit == MAX_INT32:
            return
        alive = sorted((rs for rs in old if not rs["metadata"].get("deletionTimestamp")),
                       key=lambda rs: (revision_of(rs), _created(rs)))
        for rs in alive[:max(len(alive) - int(limit), 0)]:
            if (status_of(rs, "replicas") or replicas_of(rs)
                    or int(rs["metadata"].get("generation") or 0) > status_of(rs, "observedGeneration")):
                continue
            try:
                await self.client.delete(object_path(rs, "replicasets"))
            except ApiError as e:
                if not e.not_found:
                    raise

    # --- rollouts -------------------------------------------------------------------------------

    async def rollout_rolling(self, rs_list: list[Obj]) -> Result | None:
        new_rs, old = await self.get_all(rs_list, True)
        assert new_rs is not None
        all_rss: list[Obj | None] = [*old, new_rs]
        d, want = self.d, replicas_of(self.d)
        if replicas_of(new_rs) != want:  # scale the new ReplicaSet up within maxSurge (or down to want)
            size = want if replicas_of(new_rs) > want else new_rs_new_replicas(d, all_rss, new_rs)
            if (await self.scale_and_record(new_rs, size))[0]:
                return await self.sync_rollout_status(all_rss, new_rs)
        if await self.reconcile_old(all_rss, active(list(old)), new_rs):
            return await self.sync_rollout_status(all_rss, new_rs)
        if deployment_complete(d, self.status):
            await self.cleanup(old)
        return await self.sync_rollout_status(all_rss, new_rs)

    async def reconcile_old(self, all_rss: list[Obj | None], old: list[Obj], new_rs: Obj) -> bool:
        """Scale old ReplicaSets down without going below replicas - maxUnavailable available pods:
        first their unhealthy replicas, then (oldest first) as far as availability allows."""
        if total_spec(list(old)) == 0:
            return False
        d = self.d
        min_available = replicas_of(d) - max_unavailable(d)
        new_unavailable = replicas_of(new_rs) - status_of(new_rs, "availableReplicas")
        budget = total_spec(all_rss) - min_available - new_unavailable
        if budget <= 0:
            return False
        old = sorted(old, key=_created)
        cleaned = 0
        for i, rs in enumerate(old):
            if cleaned >= budget:
                break
            unhealthy = replicas_of(rs) - _available(rs)
            if replicas_of(rs) == 0 or unhealthy == 0:
                continue
            n = min(budget - cleaned, unhealthy)
            old[i] = (await self.scale_and_record(rs, replicas_of(rs) - n))[1]
            cleaned += n
        available = sum(_available(rs) for rs in old) + status_of(new_rs, "availableReplicas")
        scaled = 0
        if available > min_available:
            for rs in old:
                if scaled >= available - min_available:
                    break
                if replicas_of(rs) == 0:
                    continue
                n = min(replicas_of(rs), available - min_available - scaled)
                await self.scale_and_record(rs, replicas_of(rs) - n)
                scaled += n
        return cleaned + scaled > 0

    async def rollout_recreate(self, rs_list: list[Obj], pod_map: dict[str, list[Obj]]) -> Result | None:
        new_rs, old = await self.get_all(rs_list, False)
        all_rss: list[Obj | None] = [*old, new_rs]
        scaled_down = False
        for rs in active(list(old)):
            scaled_down = (await self.scale_and_record(rs, 0))[0] or scaled_down
        if scaled_down:
            return await self.sync_rollout_status(all_rss, new_rs)
        new_uid = new_rs["metadata"]["uid"] if new_rs is not None else None
        if total_status(list(old), "replicas") > 0 or any(
                (p.get("status") or {}).get("phase") not in ("Failed", "Succeeded")
                for uid, pods in pod_map.items() if uid != new_uid for p in pods):
            return await self.sync_rollout_status(all_rss, new_rs)  # old pods still running
        if new_rs is None:
            new_rs, old = await self.get_all(rs_list, True)
            all_rss = [*old, new_rs]
        assert new_rs is not None
        await self.scale_and_record(new_rs, replicas_of(self.d))
        if deployment_complete(self.d, self.status):
            await self.cleanup(old)
        return await self.sync_rollout_status(all_rss, new_rs)

    # --- status ---------------------------------------------------------------------------------

    async def sync_deployment_status(self, all_rss: list[Obj | None], new_rs: Obj | None) -> Result | None:
        new = compact_status(calculate_status(all_rss, new_rs, self.d))
        if compact_status(self.status) != new:
            self.d["status"] = new
            await self.write_status()
        return None

    async def sync_rollout_status(self, all_rss: list[Obj | None], new_rs: Obj | None) -> Result | None:
        """Status with the Progressing condition (progress, completion, deadline) and ReplicaFailure."""
        d = self.d
        new = calculate_status(all_rss, new_rs, d)
        deadline = has_progress_deadline(d)
        if not deadline:
            remove_condition(new, "Progressing")
        current = get_condition(self.status, "Progressing")
        complete_before = (new["replicas"] == new["updatedReplicas"] and current is not None
                           and current.get("reason") == "NewReplicaSetAvailable")
        what = f'ReplicaSet "{new_rs["metadata"]["name"]}"' if new_rs else f'Deployment "{d["metadata"]["name"]}"'
        if deadline and not complete_before:
            if deployment_complete(d, new):
                set_condition(new, new_condition("Progressing", "True", "NewReplicaSetAvailable",
                                                 f"{what} has successfully progressed."))
            elif deployment_progressing(d, new):
                cond = new_condition("Progressing", "True", "ReplicaSetUpdated", f"{what} is progressing.")
                if current is not None:
                    if current.get("status") == "True":
                        cond["lastTransitionTime"] = current.get("lastTransitionTime")
                    remove_condition(new, "Progressing")
                set_condition(new, cond)
            elif deployment_timed_out(d, new):
                set_condition(new, new_condition("Progressing", "False", "ProgressDeadlineExceeded",
                                                 f"{what} has timed out progressing."))
        failures = [c for rs in ([new_rs] if new_rs is not None else []) for c in rs_conditions(rs)]
        failures = failures or [c for rs in all_rss if rs is not None for c in rs_conditions(rs)]
        if failures:
            set_condition(new, failures[0])
        else:
            remove_condition(new, "ReplicaFailure")
        new = compact_status(new)
        if compact_status(self.status) != new:
            self.d["status"] = new
            await self.write_status()
            return None
        return self.requeue_stuck(new)

    def requeue_stuck(self, new: Obj) -> Result | None:
        """When the rollout may hit its progress deadline, look again just after it would."""
        d = self.d
        current = get_condition(self.status, "Progressing")
        if not has_progress_deadline(d) or current is None:
            return None
        if deployment_complete(d, new) or current.get("reason") == "ProgressDeadlineExceeded":
            return None
        since = parse_time(current.get("lastUpdateTime")) or _EPOCH
        after = (since + dt.timedelta(seconds=int(d["spec"]["progressDeadlineSeconds"])) - utcnow()).total_seconds()
        return Result(requeue_after=1.0 if after < 1 else after + 1)


def rs_conditions(rs: Obj) -> list[Obj]:
    """A ReplicaSet's ReplicaFailure condition as a Deployment condition."""
    return [{"type": "ReplicaFailure", "status": c.get("status"), "lastUpdateTime": c.get("lastTransitionTime"),
             "lastTransitionTime": c.get("lastTransitionTime"), "reason": c.get("reason"),
             "message": c.get("message")}
            for c in (rs.get("status") or {}).get("conditions") or [] if c.get("type") == "ReplicaFailure"]
