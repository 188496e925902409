"""The Deployment controller against a live cluster (API server + controller-manager), driven by the real
kubectl 1.37; pods are marked Ready by tests/controllers/util.Kubelet as a kubelet would."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from controllers.deployment import compute_hash, get_proportion, max_unavailable, resolve_fenceposts
from tests.cluster import ServerProcess, wait_for

from .util import MERGE, Kubelet, Watcher, kubectl, live_pods, mark_ready, new_namespace

Obj = dict[str, Any]
ALPHABET = set("bcdfghjklmnpqrstvwxz2456789")


@pytest.fixture
def http(cluster: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=cluster.url, timeout=30) as c:
        yield c


@pytest.fixture
def ns(http: httpx.Client) -> str:
    return new_namespace(http, "deploy")


def deployment(http: httpx.Client, ns: str, name: str = "web") -> Obj:
    r = http.get(f"/apis/apps/v1/namespaces/{ns}/deployments/{name}")
    assert r.status_code == 200, r.text
    out: Obj = r.json()
    return out


def replicasets(http: httpx.Client, ns: str) -> list[Obj]:
    """The ReplicaSets of ``ns`` by revision."""
    items: list[Obj] = http.get(f"/apis/apps/v1/namespaces/{ns}/replicasets").json()["items"]
    return sorted(items, key=lambda rs: int(rs["metadata"].get("annotations", {}).get(
        "deployment.kubernetes.io/revision", "0")))


def create(http: httpx.Client, ns: str, name: str = "web", replicas: int = 3, image: str = "nginx",
           **spec: Any) -> Obj:
    body = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "nginx", "image": image}]}}, **spec}}
    r = http.post(f"/apis/apps/v1/namespaces/{ns}/deployments", json=body)
    assert r.status_code == 201, r.text
    out: Obj = r.json()
    return out


def condition(obj: Obj, kind: str) -> Obj:
    return next((c for c in obj.get("status", {}).get("conditions") or [] if c["type"] == kind), {})


def complete(http: httpx.Client, ns: str, name: str = "web") -> Obj | None:
    """The Deployment once its rollout is complete (as kubectl rollout status judges it)."""
    d = deployment(http, ns, name)
    s, want = d.get("status", {}), d["spec"]["replicas"]
    done = (s.get("observedGeneration", 0) >= d["metadata"]["generation"] and s.get("updatedReplicas", 0) == want
            and s.get("replicas", 0) == want and s.get("availableReplicas", 0) == want
            and condition(d, "Progressing").get("reason") == "NewReplicaSetAvailable")
    return d if done else None


def events(http: httpx.Client, ns: str, reason: str) -> list[Obj]:
    items: list[Obj] = http.get(f"/api/v1/namespaces/{ns}/events").json()["items"]
    return [e for e in items if e["reason"] == reason]


def test_create_deployment_makes_one_replicaset_and_its_pods(cluster: ServerProcess, http: httpx.Client,
                                                             ns: str) -> None:
    kubectl(cluster, "create", "deployment", "web", "--image=nginx", "--replicas=3", "-n", ns)
    d = deployment(http, ns)
    pods = wait_for(lambda: (p := live_pods(http, ns)) and len(p) == 3 and p, timeout=15, message="3 pods")
    [rs] = replicasets(http, ns)
    h = rs["metadata"]["labels"]["pod-template-hash"]
    assert rs["metadata"]["name"] == f"web-{h}" and set(h) <= ALPHABET and 1 <= len(h) <= 10
    assert rs["metadata"]["ownerReferences"] == [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web",
                                                  "uid": d["metadata"]["uid"], "controller": True,
                                                  "blockOwnerDeletion": True}]
    labels = {"app": "web", "pod-template-hash": h}
    assert rs["metadata"]["labels"] == labels
    assert rs["spec"]["selector"] == {"matchLabels": labels}
    assert rs["spec"]["template"]["metadata"]["labels"] == labels
    assert rs["spec"]["replicas"] == 3
    ann = rs["metadata"]["annotations"]
    assert ann["deployment.kubernetes.io/revision"] == "1"
    assert ann["deployment.kubernetes.io/desired-replicas"] == "3"
    assert ann["deployment.kubernetes.io/max-replicas"] == "4"  # 3 + ceil(25% of 3)
    for pod in pods:
        assert pod["metadata"]["generateName"] == f"web-{h}-"
        assert pod["metadata"]["name"].startswith(f"web-{h}-")
        assert pod["metadata"]["labels"] == labels
        assert pod["metadata"]["ownerReferences"] == [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                                       "name": rs["metadata"]["name"], "uid": rs["metadata"]["uid"],
                                                       "controller": True, "blockOwnerDeletion": True}]
        mark_ready(http, ns, pod["metadata"]["name"])
    d = wait_for(lambda: complete(http, ns), timeout=15, message="rollout complete")
    s = d["status"]
    assert (s["replicas"], s["updatedReplicas"], s["readyReplicas"], s["availableReplicas"]) == (3, 3, 3, 3)
    assert s["observedGeneration"] == 1 and "unavailableReplicas" not in s
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    available = condition(d, "Available")
    assert (available["status"], available["reason"], available["message"]) == (
        "True", "MinimumReplicasAvailable", "Deployment has minimum availability.")
    progressing = condition(d, "Progressing")
    assert (progressing["status"], progressing["message"]) == (
        "True", f'ReplicaSet "web-{h}" has successfully progressed.')
    rs = wait_for(lambda: (r := replicasets(http, ns)[0]) and r["status"].get("availableReplicas") == 3 and r,
                  timeout=10)
    assert rs["status"] == {"replicas": 3, "fullyLabeledReplicas": 3, "readyReplicas": 3, "availableReplicas": 3,
                            "observedGeneration": 1, "terminatingReplicas": 0}
    scaled = wait_for(lambda: events(http, ns, "ScalingReplicaSet"), timeout=5)
    assert [e["message"] for e in scaled] == [f"Scaled up replica set web-{h} from 0 to 3"]
    assert scaled[0]["source"]["component"] == "deployment-controller"
    assert scaled[0]["involvedObject"]["kind"] == "Deployment"
    created = wait_for(lambda: (e := events(http, ns, "SuccessfulCreate")) and len(e) == 3 and e, timeout=5)
    assert sorted(e["message"] for e in created) == sorted(f"Created pod: {p['metadata']['name']}" for p in pods)
    assert kubectl(cluster, "rollout", "status", "deploy/web", "-n", ns, "--timeout=10s").strip() == \
        'deployment "web" successfully rolled out'


def test_set_image_rolls_over_within_max_surge_and_max_unavailable(cluster: ServerProcess, http: httpx.Client,
                                                                   ns: str) -> None:
    kubectl(cluster, "create", "deployment", "web", "--image=nginx", "--replicas=4", "-n", ns)
    # maxSurge 25% of 4 = 1, maxUnavailable 50% of 4 = 2
    kubectl(cluster, "patch", "deploy/web", "-n", ns, "-p",
            '{"spec":{"strategy":{"rollingUpdate":{"maxSurge":"25%","maxUnavailable":"50%"}}}}')
    spec_totals: list[int] = []
    sizes: dict[str, int] = {}

    def on_rs(_: httpx.Client, kind: str, rs: Obj) -> None:
        if kind == "DELETED":
            sizes.pop(rs["metadata"]["name"], None)
        else:
            sizes[rs["metadata"]["name"]] = rs["spec"]["replicas"]
        spec_totals.append(sum(sizes.values()))

    with Kubelet(cluster, ns) as kubelet, Watcher(cluster, f"/apis/apps/v1/namespaces/{ns}/replicasets", on_rs):
        wait_for(lambda: complete(http, ns), timeout=15, message="first rollout")
        start, totals_start = len(kubelet.history), len(spec_totals)
        kubectl(cluster, "set", "image", "deploy/web", "nginx=nginx:2", "-n", ns)
        d = wait_for(lambda: (x := complete(http, ns)) and x["metadata"]["generation"] == 3 and x,
                     timeout=20, message="second rollout")
        old, new = wait_for(lambda: (r := replicasets(http, ns)) and len(r) == 2 and r[0]["status"]["replicas"] == 0
                            and r, timeout=10)
        wait_for(lambda: len(kubelet.live()) == 4, timeout=10)
        history = kubelet.history[start:]
        totals = spec_totals[totals_start:]
    assert d["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:2"
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    assert new["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    assert old["spec"]["replicas"] == 0 and new["spec"]["replicas"] == 4
    assert new["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:2"
    new_hash = new["metadata"]["labels"]["pod-template-hash"]
    assert new_hash != old["metadata"]["labels"]["pod-template-hash"]
    assert history[-1][2] == {new_hash}
    assert min(available for _, available, _ in history) >= 4 - 2, history
    assert max(totals) <= 4 + 1, totals
    messages = [e["message"] for e in events(http, ns, "ScalingReplicaSet")]
    assert f"Scaled up replica set {new['metadata']['name']} from 0 to 1" in messages
    assert any(m.startswith(f"Scaled down replica set {old['metadata']['name']} from 4 to ") for m in messages)


def test_rollout_history_and_undo(cluster: ServerProcess, http: httpx.Client, ns: str) -> None:
    kubectl(cluster, "create", "deployment", "web", "--image=nginx", "--replicas=2", "-n", ns)
    with Kubelet(cluster, ns):
        wait_for(lambda: complete(http, ns), timeout=15)
        kubectl(cluster, "annotate", "deploy/web", "-n", ns, "kubernetes.io/change-cause=first")
        wait_for(lambda: replicasets(http, ns)[0]["metadata"]["annotations"].get("kubernetes.io/change-cause")
                 == "first", timeout=10)
        kubectl(cluster, "set", "image", "deploy/web", "nginx=nginx:2", "-n", ns)
        kubectl(cluster, "annotate", "deploy/web", "-n", ns, "--overwrite", "kubernetes.io/change-cause=second")
        wait_for(lambda: (r := replicasets(http, ns)) and len(r) == 2 and complete(http, ns)
                 and r[1]["metadata"]["annotations"].get("kubernetes.io/change-cause") == "second", timeout=20)
        history = kubectl(cluster, "rollout", "history", "deploy/web", "-n", ns)
        assert re.search(r"^1\s+first$", history, re.M) and re.search(r"^2\s+second$", history, re.M), history
        first, _ = replicasets(http, ns)
        out = kubectl(cluster, "rollout", "undo", "deploy/web", "-n", ns)
        assert out.strip() == "deployment.apps/web rolled back"
        d = wait_for(lambda: (x := complete(http, ns)) and x["metadata"]["annotations"].get(
            "deployment.kubernetes.io/revision") == "3" and x, timeout=20, message="rollback")
    assert d["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx"
    rss = replicasets(http, ns)
    assert len(rss) == 2, "the rollback reuses the first ReplicaSet"
    second, restored = rss
    assert restored["metadata"]["uid"] == first["metadata"]["uid"]
    assert restored["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    assert restored["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"] == "1"
    assert restored["spec"]["replicas"] == 2 and second["spec"]["replicas"] == 0
    history = kubectl(cluster, "rollout", "history", "deploy/web", "-n", ns)
    assert re.search(r"^2\s+second$", history, re.M) and re.search(r"^3\s+first$", history, re.M), history
    detail = kubectl(cluster, "rollout", "history", "deploy/web", "-n", ns, "--revision=3")
    assert "Image:\tnginx\n" in detail and "pod-template-hash=" + first["metadata"]["labels"]["pod-template-hash"] \
        in detail
    skipped = kubectl(cluster, "rollout", "undo", "deploy/web", "-n", ns, "--to-revision=3")
    assert "skipped rollback" in skipped


def test_scaling(cluster: ServerProcess, http: httpx.Client, ns: str) -> None:
    kubectl(cluster, "create", "deployment", "web", "--image=nginx", "--replicas=3", "-n", ns)
    with Kubelet(cluster, ns):
        wait_for(lambda: complete(http, ns), timeout=15)
        kubectl(cluster, "scale", "deploy/web", "--replicas=5", "-n", ns)
        d = wait_for(lambda: (x := complete(http, ns)) and x["status"]["replicas"] == 5 and x, timeout=15)
        [rs] = replicasets(http, ns)
        assert rs["spec"]["replicas"] == 5
        ann = rs["metadata"]["annotations"]
        assert (ann["deployment.kubernetes.io/desired-replicas"], ann["deployment.kubernetes.io/max-replicas"]) == \
            ("5", "7")
        kubectl(cluster, "scale", "deploy/web", "--replicas=1", "-n", ns)
        d = wait_for(lambda: (x := complete(http, ns)) and x["status"]["replicas"] == 1 and x, timeout=15)
        assert len(wait_for(lambda: (p := live_pods(http, ns)) and len(p) == 1 and p, timeout=10)) == 1
    assert d["status"]["availableReplicas"] == 1
    name = rs["metadata"]["name"]
    messages = {e["message"] for e in events(http, ns, "ScalingReplicaSet")}
    assert {f"Scaled up replica set {name} from 3 to 5", f"Scaled down replica set {name} from 5 to 1"} <= messages
    assert len(events(http, ns, "SuccessfulDelete")) == 4


def test_proportional_scaling_during_a_rollout(cluster: ServerProcess, http: httpx.Client, ns: str) -> None:
    create(http, ns, replicas=10, strategy={"type": "RollingUpdate",
                                            "rollingUpdate": {"maxSurge": 3, "maxUnavailable": 2}})
    # only the first template's pods ever become ready: the rollout to nginx:2 stalls
    first_only = lambda pod: pod["spec"]["containers"][0]["image"] == "nginx"  # noqa: E731
    with Kubelet(cluster, ns, first_only):
        wait_for(lambda: complete(http, ns), timeout=20)
        kubectl(cluster, "set", "image", "deploy/web", "nginx=nginx:2", "-n", ns)

        def sizes() -> tuple[int, ...]:
            return tuple(rs["spec"]["replicas"] for rs in replicasets(http, ns))

        wait_for(lambda: sizes() == (8, 5), timeout=15, message="stalled rollout at 8 old + 5 new")
        time.sleep(0.5)
        assert sizes() == (8, 5)
        kubectl(cluster, "scale", "deploy/web", "--replicas=20", "-n", ns)
        # 10 more replicas (20 + 3 surge - 13) shared by max-replicas 13: 8*23/13 -> 14, 5*23/13 -> 9
        wait_for(lambda: sizes() == (14, 9), timeout=15, message="proportional scale-up")
    for rs in replicasets(http, ns):
        ann = rs["metadata"]["annotations"]
        assert (ann["deployment.kubernetes.io/desired-replicas"], ann["deployment.kubernetes.io/max-replicas"]) == \
            ("20", "23")


def test_pause_resume_and_restart(cluster: ServerProcess, http: httpx.Client, ns: str) -> None:
    kubectl(cluster, "create", "deployment", "web", "--image=nginx", "--replicas=2", "-n", ns)
    with Kubelet(cluster, ns):
        wait_for(lambda: complete(http, ns), timeout=15)
        kubectl(cluster, "rollout", "pause", "deploy/web", "-n", ns)
        d = wait_for(lambda: (x := deployment(http, ns)) and condition(x, "Progressing").get("reason")
                     == "DeploymentPaused" and x, timeout=10)
        cond = condition(d, "Progressing")
        assert (cond["status"], cond["message"]) == ("Unknown", "Deployment is paused")
        kubectl(cluster, "set", "image", "deploy/web", "nginx=nginx:2", "-n", ns)
        wait_for(lambda: (x := deployment(http, ns))["status"]["observedGeneration"] == x["metadata"]["generation"],
                 timeout=10)
        time.sleep(0.3)
        assert len(replicasets(http, ns)) == 1, "a paused deployment does not roll out"
        kubectl(cluster, "rollout", "resume", "deploy/web", "-n", ns)
        wait_for(lambda: len(replicasets(http, ns)) == 2 and complete(http, ns), timeout=20)
        kubectl(cluster, "rollout", "restart", "deploy/web", "-n", ns)
        d = wait_for(lambda: len(replicasets(http, ns)) == 3 and complete(http, ns), timeout=20)
    assert "kubectl.kubernetes.io/restartedAt" in d["spec"]["template"]["metadata"]["annotations"]
    newest = replicasets(http, ns)[-1]
    assert "kubectl.kubernetes.io/restartedAt" in newest["spec"]["template"]["metadata"]["annotations"]
    assert newest["spec"]["replicas"] == 2


def test_recreate_stops_old_pods_before_starting_new_ones(cluster: ServerProcess, http: httpx.Client,
                                                          ns: str) -> None:
    create(http, ns, replicas=3, strategy={"type": "Recreate"})
    with Kubelet(cluster, ns) as kubelet:
        wait_for(lambda: complete(http, ns), timeout=15)
        start = len(kubelet.history)
        r = http.patch(f"/apis/apps/v1/namespaces/{ns}/deployments/web", headers=MERGE, json={
            "spec": {"template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:2"}]}}}})
        assert r.status_code == 200, r.text
        wait_for(lambda: len(replicasets(http, ns)) == 2 and complete(http, ns), timeout=20)
        wait_for(lambda: len(kubelet.live()) == 3, timeout=10)
        history = kubelet.history[start:]
    assert all(len(hashes) <= 1 for _, _, hashes in history), "old and new pods ran together"
    assert min(available for _, available, _ in history) == 0


def test_progress_deadline_and_min_ready_seconds(cluster: ServerProcess, http: httpx.Client, ns: str) -> None:
    create(http, ns, replicas=1, progressDeadlineSeconds=2, minReadySeconds=1)
    pod = wait_for(lambda: live_pods(http, ns), timeout=10)[0]
    d = wait_for(lambda: (x := deployment(http, ns)) and condition(x, "Progressing").get("reason")
                 == "ProgressDeadlineExceeded" and x, timeout=10, message="progress deadline exceeded")
    [rs] = replicasets(http, ns)
    cond = condition(d, "Progressing")
    assert (cond["status"], cond["message"]) == ("False", f'ReplicaSet "{rs["metadata"]["name"]}" has timed out '
                                                 "progressing.")
    available = condition(d, "Available")
    assert (available["status"], available["reason"], available["message"]) == (
        "False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability.")
    assert d["status"]["unavailableReplicas"] == 1
    mark_ready(http, ns, pod["metadata"]["name"])
    d = wait_for(lambda: (x := deployment(http, ns))["status"].get("readyReplicas") == 1 and x, timeout=5)
    assert d["status"].get("availableReplicas", 0) == 0, "minReadySeconds=1 has not passed yet"
    wait_for(lambda: complete(http, ns), timeout=10, message="available after minReadySeconds")


def test_revision_history_limit(cluster: ServerProcess, http: httpx.Client, ns: str) -> None:
    create(http, ns, replicas=1, revisionHistoryLimit=1)
    with Kubelet(cluster, ns):
        for generation, image in ((1, "nginx"), (2, "nginx:2"), (3, "nginx:3")):
            if generation > 1:
                kubectl(cluster, "set", "image", "deploy/web", f"nginx={image}", "-n", ns)
            wait_for(lambda g=generation: (x := complete(http, ns)) and x["metadata"]["generation"] == g,
                     timeout=15)
        rss = wait_for(lambda: (r := replicasets(http, ns)) and len(r) == 2 and r, timeout=10)
    revisions = [rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] for rs in rss]
    assert revisions == ["2", "3"], "revision 1 was cleaned up"


def strategy(replicas: int, surge: int | str | None, unavailable: int | str | None) -> Obj:
    ru = {k: v for k, v in (("maxSurge", surge), ("maxUnavailable", unavailable)) if v is not None}
    return {"metadata": {}, "spec": {"replicas": replicas, "strategy": {"type": "RollingUpdate", "rollingUpdate": ru}},
            "status": {}}


def test_fenceposts_and_proportions_round_as_upstream() -> None:
    assert resolve_fenceposts(strategy(0, "0%", "0%")) == (0, 1)
    assert resolve_fenceposts(strategy(10, "39%", "39%")) == (4, 3)  # surge rounds up, unavailable down
    assert resolve_fenceposts(strategy(10, None, "39%")) == (0, 3)
    assert resolve_fenceposts(strategy(10, "39%", None)) == (4, 0)
    assert resolve_fenceposts(strategy(10, None, None)) == (0, 1)
    assert max_unavailable(strategy(3, 0, 5)) == 3
    d = strategy(20, 3, 2)
    rs = {"metadata": {"annotations": {"deployment.kubernetes.io/max-replicas": "13"}}, "spec": {"replicas": 8}}
    assert get_proportion(rs, d, 10, 0) == 6  # round(8 * 23 / 13) - 8
    assert get_proportion(rs, d, 10, 7) == 3  # never more than what is left to add


def test_pod_template_hash() -> None:
    template: Obj = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "x"}]}}
    h = compute_hash(template, None)
    assert set(h) <= ALPHABET and 1 <= len(h) <= 10
    labelled = {"metadata": {"labels": {"app": "web", "pod-template-hash": h}}, "spec": template["spec"]}
    assert compute_hash(labelled, None) == h, "the hash label itself is not hashed"
    assert compute_hash(template, 1) not in (h, compute_hash(template, 2))
