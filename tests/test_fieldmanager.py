"""The field manager: FieldsV1 encoding, managedFields bookkeeping and server-side apply, against what a real
1.37 cluster records (expected values written from upstream's encoding rules and real cluster output)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from apiserver.errors import StatusError
from apiserver.fieldmanager import (
    LAST_APPLIED,
    ApplyConflict,
    FieldManagerError,
    FieldSet,
    Schema,
    apply,
    default_reset_fields,
    fieldset_of,
    from_fields_v1,
    manager_from_user_agent,
    path_string,
    to_fields_v1,
    update_managed_fields,
)
from apiserver.fieldmanager.fieldpath import field_pe, key_pe, value_pe
from schemas.defaults import apply_defaults

Obj = dict[str, Any]
DEPLOY = Schema.for_kind("apps", "v1", "Deployment")
T0, T1, T2, T3 = (f"2026-07-01T00:00:0{i}Z" for i in range(4))


def deployment(replicas: int | None = 2, image: str = "nginx:1.27", **spec: Any) -> Obj:
    d: Obj = {"apiVersion": "apps/v1", "kind": "Deployment",
              "metadata": {"name": "nginx", "namespace": "default", "labels": {"app": "nginx"}},
              "spec": {"selector": {"matchLabels": {"app": "nginx"}},
                       "template": {"metadata": {"labels": {"app": "nginx"}},
                                    "spec": {"containers": [{"name": "nginx", "image": image}]}}, **spec}}
    if replicas is not None:
        d["spec"]["replicas"] = replicas
    return d


def entries(obj: Obj) -> dict[str, Obj]:
    return {e["manager"]: e for e in obj["metadata"].get("managedFields", [])}


def stored(obj: Obj) -> Obj:
    """What the store would hold: uid set, so later writes are updates of an existing object."""
    obj["metadata"].setdefault("uid", "0b9d9a9e-0000-4000-8000-000000000001")
    return obj


def created(manager: str = "kubectl-create", obj: Obj | None = None) -> Obj:
    d = obj if obj is not None else deployment(replicas=1, image="nginx")
    apply_defaults("apps", "v1", "Deployment", d)
    update_managed_fields(None, d, manager=manager, api_version="apps/v1", time=T0, schema=DEPLOY,
                          reset_fields=default_reset_fields())
    return stored(d)


def ssa(live: Obj | None, cfg: Obj, manager: str, *, force: bool = False, time: str = T1) -> Obj:
    return stored(apply(live, cfg, manager=manager, force=force, api_version="apps/v1", schema=DEPLOY, time=time))


# --- FieldsV1 ------------------------------------------------------------------------------------

KUBECTL_CREATE_DEPLOYMENT = {
    "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
    "f:spec": {
        "f:progressDeadlineSeconds": {}, "f:replicas": {}, "f:revisionHistoryLimit": {}, "f:selector": {},
        "f:strategy": {"f:rollingUpdate": {".": {}, "f:maxSurge": {}, "f:maxUnavailable": {}}, "f:type": {}},
        "f:template": {
            "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
            "f:spec": {
                "f:containers": {'k:{"name":"nginx"}': {
                    ".": {}, "f:image": {}, "f:imagePullPolicy": {}, "f:name": {}, "f:resources": {},
                    "f:terminationMessagePath": {}, "f:terminationMessagePolicy": {}}},
                "f:dnsPolicy": {}, "f:restartPolicy": {}, "f:schedulerName": {}, "f:securityContext": {},
                "f:terminationGracePeriodSeconds": {}}}}}


def test_create_records_fields_as_a_cluster_does() -> None:
    d = created()
    [e] = d["metadata"]["managedFields"]
    assert e == {"manager": "kubectl-create", "operation": "Update", "apiVersion": "apps/v1", "time": T0,
                 "fieldsType": "FieldsV1", "fieldsV1": KUBECTL_CREATE_DEPLOYMENT}
    # byte order as upstream serializes it
    assert json.dumps(e["fieldsV1"]) == json.dumps(KUBECTL_CREATE_DEPLOYMENT)


def test_applied_fieldset_encoding() -> None:
    cfg = deployment()
    cfg["spec"]["template"]["spec"]["containers"][0]["ports"] = [{"containerPort": 80}]
    cfg["spec"]["template"]["spec"]["containers"][0]["args"] = ["-v", "-x"]
    cfg["metadata"]["finalizers"] = ["b.io/x", "a.io/y"]
    got = to_fields_v1(fieldset_of(cfg, DEPLOY))
    assert got == {
        "f:apiVersion": {}, "f:kind": {},
        "f:metadata": {"f:finalizers": {'v:"a.io/y"': {}, 'v:"b.io/x"': {}}, "f:labels": {"f:app": {}},
                       "f:name": {}, "f:namespace": {}},
        "f:spec": {"f:replicas": {}, "f:selector": {}, "f:template": {
            "f:metadata": {"f:labels": {"f:app": {}}},
            "f:spec": {"f:containers": {'k:{"name":"nginx"}': {
                ".": {}, "f:args": {}, "f:image": {}, "f:name": {},
                # the protocol key comes from the schema default
                "f:ports": {'k:{"containerPort":80,"protocol":"TCP"}': {".": {}, "f:containerPort": {}}}}}}}}}


def test_fields_v1_round_trip_and_ordering() -> None:
    s = FieldSet.of((field_pe("spec"),), (field_pe("spec"), field_pe("b")),
                    (field_pe("spec"), key_pe([("port", 80), ("protocol", "TCP")])),
                    (field_pe("spec"), value_pe("x<y")), (field_pe("a"),))
    enc = to_fields_v1(s)
    assert list(enc) == ["f:a", "f:spec"]
    assert list(enc["f:spec"]) == [".", "f:b", 'k:{"port":80,"protocol":"TCP"}', 'v:"x\\u003cy"']
    assert from_fields_v1(enc) == s
    assert from_fields_v1(json.loads(json.dumps(enc))) == s
    assert from_fields_v1({"f:x": {"z:unknown": {}}}) == FieldSet.of((field_pe("x"),))


def test_path_strings() -> None:
    p = (field_pe("spec"), field_pe("containers"), key_pe([("name", "nginx")]), field_pe("image"))
    assert path_string(p) == '.spec.containers[name="nginx"].image'
    assert path_string((field_pe("f"), value_pe(1.5), key_pe([("b", True), ("a", 3)]))) == \
        ".f[=1.5][a=3,b=true]"


# --- Update bookkeeping --------------------------------------------------------------------------


def test_update_moves_changed_fields_to_the_writer() -> None:
    live = created()
    new = copy.deepcopy(live)
    new["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:2"
    new["metadata"]["labels"]["tier"] = "web"
    update_managed_fields(live, new, manager="kubectl-edit", api_version="apps/v1", time=T1, schema=DEPLOY)
    es = entries(new)
    assert [e["manager"] for e in new["metadata"]["managedFields"]] == ["kubectl-create", "kubectl-edit"]
    assert es["kubectl-edit"]["fieldsV1"] == {
        "f:metadata": {"f:labels": {"f:tier": {}}},
        "f:spec": {"f:template": {"f:spec": {"f:containers": {'k:{"name":"nginx"}': {"f:image": {}}}}}}}
    create = es["kubectl-create"]["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"]
    assert "f:image" not in create['k:{"name":"nginx"}']
    assert es["kubectl-create"]["time"] == T0


def test_unchanged_update_keeps_entries_and_times() -> None:
    live = created()
    new = copy.deepcopy(live)
    update_managed_fields(live, new, manager="other", api_version="apps/v1", time=T2, schema=DEPLOY)
    assert new["metadata"]["managedFields"] == live["metadata"]["managedFields"]


def test_removed_field_leaves_its_owner_and_empty_entries_go() -> None:
    live = created()
    new = copy.deepcopy(live)
    new["metadata"]["labels"]["x"] = "1"
    update_managed_fields(live, new, manager="labeler", api_version="apps/v1", time=T1, schema=DEPLOY)
    newer = copy.deepcopy(stored(new))
    del newer["metadata"]["labels"]["x"]
    update_managed_fields(new, newer, manager="cleaner", api_version="apps/v1", time=T2, schema=DEPLOY)
    assert set(entries(newer)) == {"kubectl-create"}


def test_status_subresource_entry() -> None:
    live = created()
    new = copy.deepcopy(live)
    new["status"] = {"replicas": 1, "observedGeneration": 1}
    new["metadata"]["managedFields"] = []  # ignored on a subresource
    update_managed_fields(live, new, manager="kube-controller-manager", api_version="apps/v1",
                          subresource="status", time=T1, schema=DEPLOY, reset_fields=default_reset_fields("status"))
    e = entries(new)["kube-controller-manager"]
    assert e == {"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "apps/v1",
                 "time": T1, "fieldsType": "FieldsV1",
                 "fieldsV1": {"f:status": {"f:observedGeneration": {}, "f:replicas": {}}},
                 "subresource": "status"}
    assert len(new["metadata"]["managedFields"]) == 2


def test_request_managed_fields_honoured_reset_and_invalid() -> None:
    live = created()
    new = copy.deepcopy(live)
    new["metadata"]["managedFields"][0]["manager"] = "renamed"
    update_managed_fields(live, new, manager="x", api_version="apps/v1", time=T1, schema=DEPLOY)
    assert set(entries(new)) == {"renamed"}

    for reset in ([], [{}]):
        new = copy.deepcopy(live)
        new["metadata"]["managedFields"] = reset
        new["spec"]["replicas"] = 5
        update_managed_fields(live, new, manager="x", api_version="apps/v1", time=T1, schema=DEPLOY)
        assert "managedFields" not in new["metadata"]

    new = copy.deepcopy(live)
    new["metadata"]["managedFields"] = [{"manager": "bad", "operation": "Delete", "apiVersion": "v1",
                                         "fieldsType": "FieldsV1", "fieldsV1": {}}]
    update_managed_fields(live, new, manager="x", api_version="apps/v1", time=T1, schema=DEPLOY)
    assert new["metadata"]["managedFields"] == live["metadata"]["managedFields"]


def test_update_managers_are_capped() -> None:
    live = created()
    for i in range(12):
        new = copy.deepcopy(live)
        new["metadata"]["labels"][f"l{i}"] = "v"
        update_managed_fields(live, new, manager=f"m{i:02d}", api_version="apps/v1",
                              time=f"2026-07-01T00:01:{i:02d}Z", schema=DEPLOY)
        live = new
    names = [e["manager"] for e in live["metadata"]["managedFields"]]
    assert len(names) == 10 and "ancient-changes" in names and "kubectl-create" not in names


def test_default_manager_from_user_agent() -> None:
    assert manager_from_user_agent("", "kubectl/v1.37.0 (linux/amd64) kubernetes/abcdef") == "kubectl"
    assert manager_from_user_agent(None, "Python-urllib/3.11") == "Python-urllib"
    assert manager_from_user_agent(None, "OpenAPI-Generator/37.0.0/python") == "OpenAPI-Generator"
    assert manager_from_user_agent("kubectl-client-side-apply", "kubectl/v1.37.0") == "kubectl-client-side-apply"
    assert manager_from_user_agent(None, "a\tb\x00c/1") == "abc"
    assert manager_from_user_agent(None, "x" * 200) == "x" * 128


# --- server-side apply ---------------------------------------------------------------------------


def test_apply_creates_the_object() -> None:
    obj = ssa(None, deployment(), "kubectl", time=T0)
    assert obj["spec"]["replicas"] == 2 and obj["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
    assert list(obj)[:3] == ["apiVersion", "kind", "metadata"]
    [e] = obj["metadata"]["managedFields"]
    assert e == {"manager": "kubectl", "operation": "Apply", "apiVersion": "apps/v1", "time": T0,
                 "fieldsType": "FieldsV1", "fieldsV1": {
                     "f:metadata": {"f:labels": {"f:app": {}}},
                     "f:spec": {"f:replicas": {}, "f:selector": {}, "f:template": {
                         "f:metadata": {"f:labels": {"f:app": {}}},
                         "f:spec": {"f:containers": {'k:{"name":"nginx"}': {".": {}, "f:image": {}, "f:name": {}}}}}}}}


def test_conflict_then_force_takes_ownership() -> None:
    live = ssa(None, deployment(), "kubectl", time=T0)
    scale = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "nginx"}, "spec": {"replicas": 3}}
    with pytest.raises(ApplyConflict) as ei:
        ssa(live, scale, "autoscaler")
    err = ei.value
    assert err.message == 'Apply failed with 1 conflict: conflict with "kubectl": .spec.replicas'
    assert err.status()["code"] == 409 and err.status()["reason"] == "Conflict"
    assert err.status()["details"] == {"causes": [
        {"reason": "FieldManagerConflict", "message": 'conflict with "kubectl"', "field": ".spec.replicas"}]}
    assert err.pairs() == [("kubectl", ".spec.replicas")]

    forced = ssa(live, scale, "autoscaler", force=True, time=T2)
    assert forced["spec"]["replicas"] == 3
    es = entries(forced)
    assert es["autoscaler"]["fieldsV1"] == {"f:spec": {"f:replicas": {}}}
    assert "f:replicas" not in es["kubectl"]["fieldsV1"]["f:spec"]
    assert es["kubectl"]["time"] == T0


def test_conflicts_with_an_updater_list_every_path() -> None:
    live = created("kubectl-client-side-apply", deployment(replicas=2, image="nginx"))
    cfg = deployment(replicas=5, image="nginx:2")
    with pytest.raises(ApplyConflict) as ei:
        ssa(live, cfg, "argo")
    assert ei.value.message == (
        'Apply failed with 2 conflicts: conflicts with "kubectl-client-side-apply" using apps/v1:\n'
        "- .spec.replicas\n"
        '- .spec.template.spec.containers[name="nginx"].image')
    assert [c["message"] for c in ei.value.status()["details"]["causes"]] == \
        ['conflict with "kubectl-client-side-apply" using apps/v1'] * 2


def test_same_value_is_shared_and_dropping_it_keeps_it() -> None:
    live = ssa(None, deployment(), "a", time=T0)
    live = ssa(live, deployment(), "b", time=T1)  # same values: no conflict, both own them
    assert entries(live)["b"]["fieldsV1"] == entries(live)["a"]["fieldsV1"]
    only_labels = {"apiVersion": "apps/v1", "kind": "Deployment",
                   "metadata": {"name": "nginx", "labels": {"app": "nginx"}}}
    after = ssa(live, only_labels, "a", time=T2)
    assert after["spec"]["replicas"] == 2  # still owned by "b"
    assert entries(after)["a"]["fieldsV1"] == {"f:metadata": {"f:labels": {"f:app": {}}}}


def test_dropping_an_owned_field_removes_it() -> None:
    live = ssa(None, deployment(minReadySeconds=5), "kubectl", time=T0)
    after = ssa(live, deployment(), "kubectl", time=T1)
    assert "minReadySeconds" not in after["spec"]
    assert "f:minReadySeconds" not in entries(after)["kubectl"]["fieldsV1"]["f:spec"]


def test_list_items_merge_and_are_removed_by_key() -> None:
    cfg = deployment()
    cfg["spec"]["template"]["spec"]["containers"].append({"name": "sidecar", "image": "busybox"})
    cfg["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    live = ssa(None, cfg, "kubectl", time=T0)
    # another manager adds a container of its own
    other = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "nginx"},
             "spec": {"template": {"spec": {"containers": [{"name": "injected", "image": "envoy"}]}}}}
    live = ssa(live, other, "injector", time=T1)
    names = [c["name"] for c in live["spec"]["template"]["spec"]["containers"]]
    assert names == ["nginx", "sidecar", "injected"]

    cfg2 = deployment()
    cfg2["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "B", "value": "3"}]
    after = ssa(live, cfg2, "kubectl", time=T2)
    containers = after["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["nginx", "injected"]
    assert containers[0]["env"] == [{"name": "B", "value": "3"}]
    kc = entries(after)["kubectl"]["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"]
    assert list(kc) == ['k:{"name":"nginx"}']
    assert list(kc['k:{"name":"nginx"}']["f:env"]) == ['k:{"name":"B"}']


def test_no_op_apply_keeps_time() -> None:
    live = ssa(None, deployment(), "kubectl", time=T0)
    again = ssa(live, deployment(), "kubectl", time=T3)
    assert again == live


def test_first_apply_to_untracked_object_conflicts_with_before_first_apply() -> None:
    live = stored(deployment())
    scale = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "nginx"}, "spec": {"replicas": 9}}
    with pytest.raises(ApplyConflict) as ei:
        ssa(live, scale, "m")
    assert ei.value.message == \
        'Apply failed with 1 conflict: conflict with "before-first-apply" using apps/v1: .spec.replicas'


def test_kubectl_takes_over_client_side_applied_fields() -> None:
    base = deployment(replicas=2, image="nginx")
    live = copy.deepcopy(base)
    live["metadata"]["annotations"] = {LAST_APPLIED: json.dumps(base) + "\n"}
    live = created("kubectl-client-side-apply", live)
    cfg = deployment(replicas=3, image="nginx")
    with pytest.raises(ApplyConflict):
        ssa(live, cfg, "not-kubectl")
    out = ssa(live, cfg, "kubectl")
    assert out["spec"]["replicas"] == 3
    es = entries(out)
    assert es["kubectl"]["operation"] == "Apply"
    assert "f:replicas" not in es["kubectl-client-side-apply"]["fieldsV1"]["f:spec"]
    # the annotation now records what was server-side applied, as Go's json.Encoder writes it
    assert out["metadata"]["annotations"][LAST_APPLIED] == json.dumps(
        cfg, sort_keys=True, separators=(",", ":")) + "\n"


def test_kubectl_csa_upgrade_patch_is_honoured() -> None:
    """kubectl >= 1.26 rewrites managedFields with a JSON patch before its first server-side apply."""
    live = created("kubectl-client-side-apply", deployment(replicas=2, image="nginx"))
    patched = copy.deepcopy(live)
    patched["metadata"]["managedFields"][0].update(manager="kubectl", operation="Apply")
    update_managed_fields(live, patched, manager="kubectl", api_version="apps/v1", time=T1, schema=DEPLOY)
    stored(patched)
    assert [(e["manager"], e["operation"]) for e in patched["metadata"]["managedFields"]] == [("kubectl", "Apply")]
    out = ssa(patched, deployment(replicas=3, image="nginx"), "kubectl", time=T2)
    assert out["spec"]["replicas"] == 3
    assert "progressDeadlineSeconds" not in out["spec"]  # owned before, not applied now: pruned


def test_apply_errors() -> None:
    with pytest.raises(StatusError) as ei:
        ssa(None, {**deployment(), "apiVersion": "apps/v1beta1"}, "m")
    assert ei.value.code == 400 and ei.value.message == "invalid object type: apps/v1beta1, Kind=Deployment"
    with_mf = deployment()
    with_mf["metadata"]["managedFields"] = []
    with pytest.raises(StatusError, match="metadata.managedFields must be nil"):
        ssa(None, with_mf, "m")
    dup = deployment()
    dup["spec"]["template"]["spec"]["containers"].append({"name": "nginx", "image": "x"})
    with pytest.raises(FieldManagerError) as fe:
        ssa(None, dup, "m")
    assert fe.value.code == 500 and "reason" not in fe.value.status()
    assert fe.value.message == ("failed to create typed patch object (default/nginx; apps/v1, Kind=Deployment): "
                                '.spec.template.spec.containers: duplicate entries for key [name="nginx"]')
    unknown = deployment(foo=1)
    with pytest.raises(FieldManagerError, match=r"\.spec\.foo: field not declared in schema"):
        ssa(None, unknown, "m")


# --- schemas other than built-in ones ------------------------------------------------------------

CRD_SCHEMA = {"type": "object", "properties": {
    "spec": {"type": "object", "properties": {
        "ports": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["port"],
                  "items": {"type": "object", "properties": {"port": {"type": "integer"},
                                                             "name": {"type": "string"}}}},
        "tags": {"type": "array", "items": {"type": "string"}},
        "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}}}


def test_crd_schema_and_deduced() -> None:
    crd = Schema.from_openapi(CRD_SCHEMA, group="example.com", version="v1", kind="Widget")
    obj = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
           "spec": {"ports": [{"port": 80, "name": "http"}], "tags": ["a"], "extra": {"x": {"y": 1}}}}
    assert to_fields_v1(fieldset_of(obj, crd))["f:spec"] == {
        "f:extra": {"f:x": {".": {}, "f:y": {}}}, "f:ports": {'k:{"port":80}': {".": {}, "f:name": {}, "f:port": {}}},
        "f:tags": {}}
    deduced = Schema.deduced()
    assert to_fields_v1(fieldset_of(obj, deduced))["f:spec"] == {
        ".": {}, "f:extra": {".": {}, "f:x": {".": {}, "f:y": {}}}, "f:ports": {}, "f:tags": {}}
    out = apply(None, obj, manager="m", force=False, api_version="example.com/v1", schema=crd, time=T0)
    assert out["spec"] == obj["spec"]
