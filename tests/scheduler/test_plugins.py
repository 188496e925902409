"""Filter and score plugins on plain dicts (no API server)."""

from __future__ import annotations

from typing import Any

import pytest

from controllers.scheduler.framework import (
    SKIP,
    UNRESOLVABLE,
    UNSCHEDULABLE,
    CycleState,
    Diagnosis,
    FitError,
    default_normalize,
    unresolvable,
    unschedulable,
)
from controllers.scheduler.plugins import (
    ImageLocality,
    InterPodAffinity,
    NodeAffinity,
    NodeName,
    NodePorts,
    NodeResourcesBalancedAllocation,
    NodeResourcesFit,
    NodeUnschedulable,
    PodTopologySpread,
    TaintToleration,
    VolumeBinding,
)
from controllers.scheduler.resources import pod_non_zero_requests, pod_requests, quantity

from .builders import cluster, info, node, pod

Obj = dict[str, Any]


def run_filter(plugin_cls: type, handle: Any, p: Obj, node_name: str, args: Obj | None = None) -> Any:
    plugin = plugin_cls(handle, args)
    state = CycleState()
    pi = info(p)
    pre = plugin.pre_filter(state, pi)
    if pre is not None:
        return pre
    return plugin.filter(state, pi, handle.cache.node(node_name))


def run_scores(plugin_cls: type, handle: Any, p: Obj, args: Obj | None = None) -> dict[str, int] | None:
    plugin = plugin_cls(handle, args)
    state = CycleState()
    pi = info(p)
    nodes = handle.nodes()
    pre = plugin.pre_score(state, pi, nodes)
    if pre is not None and pre.code == SKIP:
        return None
    scores = {n.name: plugin.score(state, pi, n) for n in nodes}
    plugin.normalize(state, pi, scores)
    return scores


# --- resources -----------------------------------------------------------------------------------------

def test_quantities() -> None:
    assert quantity("100m", milli=True) == 100
    assert quantity("1.5", milli=True) == 1500
    assert quantity("1Gi") == 2**30
    assert quantity("0.5") == 1  # Value() rounds up
    assert quantity(2) == 2
    assert quantity("bogus") == 0


def test_pod_requests_containers_init_sidecars_overhead() -> None:
    spec = {
        "containers": [{"resources": {"requests": {"cpu": "1", "memory": "1Gi"}}},
                       {"resources": {"requests": {"cpu": "500m", "example.com/gpu": "1"}}}],
        "initContainers": [{"resources": {"requests": {"cpu": "3"}}},
                           {"restartPolicy": "Always", "resources": {"requests": {"memory": "1Gi"}}},
                           {"resources": {"requests": {"memory": "2Gi"}}}],
        "overhead": {"cpu": "100m"},
    }
    req = pod_requests(spec)
    # containers 1.5 cpu + sidecar; init max: 3 cpu / (2Gi + 1Gi sidecar) memory
    assert req["cpu"] == 3100
    assert req["memory"] == 3 * 2**30
    assert req["example.com/gpu"] == 1
    assert pod_non_zero_requests({"containers": [{"resources": {}}]}) == (100, 200 * 1024 * 1024)


# --- NodeResourcesFit --------------------------------------------------------------------------------------

def test_fit_counts_bound_pods_and_reports_every_shortage() -> None:
    h = cluster([node("n1", cpu="2", memory="2Gi", pods="2")],
                [pod("a", cpu="1500m", memory="1Gi", node_name="n1")])
    assert run_filter(NodeResourcesFit, h, pod("b", cpu="500m"), "n1") is None
    st = run_filter(NodeResourcesFit, h, pod("c", cpu="1", memory="2Gi"), "n1")
    assert st.code == UNSCHEDULABLE and st.reasons == ("Insufficient cpu", "Insufficient memory")
    big = run_filter(NodeResourcesFit, h, pod("d", cpu="3"), "n1")
    assert big.code == UNRESOLVABLE and big.reasons == ("Insufficient cpu",)
    h.cache.assume(info(pod("e", node_name="n1")))
    st = run_filter(NodeResourcesFit, h, pod("f"), "n1")
    assert st.reasons == ("Too many pods",)


def test_fit_extended_resources_and_ignored_groups() -> None:
    h = cluster([node("n1", extra={"example.com/gpu": "1"}), node("n2")])
    p = pod("g", **{"containers": [{"name": "c", "resources": {"requests": {"example.com/gpu": "1"}}}]})
    assert run_filter(NodeResourcesFit, h, p, "n1") is None
    st = run_filter(NodeResourcesFit, h, p, "n2")
    assert st.reasons == ("Insufficient example.com/gpu",)
    assert run_filter(NodeResourcesFit, h, p, "n2", {"ignoredResourceGroups": ["example.com"]}) is None


