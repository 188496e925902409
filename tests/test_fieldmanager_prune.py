"""The managedFields update compares only what differs between the live and the new object (equal map
entries pruned, zero values both sides would get not filled in): its outcome must be exactly that of
comparing the whole Go-shaped objects, checked here against that computation."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from apiserver.fieldmanager import Schema, default_reset_fields, operations, update_managed_fields

Obj = dict[str, Any]
T0, T1 = "2026-07-01T00:00:00Z", "2026-07-01T00:00:09Z"
NODE = Schema.for_kind("", "v1", "Node")


def node() -> Obj:
    conds = [{"type": t, "status": "False", "lastHeartbeatTime": T0, "lastTransitionTime": T0, "reason": f"No{t}",
              "message": "ok"} for t in ("MemoryPressure", "DiskPressure", "PIDPressure")]
    conds.append({"type": "Ready", "status": "True", "lastHeartbeatTime": T0, "lastTransitionTime": T0,
                  "reason": "KubeletReady", "message": "ready"})
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": "n1", "labels": {"a": "1", "b": "2"}, "annotations": {"x": "y"}},
            "spec": {"podCIDR": "10.0.0.0/24", "taints": [{"key": "k", "effect": "NoSchedule"}]},
            "status": {"capacity": {"cpu": "2", "memory": "4Gi"}, "allocatable": {"cpu": "2", "memory": "4Gi"},
                       "conditions": conds, "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}],
                       "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                       "nodeInfo": {"kubeletVersion": "v1.37.0", "machineID": "m"}}}


def heartbeat(n: Obj) -> None:
    for c in n["status"]["conditions"]:
        c["lastHeartbeatTime"] = T1


def drop_label(n: Obj) -> None:
    del n["metadata"]["labels"]["a"]


def drop_all_labels(n: Obj) -> None:
    n["metadata"]["labels"] = {}


def add_label(n: Obj) -> None:
    n["metadata"]["labels"]["c"] = "3"


def bool_for_int(n: Obj) -> None:
    n["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"] = True


def ready_unknown(n: Obj) -> None:
    n["status"]["conditions"][3].update(status="Unknown", reason="NodeStatusUnknown")


def drop_capacity(n: Obj) -> None:
    del n["status"]["capacity"]["memory"]
    n["status"]["allocatable"] = {}


def spec_and_status(n: Obj) -> None:
    n["spec"]["unschedulable"] = True
    n["spec"]["taints"] = []
    n["status"]["nodeInfo"]["kubeletVersion"] = "v1.37.1"


def drop_go_zero_fields(n: Obj) -> None:
    del n["status"]["nodeInfo"]["kubeletVersion"]  # a non-omitempty string: "" to Go, not absent
    del n["status"]["daemonEndpoints"]["kubeletEndpoint"]


def nothing(n: Obj) -> None:
    pass


MUTATIONS: list[Callable[[Obj], None]] = [heartbeat, drop_label, drop_all_labels, add_label, bool_for_int,
                                          ready_unknown, drop_capacity, spec_and_status, drop_go_zero_fields, nothing]


def managed(live: Obj, new: Obj, manager: str, subresource: str) -> Any:
    new = copy.deepcopy(new)
    update_managed_fields(copy.deepcopy(live), new, manager=manager, api_version="v1", subresource=subresource,
                          time=T1, schema=NODE, reset_fields=default_reset_fields(subresource))
    return new["metadata"].get("managedFields")


@pytest.mark.parametrize("subresource", ["", "status"])
@pytest.mark.parametrize("mutate", MUTATIONS, ids=lambda f: f.__name__)
def test_pruned_comparison_matches_the_whole_one(mutate: Callable[[Obj], None], subresource: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    live = node()
    update_managed_fields(None, live, manager="kubelet", api_version="v1", time=T0, schema=NODE)
    live["metadata"]["uid"] = "u1"
    other = copy.deepcopy(live)
    ready_unknown(other)
    other["metadata"]["labels"]["b"] = "22"
    update_managed_fields(live, other, manager="node-controller", api_version="v1", subresource="status",
                          time=T0, schema=NODE)
    new = copy.deepcopy(other)
    new["metadata"].pop("managedFields")
    mutate(new)
    for manager in ("kubelet", "node-controller", "someone"):
        fast = managed(other, new, manager, subresource)
        with monkeypatch.context() as m:
            m.setattr(operations, "_typed_pair",
                      lambda live, new, schema: (operations._typed(live, schema), operations._typed(new, schema)))
            whole = managed(other, new, manager, subresource)
        assert fast == whole, (manager, mutate.__name__)
    if mutate is heartbeat and subresource == "status":
        assert fast != other["metadata"]["managedFields"]  # the writer's entry got its time


def test_prune_keeps_only_differences() -> None:
    a = {"m": {"x": 1, "y": {"z": 1, "w": [1]}}, "gone": 1, "l": [1, 2], "b": True}
    b = {"m": {"x": 1, "y": {"z": 2, "w": [1]}}, "new": 2, "l": [1, 2], "b": 1}
    assert operations._prune_equal(a, b) == ({"m": {"y": {"z": 1}}, "gone": 1, "b": True},
                                             {"m": {"y": {"z": 2}}, "new": 2, "b": 1})


DEPLOY = Schema.for_kind("apps", "v1", "Deployment")


def deployment() -> Obj:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web", "tier": "x"},
                         "annotations": {"a": "b"}},
            "spec": {"replicas": 3, "paused": False, "selector": {"matchLabels": {"app": "web"}},
                     "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "c", "image": "nginx", "ports": [
                                      {"containerPort": 80, "protocol": "TCP"}], "resources": {
                                      "limits": {"cpu": "1"}}, "env": [{"name": "A", "value": "1"}]}],
                                      "nodeSelector": {"k": "v"}, "hostNetwork": False}}},
            "status": {"replicas": 3, "readyReplicas": 3, "observedGeneration": 1,
                       "conditions": [{"type": "Available", "status": "True", "reason": "ok"}]}}


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.append((*prefix, k))
            out += _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _paths(v, (*prefix, i))
    return out


def _mutate(obj: Obj, rng: Any) -> None:
    path = rng.choice([p for p in _paths(obj) if len(p) > 1 and p[:2] != ("metadata", "name")])
    parent: Any = obj
    for k in path[:-1]:
        parent = parent[k]
    key, value = path[-1], parent[path[-1]]
    choice = rng.randrange(5)
    if choice == 0:
        del parent[key]
    elif choice == 1:
        parent[key] = {str: "", int: 0, bool: False, dict: {}, list: []}.get(type(value), None)
    elif choice == 2:
        parent[key] = None
    elif choice == 3:
        parent[key] = {str: value + "x" if isinstance(value, str) else "x", int: 7, bool: True}.get(
            type(value), {"extra": "1"})
    elif isinstance(parent, dict):
        parent[f"new{rng.randrange(3)}"] = rng.choice(["v", 0, "", False, {}, {"x": "y"}])


def _drop_condition_status(d: Obj) -> None:
    del d["status"]["conditions"][0]["status"]


def _drop_template(d: Obj) -> None:
    del d["spec"]["template"]


def _null_strategy(d: Obj) -> None:
    d["spec"]["strategy"] = None


def test_random_deployment_changes_match_the_whole_comparison(monkeypatch: pytest.MonkeyPatch) -> None:
    import random

    rng = random.Random(1137)
    targeted = [_drop_condition_status, _drop_template, _null_strategy]
    for case in range(150 + len(targeted)):
        live = deployment()
        update_managed_fields(None, live, manager="creator", api_version="apps/v1", time=T0, schema=DEPLOY)
        live["metadata"]["uid"] = "u1"
        new = copy.deepcopy(live)
        new["metadata"].pop("managedFields")
        if case < len(targeted):
            targeted[case](new)
        for _ in range(rng.randrange(1, 4) if case >= len(targeted) else 0):
            _mutate(new, rng)
        for manager, sub in (("creator", ""), ("other", ""), ("other", "status")):
            def run(live: Obj = live, new: Obj = new, manager: str = manager, sub: str = sub) -> Any:
                n = copy.deepcopy(new)
                update_managed_fields(copy.deepcopy(live), n, manager=manager, api_version="apps/v1",
                                      subresource=sub, time=T1, schema=DEPLOY,
                                      reset_fields=default_reset_fields(sub))
                return n["metadata"].get("managedFields")

            fast = run()
            with monkeypatch.context() as m:
                m.setattr(operations, "_typed_pair", lambda live, new, schema: (
                    operations._typed(live, schema), operations._typed(new, schema)))
                whole = run()
            assert fast == whole, (case, manager, sub, new)
