"""Strategic merge patch against upstream's documented behaviour, on the real 1.37 schemas."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from apiserver.patch import merge_patch
from apiserver.strategicpatch import (
    PatchError,
    PatchMeta,
    create_merge_patch,
    create_two_way_merge_patch,
    patch_meta_for,
    strategic_merge,
)
from schemas import loader

SCHEMAS = loader.load("1.37")
KINDS = {
    "Deployment": ("apps", "v1", "Deployment"),
    "Pod": ("", "v1", "Pod"),
    "Service": ("", "v1", "Service"),
    "PDB": ("policy", "v1", "PodDisruptionBudget"),
}


def canon(obj: Any) -> str:
    """Order-sensitive for lists, not for keys; tells 1, 1.0 and true apart."""
    return json.dumps(obj, sort_keys=True)


def meta(kind: str) -> PatchMeta:
    return patch_meta_for(SCHEMAS, *KINDS[kind])


def container(name: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, **fields}


def deployment(*containers: dict[str, Any], **pod_spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web", "tier": "fe"}, "annotations": {"a": "1"},
                     "finalizers": ["f1", "f2"]},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                 "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": list(containers), **pod_spec}}},
    }


def pod_patch(**pod_spec: Any) -> dict[str, Any]:
    return {"spec": {"template": {"spec": pod_spec}}}


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = obj["spec"]["template"]["spec"]
    return spec


NGINX = container("nginx", image="nginx:1.1", ports=[{"containerPort": 80}, {"containerPort": 443}],
                  env=[{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                  volumeMounts=[{"name": "data", "mountPath": "/data"}, {"name": "tmp", "mountPath": "/tmp"}])
SIDECAR = container("sidecar", image="envoy")
BASE = deployment(NGINX, SIDECAR, volumes=[{"name": "data", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}}],
                  tolerations=[{"key": "k1", "operator": "Exists"}], nodeSelector={"disk": "ssd"})


def edited(**changes: Any) -> dict[str, Any]:
    """BASE's pod spec with ``changes`` (dotted paths into containers by name are not needed here)."""
    obj = copy.deepcopy(BASE)
    pod_spec(obj).update(changes)
    return obj


def with_nginx(**fields: Any) -> dict[str, Any]:
    return edited(containers=[{**NGINX, **fields}, SIDECAR])