def test_least_most_allocated_and_balanced_scores() -> None:
    h = cluster([node("n1", cpu="4", memory="10000"), node("n2", cpu="4", memory="10000")],
                [pod("x", cpu="2", memory="2000", node_name="n2")])
    p = pod("p", cpu="1", memory="2000")
    least = run_scores(NodeResourcesFit, h, p)
    # n1: cpu (4000-1000)*100/4000=75, mem (10000-2000)*100/10000=80 -> 77; n2: 25 and 60 -> 42
    assert least == {"n1": 77, "n2": 42}
    most = run_scores(NodeResourcesFit, h, p, {"scoringStrategy": {"type": "MostAllocated"}})
    assert most == {"n1": 22, "n2": 57}
    balanced = run_scores(NodeResourcesBalancedAllocation, h, p)
    # n1: fractions .25/.2 -> std .025 -> 97; n2: .75/.4 -> std .175 -> 82
    assert balanced == {"n1": 97, "n2": 82}
    assert run_scores(NodeResourcesBalancedAllocation, h, pod("besteffort")) is None


def test_unknown_scoring_strategy_is_refused() -> None:
    with pytest.raises(ValueError):
        NodeResourcesFit(cluster([]), {"scoringStrategy": {"type": "Whatever"}})


# --- node-local filters --------------------------------------------------------------------------------------

def test_node_unschedulable_and_name() -> None:
    h = cluster([node("n1", unschedulable=True), node("n2")])
    st = run_filter(NodeUnschedulable, h, pod("p"), "n1")
    assert st.code == UNRESOLVABLE and st.reasons == ("node(s) were unschedulable",)
    tolerant = pod("q", tolerations=[{"key": "node.kubernetes.io/unschedulable", "operator": "Exists",
                                      "effect": "NoSchedule"}])
    assert run_filter(NodeUnschedulable, h, tolerant, "n1") is None
    assert run_filter(NodeName, h, pod("r", node_name="n2"), "n1").reasons == (
        "node(s) didn't match the requested node name",)