# (id, original, patch, expected pod spec or whole object)
POD_SPEC_CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("containers merge by name",
     pod_patch(containers=[{"name": "nginx", "image": "nginx:1.2"}]),
     pod_spec(with_nginx(image="nginx:1.2"))),
    ("a new container goes before the server's (kubectl patch docs)",
     pod_patch(containers=[{"name": "redis", "image": "redis"}]),
     pod_spec(edited(containers=[container("redis", image="redis"), NGINX, SIDECAR]))),
    ("ports merge by containerPort",
     pod_patch(containers=[{"name": "nginx", "ports": [{"containerPort": 443, "name": "https"}]}]),
     pod_spec(with_nginx(ports=[{"containerPort": 80}, {"containerPort": 443, "name": "https"}]))),
    ("env merges by name, a new entry first",
     pod_patch(containers=[{"name": "nginx", "env": [{"name": "B", "value": "3"}, {"name": "C", "value": "4"}]}]),
     pod_spec(with_nginx(env=[{"name": "A", "value": "1"}, {"name": "B", "value": "3"}, {"name": "C", "value": "4"}]))),
    ("volumeMounts merge by mountPath",
     pod_patch(containers=[{"name": "nginx", "volumeMounts": [{"mountPath": "/tmp", "readOnly": True}]}]),
     pod_spec(with_nginx(volumeMounts=[{"name": "data", "mountPath": "/data"},
                                       {"name": "tmp", "mountPath": "/tmp", "readOnly": True}]))),
    ("volumes merge by name",
     pod_patch(volumes=[{"name": "tmp", "emptyDir": {"medium": "Memory"}}]),
     pod_spec(edited(volumes=[{"name": "data", "emptyDir": {}}, {"name": "tmp", "emptyDir": {"medium": "Memory"}}]))),
    ("$retainKeys on a volume drops its old source",
     pod_patch(volumes=[{"name": "tmp", "hostPath": {"path": "/x"}, "$retainKeys": ["hostPath", "name"]}]),
     pod_spec(edited(volumes=[{"name": "data", "emptyDir": {}}, {"name": "tmp", "hostPath": {"path": "/x"}}]))),
    ("tolerations have no strategy: replaced",
     pod_patch(tolerations=[{"key": "k2", "operator": "Exists"}]),
     pod_spec(edited(tolerations=[{"key": "k2", "operator": "Exists"}]))),
    ("resources.claims is list-type=map without patch strategy: replaced",
     pod_patch(containers=[{"name": "nginx", "resources": {"claims": [{"name": "gpu"}]}}]),
     pod_spec(with_nginx(resources={"claims": [{"name": "gpu"}]}))),
    ("$patch: delete removes a container",
     pod_patch(containers=[{"name": "sidecar", "$patch": "delete"}]),
     pod_spec(edited(containers=[NGINX]))),
    ("$patch: delete of an absent item is a no-op",
     pod_patch(containers=[{"name": "nope", "$patch": "delete"}]),
     pod_spec(BASE)),
    ("$patch: replace on a list",
     pod_patch(containers=[{"$patch": "replace"}, {"name": "only", "image": "x"}]),
     pod_spec(edited(containers=[container("only", image="x")]))),
    ("$patch: replace on a map",
     pod_patch(nodeSelector={"$patch": "replace", "zone": "a"}),
     pod_spec(edited(nodeSelector={"zone": "a"}))),
    ("$patch: delete on a map leaves it empty",
     pod_patch(nodeSelector={"$patch": "delete"}),
     pod_spec(edited(nodeSelector={}))),
    ("$patch on a map the original lacks drops it",
     pod_patch(securityContext={"$patch": "replace", "runAsUser": 1}),
     pod_spec(BASE)),
    ("$setElementOrder/containers as kubectl apply sends it",
     pod_patch(**{"$setElementOrder/containers": [{"name": "nginx"}, {"name": "sidecar"}],
                  "containers": [{"name": "nginx", "image": "nginx:1.2"}]}),
     pod_spec(with_nginx(image="nginx:1.2"))),
    ("$setElementOrder reorders without content changes",
     pod_patch(**{"$setElementOrder/containers": [{"name": "sidecar"}, {"name": "nginx"}]}),
     pod_spec(edited(containers=[SIDECAR, NGINX]))),
    ("$setElementOrder places an added container",
     pod_patch(**{"$setElementOrder/containers": [{"name": "nginx"}, {"name": "redis"}, {"name": "sidecar"}],
                  "containers": [{"name": "redis", "image": "redis"}]}),
     pod_spec(edited(containers=[NGINX, container("redis", image="redis"), SIDECAR]))),
    ("$setElementOrder for a list the original lacks drops directive items",
     pod_patch(**{"$setElementOrder/initContainers": [{"name": "b"}, {"name": "a"}],
                  "initContainers": [{"name": "b"}, {"name": "x", "$patch": "delete"}, {"name": "a"}]}),
     pod_spec(edited(initContainers=[{"name": "b"}, {"name": "a"}]))),
    ("apply: delete one container and add another",
     pod_patch(**{"$setElementOrder/containers": [{"name": "nginx"}, {"name": "redis"}],
                  "containers": [{"name": "redis", "image": "redis"}, {"name": "sidecar", "$patch": "delete"}]}),
     pod_spec(edited(containers=[NGINX, container("redis", image="redis")]))),
    ("nulls delete keys; nulls in a new map are dropped",
     pod_patch(nodeSelector=None, securityContext={"runAsUser": 1, "fsGroup": None}),
     {k: v for k, v in pod_spec(edited(securityContext={"runAsUser": 1})).items() if k != "nodeSelector"}),
]