def test_taints_filter_message_and_prefer_no_schedule_score() -> None:
    h = cluster([node("n1", taints=[{"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}]),
                 node("n2", taints=[{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]),
                 node("n3", taints=[{"key": "soft", "value": "x", "effect": "PreferNoSchedule"}]),
                 node("n4")])
    st = run_filter(TaintToleration, h, pod("p"), "n1")
    assert st.code == UNRESOLVABLE and st.reasons == ("node(s) had untolerated taint {node.kubernetes.io/unreachable: }",)
    assert run_filter(TaintToleration, h, pod("p"), "n2").reasons == ("node(s) had untolerated taint {dedicated: gpu}",)
    tolerant = pod("t", tolerations=[{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}])
    assert run_filter(TaintToleration, h, tolerant, "n2") is None
    assert run_filter(TaintToleration, h, pod("p"), "n3") is None
    scores = run_scores(TaintToleration, h, pod("p"))
    assert scores == {"n1": 100, "n2": 100, "n3": 0, "n4": 100}
    soft = pod("s", tolerations=[{"key": "soft", "operator": "Exists"}])
    assert run_scores(TaintToleration, h, soft) == {"n1": 100, "n2": 100, "n3": 100, "n4": 100}


def test_node_affinity_selector_required_and_preferred() -> None:
    h = cluster([node("n1", labels={"disk": "ssd", "cores": "8"}), node("n2", labels={"disk": "hdd", "cores": "2"})])
    assert run_filter(NodeAffinity, h, pod("p", nodeSelector={"disk": "ssd"}), "n1") is None
    st = run_filter(NodeAffinity, h, pod("p", nodeSelector={"disk": "ssd"}), "n2")
    assert st.code == UNRESOLVABLE and st.reasons == ("node(s) didn't match Pod's node affinity/selector",)

    def required(*terms: Obj) -> Obj:
        return pod("a", affinity={"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": list(terms)}}})
    gt = required({"matchExpressions": [{"key": "cores", "operator": "Gt", "values": ["4"]}]})
    assert run_filter(NodeAffinity, h, gt, "n1") is None and run_filter(NodeAffinity, h, gt, "n2") is not None
    either = required({"matchExpressions": [{"key": "disk", "operator": "In", "values": ["nvme"]}]},
                      {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n2"]}]})
    assert run_filter(NodeAffinity, h, either, "n2") is None and run_filter(NodeAffinity, h, either, "n1") is not None
    notin = required({"matchExpressions": [{"key": "gpu", "operator": "DoesNotExist"},
                                           {"key": "disk", "operator": "NotIn", "values": ["hdd"]}]})
    assert run_filter(NodeAffinity, h, notin, "n1") is None and run_filter(NodeAffinity, h, notin, "n2") is not None
    assert run_filter(NodeAffinity, h, pod("plain"), "n2").code == SKIP

    preferred = pod("w", affinity={"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 20, "preference": {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["hdd"]}]}},
        {"weight": 80, "preference": {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]}},
    ]}})
    assert run_scores(NodeAffinity, h, preferred) == {"n1": 100, "n2": 25}


def test_node_ports() -> None:
    h = cluster([node("n1")], [pod("web", node_name="n1", ports=[{"containerPort": 80, "hostPort": 8080}])])
    clash = pod("p", ports=[{"containerPort": 80, "hostPort": 8080, "hostIP": "10.0.0.1"}])
    st = run_filter(NodePorts, h, clash, "n1")
    assert st.code == UNSCHEDULABLE and st.reasons == ("node(s) didn't have free ports for the requested pod ports",)
    assert run_filter(NodePorts, h, pod("u", ports=[{"containerPort": 80, "hostPort": 8080, "protocol": "UDP"}]),
                      "n1") is None
    assert run_filter(NodePorts, h, pod("none"), "n1").code == SKIP


def test_image_locality() -> None:
    images = [{"names": ["docker.io/library/big:1", "big:1"], "sizeBytes": 500 * 1024 * 1024}]
    h = cluster([node("n1", images=images), node("n2")])
    scores = run_scores(ImageLocality, h, pod("p", image="big:1"))
    assert scores is not None and scores["n2"] == 0 and 0 < scores["n1"] < 100


# --- PodTopologySpread ----------------------------------------------------------------------------------------

ZONE = "topology.kubernetes.io/zone"


def spread(name: str, key: str = ZONE, when: str = "DoNotSchedule", skew: int = 1) -> Obj:
    return pod(name, labels={"app": "web"}, topologySpreadConstraints=[
        {"maxSkew": skew, "topologyKey": key, "whenUnsatisfiable": when, "labelSelector": {"matchLabels": {"app": "web"}}}])


def test_topology_spread_filter() -> None:
    nodes = [node("a1", labels={ZONE: "a"}), node("a2", labels={ZONE: "a"}), node("b1", labels={ZONE: "b"}),
             node("nolabel")]
    h = cluster(nodes, [pod("w1", labels={"app": "web"}, node_name="a1"),
                        pod("w2", labels={"app": "web"}, node_name="a2"),
                        pod("w3", labels={"app": "web"}, node_name="b1"),
                        pod("other", labels={"app": "db"}, node_name="b1")])
    # zone a has 2, zone b has 1: a new one may only go to b
    st = run_filter(PodTopologySpread, h, spread("p"), "a1")
    assert st.code == UNSCHEDULABLE and st.reasons == ("node(s) didn't match pod topology spread constraints",)
    assert run_filter(PodTopologySpread, h, spread("p"), "b1") is None
    missing = run_filter(PodTopologySpread, h, spread("p"), "nolabel")
    assert missing.code == UNRESOLVABLE
    assert missing.reasons == ("node(s) didn't match pod topology spread constraints (missing required label)",)
    assert run_filter(PodTopologySpread, h, spread("p", skew=2), "a1") is None
    assert run_filter(PodTopologySpread, h, pod("plain"), "a1").code == SKIP


def test_topology_spread_score_prefers_emptier_domain() -> None:
    nodes = [node("a1", labels={ZONE: "a"}), node("b1", labels={ZONE: "b"})]
    h = cluster(nodes, [pod("w1", labels={"app": "web"}, node_name="a1"),
                        pod("w2", labels={"app": "web"}, node_name="a1")])
    scores = run_scores(PodTopologySpread, h, spread("p", when="ScheduleAnyway"))
    assert scores is not None and scores["b1"] == 100 and scores["a1"] < scores["b1"]


def test_topology_spread_system_defaults_follow_owners() -> None:
    rs = {"metadata": {"name": "web", "namespace": "default"}, "spec": {"selector": {"matchLabels": {"app": "web"}}}}
    nodes = [node("n1"), node("n2")]
    h = cluster(nodes, [pod("w1", labels={"app": "web"}, node_name="n1")], replicasets=[rs])
    scores = run_scores(PodTopologySpread, h, pod("p", labels={"app": "web"}))
    assert scores is not None and scores["n2"] > scores["n1"]
    assert run_scores(PodTopologySpread, h, pod("q", labels={"app": "other"})) is None


# --- InterPodAffinity ------------------------------------------------------------------------------------------

def anti(name: str, labels: dict[str, str], key: str = "kubernetes.io/hostname", ns: str = "default") -> Obj:
    return pod(name, ns=ns, labels=labels, affinity={"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": labels}, "topologyKey": key}]}})