@pytest.mark.parametrize("patch,expected", [c[1:] for c in POD_SPEC_CASES], ids=[c[0] for c in POD_SPEC_CASES])
def test_pod_spec_patches(patch: dict[str, Any], expected: dict[str, Any]) -> None:
    assert canon(pod_spec(strategic_merge(BASE, patch, meta("Deployment")))) == canon(expected)


def test_apply_order_with_a_server_only_item() -> None:
    """Upstream deletes and appends in place on the live list, so the added container takes the
    deleted one's slot in the server order it reads next: the server-only one stays before it."""
    live = copy.deepcopy(BASE)
    pod_spec(live)["containers"] = [NGINX, container("old"), container("istio")]
    patch = pod_patch(**{"$setElementOrder/containers": [{"name": "nginx"}, {"name": "new"}],
                         "containers": [{"name": "new"}, {"name": "old", "$patch": "delete"}]})
    out = strategic_merge(live, patch, meta("Deployment"))
    assert [c["name"] for c in pod_spec(out)["containers"]] == ["nginx", "istio", "new"]
    # with nothing deleted the added container is not in the server order and goes before istio
    patch = pod_patch(**{"$setElementOrder/containers": [{"name": "nginx"}, {"name": "old"}, {"name": "new"}],
                         "containers": [{"name": "new"}]})
    out = strategic_merge(live, patch, meta("Deployment"))
    assert [c["name"] for c in pod_spec(out)["containers"]] == ["nginx", "old", "new", "istio"]


def obj_with(path: list[str], value: Any, base: dict[str, Any] = BASE) -> dict[str, Any]:
    out = copy.deepcopy(base)
    cur = out
    for p in path[:-1]:
        cur = cur[p]
    cur[path[-1]] = value
    return out


OBJECT_CASES: list[tuple[str, str, dict[str, Any], dict[str, Any], dict[str, Any]]] = [
    ("labels and annotations merge, null deletes", "Deployment", BASE,
     {"metadata": {"labels": {"tier": None, "new": "x"}, "annotations": {"b": "2"}}},
     obj_with(["metadata"], {**BASE["metadata"], "labels": {"app": "web", "new": "x"},
                             "annotations": {"a": "1", "b": "2"}})),
    ("finalizers merge as a set, server order first", "Deployment", BASE,
     {"metadata": {"finalizers": ["f2", "f3"]}},
     obj_with(["metadata", "finalizers"], ["f1", "f2", "f3"])),
    ("a new finalizer goes first", "Deployment", BASE,
     {"metadata": {"finalizers": ["f0"]}},
     obj_with(["metadata", "finalizers"], ["f0", "f1", "f2"])),
    ("$deleteFromPrimitiveList/finalizers", "Deployment", BASE,
     {"metadata": {"$deleteFromPrimitiveList/finalizers": ["f1", "zz"]}},
     obj_with(["metadata", "finalizers"], ["f2"])),
    ("$setElementOrder for a primitive list", "Deployment", BASE,
     {"metadata": {"$setElementOrder/finalizers": ["f3", "f2"], "finalizers": ["f3"],
                   "$deleteFromPrimitiveList/finalizers": ["f1"]}},
     obj_with(["metadata", "finalizers"], ["f3", "f2"])),
    ("$retainKeys on Deployment spec.strategy", "Deployment", BASE,
     {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}},
     obj_with(["spec", "strategy"], {"type": "Recreate"})),
    ("retainKeys strategy without the directive merges", "Deployment", BASE,
     {"spec": {"strategy": {"type": "Recreate"}}},
     obj_with(["spec", "strategy", "type"], "Recreate")),
    ("PDB selector has strategy replace", "PDB",
     {"spec": {"selector": {"matchLabels": {"a": "1"}, "matchExpressions": [{"key": "b", "operator": "Exists"}]}}},
     {"spec": {"selector": {"matchLabels": {"c": "3"}}}},
     {"spec": {"selector": {"matchLabels": {"c": "3"}}}}),
    ("Service ports merge by port", "Service",
     {"spec": {"ports": [{"port": 80, "name": "http"}, {"port": 443, "name": "https"}]}},
     {"spec": {"ports": [{"port": 443, "targetPort": 8443}]}},
     {"spec": {"ports": [{"port": 80, "name": "http"}, {"port": 443, "name": "https", "targetPort": 8443}]}}),
    ("ownerReferences merge by uid", "Pod",
     {"metadata": {"ownerReferences": [{"uid": "u1", "kind": "ReplicaSet", "name": "rs"}]}},
     {"metadata": {"ownerReferences": [{"uid": "u1", "controller": True}]}},
     {"metadata": {"ownerReferences": [{"uid": "u1", "kind": "ReplicaSet", "name": "rs", "controller": True}]}}),
    ("top-level $patch: replace", "Pod", {"metadata": {"name": "a"}, "spec": {}},
     {"$patch": "replace", "metadata": {"name": "b"}}, {"metadata": {"name": "b"}}),
    ("a value changing type is replaced", "Pod", {"spec": {"nodeSelector": {"a": "1"}}},
     {"spec": {"nodeSelector": "x"}}, {"spec": {"nodeSelector": "x"}}),
    ("unknown fields are added when the original lacks them", "Pod", {"spec": {}},
     {"spec": {"foo": {"bar": 1, "baz": None}}}, {"spec": {"foo": {"bar": 1}}}),
    ("a new list item is kept as sent", "Pod", {"spec": {"containers": [{"name": "a"}]}},
     {"spec": {"containers": [{"name": "b", "image": None}]}},
     {"spec": {"containers": [{"name": "b", "image": None}, {"name": "a"}]}}),
]


@pytest.mark.parametrize("kind,original,patch,expected", [c[1:] for c in OBJECT_CASES],
                         ids=[c[0] for c in OBJECT_CASES])
def test_object_patches(kind: str, original: dict[str, Any], patch: dict[str, Any],
                        expected: dict[str, Any]) -> None:
    assert canon(strategic_merge(original, patch, meta(kind))) == canon(expected)


ERROR_CASES: list[tuple[str, dict[str, Any], dict[str, Any], int, str]] = [
    ("missing merge key", BASE, pod_patch(containers=[{"image": "x"}]), 500,
     "map: map[image:x] does not contain declared merge key: name"),
    ("delete directive without merge key", BASE, pod_patch(containers=[{"$patch": "delete"}]), 500,
     "map: map[$patch:delete] does not contain declared merge key: name"),
    ("$patch: merge in a list", BASE, pod_patch(containers=[{"name": "nginx", "$patch": "merge"}]), 500,
     "merging lists cannot yet be specified in the patch"),
    ("unknown directive in a list", BASE, pod_patch(containers=[{"name": "nginx", "$patch": "bogus"}]), 500,
     "unknown patch type: bogus in map: map[$patch:bogus name:nginx]"),
    ("$patch: merge on a map", BASE, {"spec": {"$patch": "merge"}}, 500,
     "unknown patch type: merge in map: map[$patch:merge]"),
    ("$retainKeys missing a patched key", BASE,
     {"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {"maxSurge": 2}}}}, 400,
     "invalid patch format of retainKeys"),
    ("$retainKeys not a list", BASE, {"spec": {"strategy": {"$retainKeys": "type"}}}, 400,
     "invalid patch format of retainKeys"),
    ("$deleteFromPrimitiveList without a field", BASE, {"metadata": {"$deleteFromPrimitiveList": ["f1"]}}, 400,
     "invalid patch format of primitive list"),
    ("$setElementOrder without a field", BASE, {"metadata": {"$setElementOrder": ["f1"]}}, 400,
     "invalid patch format of setElementOrder list"),
    ("$setElementOrder not a list", BASE, pod_patch(**{"$setElementOrder/containers": "x"}), 500,
     "expected a []interface {}, but received a string"),
    ("$setElementOrder disagreeing with the patch", BASE,
     pod_patch(**{"$setElementOrder/containers": [{"name": "sidecar"}],
                  "containers": [{"name": "nginx", "image": "y"}]}), 500,
     "The order in patch list:\n[map[image:y name:nginx]]\n doesn't match $setElementOrder list:\n"
     "[map[name:sidecar]]\n"),
    ("mixed item types", deployment(container("a", image="x", ports=[{"containerPort": 80}])),
     pod_patch(containers=["nginx"]), 500,
     "list element types are not identical: [[map[image:x name:a ports:[map[containerPort:80]]]] [nginx]]"),
    ("a list of lists", deployment(), pod_patch(containers=[["x"]]), 422, "lists of lists are not supported"),
    ("unknown field present on both sides", obj_with(["spec", "foo"], {"a": 1}), {"spec": {"foo": {"b": 2}}}, 500,
     'unable to find api field in struct DeploymentSpec for the json field "foo"'),
    ("a map of maps is not a struct", obj_with(["metadata", "labels"], {"a": {"b": "c"}}),
     {"metadata": {"labels": {"a": {"d": "e"}}}}, 500,
     "merging an object in json but data type is not struct, instead is: map"),
    ("deleting from a list of maps without merge key", BASE,
     pod_patch(**{"$deleteFromPrimitiveList/tolerations": [{"key": "k1"}]}), 500,
     "cannot merge lists without merge key for struct"),
]


@pytest.mark.parametrize("original,patch,code,message", [c[1:] for c in ERROR_CASES],
                         ids=[c[0] for c in ERROR_CASES])
def test_errors(original: dict[str, Any], patch: dict[str, Any], code: int, message: str) -> None:
    with pytest.raises(PatchError) as info:
        strategic_merge(original, patch, meta("Deployment"))
    assert info.value.message.startswith(message)
    assert info.value.code == code


def test_inputs_are_not_mutated() -> None:
    original, patch = copy.deepcopy(BASE), pod_patch(containers=[{"name": "sidecar", "$patch": "delete"}],
                                                     **{"$retainKeys": ["containers"]})
    before = canon(original), canon(patch)
    strategic_merge(original, patch, meta("Deployment"))
    assert (canon(original), canon(patch)) == before


def test_patch_meta_lookup_and_cache() -> None:
    dep = meta("Deployment")
    assert dep is meta("Deployment")
    spec, field = dep.field("spec")
    assert spec.name == "DeploymentSpec" and field.strategies == ()
    _, strategy = spec.field("strategy")
    assert strategy.strategies == ("retainKeys",)
    pod = spec.field("template")[0].field("spec")[0]
    item, containers = pod.list_field("containers")
    assert (item.name, containers.merge_key, containers.strategies) == ("Container", "name", ("merge",))
    assert pod.list_field("volumes")[1].strategies == ("merge", "retainKeys")
    assert pod.list_field("tolerations")[1] == ((), "")
    with pytest.raises(KeyError):
        patch_meta_for(SCHEMAS, "example.com", "v1", "Nope")


# --- creating patches -------------------------------------------------------------------------------------

def test_two_way_patch_for_kubectl_apply() -> None:
    modified = with_nginx(image="nginx:1.2")
    patch = create_two_way_merge_patch(BASE, modified, meta("Deployment"))
    assert patch == pod_patch(**{"$setElementOrder/containers": [{"name": "nginx"}, {"name": "sidecar"}],
                                 "containers": [{"name": "nginx", "image": "nginx:1.2"}]})
    assert canon(strategic_merge(BASE, patch, meta("Deployment"))) == canon(modified)


def test_two_way_patch_lists_and_retain_keys() -> None:
    modified = copy.deepcopy(BASE)
    modified["metadata"]["finalizers"] = ["f2", "f3"]
    modified["spec"]["strategy"] = {"type": "Recreate"}
    pod_spec(modified)["containers"] = [SIDECAR]
    patch = create_two_way_merge_patch(BASE, modified, meta("Deployment"))
    assert patch == {
        "metadata": {"$deleteFromPrimitiveList/finalizers": ["f1"], "finalizers": ["f3"],
                     "$setElementOrder/finalizers": ["f2", "f3"]},
        "spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": None},
                 "template": {"spec": {"$setElementOrder/containers": [{"name": "sidecar"}],
                                       "containers": [{"name": "nginx", "$patch": "delete"}]}}},
    }
    assert canon(strategic_merge(BASE, patch, meta("Deployment"))) == canon(modified)