def test_pod_anti_affinity_both_directions() -> None:
    h = cluster([node("n1"), node("n2")], [pod("w1", labels={"app": "web"}, node_name="n1")])
    st = run_filter(InterPodAffinity, h, anti("p", {"app": "web"}), "n1")
    assert st.code == UNSCHEDULABLE and st.reasons == ("node(s) didn't match pod anti-affinity rules",)
    assert run_filter(InterPodAffinity, h, anti("p", {"app": "web"}), "n2") is None
    # an existing pod's anti-affinity keeps matching pods away too
    guard = anti("guard", {"app": "web"})
    guard["spec"]["nodeName"] = "n1"
    h2 = cluster([node("n1"), node("n2")], [guard])
    st = run_filter(InterPodAffinity, h2, pod("p", labels={"app": "web"}), "n1")
    assert st.reasons == ("node(s) didn't satisfy existing pods anti-affinity rules",)
    assert run_filter(InterPodAffinity, h2, pod("p", labels={"app": "web"}), "n2") is None
    assert run_filter(InterPodAffinity, h2, pod("p", labels={"app": "other"}), "n1") is None
    assert run_filter(InterPodAffinity, h, pod("p", labels={"app": "web"}), "n1").code == SKIP


def test_pod_affinity_and_first_pod_of_a_group() -> None:
    zone_nodes = [node("a1", labels={ZONE: "a"}), node("b1", labels={ZONE: "b"})]
    want_db = pod("p", labels={"app": "web"}, affinity={"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": ZONE}]}})
    h = cluster(zone_nodes, [pod("db", labels={"app": "db"}, node_name="b1")])
    st = run_filter(InterPodAffinity, h, want_db, "a1")
    assert st.code == UNRESOLVABLE and st.reasons == ("node(s) didn't match pod affinity rules",)
    assert run_filter(InterPodAffinity, h, want_db, "b1") is None
    # no pod matches anywhere, and the pod matches its own term: it may start the group
    self_affine = pod("s", labels={"app": "db"}, affinity=want_db["spec"]["affinity"])
    assert run_filter(InterPodAffinity, cluster(zone_nodes), self_affine, "a1") is None
    assert run_filter(InterPodAffinity, cluster(zone_nodes), want_db, "a1") is not None


def test_inter_pod_preferred_scores() -> None:
    h = cluster([node("n1"), node("n2")], [pod("db", labels={"app": "db"}, node_name="n2")])
    likes = pod("p", affinity={"podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 50, "podAffinityTerm": {"labelSelector": {"matchLabels": {"app": "db"}},
                                           "topologyKey": "kubernetes.io/hostname"}}]}})
    assert run_scores(InterPodAffinity, h, likes) == {"n1": 0, "n2": 100}
    dislikes = pod("q", affinity={"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 50, "podAffinityTerm": {"labelSelector": {"matchLabels": {"app": "db"}},
                                           "topologyKey": "kubernetes.io/hostname"}}]}})
    assert run_scores(InterPodAffinity, h, dislikes) == {"n1": 100, "n2": 0}
    assert run_scores(InterPodAffinity, h, pod("plain")) is None


def test_namespace_selector_in_affinity_terms() -> None:
    h = cluster([node("n1"), node("n2")], [pod("w", ns="prod", labels={"app": "web"}, node_name="n1")],
                namespaces=[{"metadata": {"name": "prod", "labels": {"env": "prod"}}}])
    p = pod("p", ns="default", affinity={"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "kubernetes.io/hostname",
         "namespaceSelector": {"matchLabels": {"env": "prod"}}}]}})
    assert run_filter(InterPodAffinity, h, p, "n1") is not None
    assert run_filter(InterPodAffinity, h, anti("q", {"app": "web"}), "n1") is None  # own namespace only


# --- VolumeBinding ----------------------------------------------------------------------------------------------

def claim(name: str, *, cls: str | None = "local", volume: str = "", size: str = "1Gi") -> Obj:
    spec: Obj = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}
    if cls is not None:
        spec["storageClassName"] = cls
    if volume:
        spec["volumeName"] = volume
    return {"metadata": {"name": name, "namespace": "default"}, "spec": spec}