# --- properties -------------------------------------------------------------------------------------------

KEYS = st.text(alphabet="abcxyz", min_size=1, max_size=3)
SCALARS = st.one_of(st.booleans(), st.integers(-3, 3), st.text(alphabet="ab1", max_size=2),
                    st.floats(allow_nan=False, allow_infinity=False).map(lambda f: f + 0.0))
LISTS = st.lists(st.one_of(SCALARS, st.none()), max_size=3)


def documents(leaves: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """JSON objects without nulls as object values (no patch can set one)."""
    return st.dictionaries(KEYS, st.recursive(leaves, lambda inner: st.dictionaries(KEYS, inner, max_size=4),
                                              max_leaves=12), max_size=5)


@settings(max_examples=300, deadline=None)
@given(documents(SCALARS), documents(SCALARS))
def test_two_way_round_trip_maps(a: dict[str, Any], b: dict[str, Any]) -> None:
    untyped = PatchMeta.untyped()
    patch = create_two_way_merge_patch(a, b, untyped)
    assert canon(strategic_merge(a, patch, untyped)) == canon(b)
    assert create_two_way_merge_patch(b, b, untyped) == {}


@settings(max_examples=200, deadline=None)
@given(documents(st.one_of(SCALARS, LISTS)), documents(st.one_of(SCALARS, LISTS)))
def test_two_way_round_trip_replaced_lists(a: dict[str, Any], b: dict[str, Any]) -> None:
    untyped = PatchMeta.untyped()
    assert canon(strategic_merge(a, create_two_way_merge_patch(a, b, untyped), untyped)) == canon(b)


@settings(max_examples=200, deadline=None)
@given(documents(SCALARS), documents(SCALARS))
def test_merge_patch_round_trip(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert canon(merge_patch(a, create_merge_patch(a, b))) == canon(b)


@settings(max_examples=200, deadline=None)
@given(documents(st.one_of(SCALARS, LISTS)))
def test_empty_patch_is_identity(a: dict[str, Any]) -> None:
    assert canon(strategic_merge(a, {}, PatchMeta.untyped())) == canon(a)


NAMES = st.lists(st.sampled_from(["a", "b", "c", "d", "e"]), unique=True, max_size=5)


@settings(max_examples=200, deadline=None)
@given(NAMES, NAMES, NAMES, st.dictionaries(st.sampled_from("abcde"), st.sampled_from(["x", "y"])))
def test_two_way_round_trip_merging_lists(old: list[str], new: list[str], finalizers: list[str],
                                          images: dict[str, str]) -> None:
    """Merge lists of maps and of scalars survive diff-then-apply, order included (but see below)."""
    assume(finalizers == old or finalizers != sorted(old))
    a = {"metadata": {"finalizers": old}, "spec": {"containers": [{"name": n, "image": "x"} for n in old]}}
    b = {"metadata": {"finalizers": finalizers},
         "spec": {"containers": [{"name": n, "image": images.get(n, "x")} for n in new]}}
    pod = meta("Pod")
    assert canon(strategic_merge(a, create_two_way_merge_patch(a, b, pod), pod)) == canon(b)


def test_two_way_misses_a_reorder_into_sorted_order() -> None:
    """Upstream sorts the original scalar list in place before asking whether the order changed, so a
    list reordered into sorted order yields no patch at all."""
    a, b = {"metadata": {"finalizers": ["c", "a"]}}, {"metadata": {"finalizers": ["a", "c"]}}
    assert create_two_way_merge_patch(a, b, meta("Pod")) == {}
    assert create_two_way_merge_patch(b, a, meta("Pod")) == {"metadata": {"$setElementOrder/finalizers": ["c", "a"]}}