def pv(name: str, *, node_name: str | None = None, size: str = "5Gi", cls: str = "local", claimed_by: str = "") -> Obj:
    spec: Obj = {"capacity": {"storage": size}, "accessModes": ["ReadWriteOnce"], "storageClassName": cls}
    if claimed_by:
        spec["claimRef"] = {"namespace": "default", "name": claimed_by}
    if node_name:
        spec["nodeAffinity"] = {"required": {"nodeSelectorTerms": [{"matchExpressions": [
            {"key": "kubernetes.io/hostname", "operator": "In", "values": [node_name]}]}]}}
    return {"metadata": {"name": name}, "spec": spec, "status": {"phase": "Bound" if claimed_by else "Available"}}


def with_claim(name: str) -> Obj:
    return pod("p", volumes=[{"name": "data", "persistentVolumeClaim": {"claimName": name}}])


def test_volume_binding() -> None:
    classes = [{"metadata": {"name": "local"}, "provisioner": "kubernetes.io/no-provisioner",
                "volumeBindingMode": "WaitForFirstConsumer"},
               {"metadata": {"name": "fast"}, "provisioner": "csi.example.com", "volumeBindingMode": "Immediate"}]
    h = cluster([node("n1"), node("n2")], persistentvolumeclaims=[
        claim("bound", volume="pv-n1"), claim("wffc"), claim("imm", cls="fast"), claim("dangling", volume="gone")],
        persistentvolumes=[pv("pv-n1", node_name="n1", claimed_by="bound"), pv("free-n2", node_name="n2")], storageclasses=classes)
    st = run_filter(VolumeBinding, h, with_claim("missing"), "n1")
    assert st.code == UNRESOLVABLE and st.reasons == ('persistentvolumeclaim "missing" not found',)
    assert run_filter(VolumeBinding, h, with_claim("imm"), "n1").reasons == (
        "pod has unbound immediate PersistentVolumeClaims",)
    assert run_filter(VolumeBinding, h, with_claim("bound"), "n1") is None
    assert run_filter(VolumeBinding, h, with_claim("bound"), "n2").reasons == ("node(s) had volume node affinity conflict",)
    assert run_filter(VolumeBinding, h, with_claim("dangling"), "n1").reasons == (
        "node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)",)
    assert run_filter(VolumeBinding, h, with_claim("wffc"), "n2") is None
    assert run_filter(VolumeBinding, h, with_claim("wffc"), "n1").reasons == (
        "node(s) didn't find available persistent volumes to bind",)
    assert run_filter(VolumeBinding, h, pod("novol"), "n1").code == SKIP
    plugin = VolumeBinding(h)
    state = CycleState()
    p = info(with_claim("wffc"))
    plugin.pre_filter(state, p)
    assert plugin.filter(state, p, h.cache.node("n2")) is None
    [(path, patch)] = plugin.pre_bind(state, p, "n2")
    assert path == "/api/v1/persistentvolumes/free-n2" and patch["spec"]["claimRef"]["name"] == "wffc"


# --- normalization and the failure message ------------------------------------------------------------------------

def test_default_normalize() -> None:
    scores = {"a": 0, "b": 5, "c": 10}
    default_normalize(scores)
    assert scores == {"a": 0, "b": 50, "c": 100}
    reverse = {"a": 0, "b": 5, "c": 10}
    default_normalize(reverse, reverse=True)
    assert reverse == {"a": 100, "b": 50, "c": 0}
    zeros = {"a": 0}
    default_normalize(zeros, reverse=True)
    assert zeros == {"a": 100}


def test_fit_error_message_is_a_sorted_histogram() -> None:
    d = Diagnosis(node_status={
        "n1": unschedulable("Insufficient cpu"),
        "n2": unresolvable("node(s) had untolerated taint {node.kubernetes.io/unreachable: }"),
        "n3": unresolvable("node(s) had untolerated taint {node.kubernetes.io/unreachable: }"),
    })
    d.post_filter_msg = ("preemption: 0/3 nodes are available: 1 No preemption victims found for incoming pod, "
                         "2 Preemption is not helpful for scheduling.")
    assert str(FitError(info(pod("p")), 3, d)) == (
        "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint "
        "{node.kubernetes.io/unreachable: }. preemption: 0/3 nodes are available: 1 No preemption victims found "
        "for incoming pod, 2 Preemption is not helpful for scheduling.")
    pre = Diagnosis(pre_filter_msg='persistentvolumeclaim "data" not found')
    assert str(FitError(info(pod("p")), 2, pre)) == '0/2 nodes are available: persistentvolumeclaim "data" not found.'
