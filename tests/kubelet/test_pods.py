"""Pod lifecycle on a process-runtime kubelet: phases, conditions, restarts, probes, deletion."""

from __future__ import annotations

import socket
import time

from tests.kubelet.conftest import KubeletCluster
from tests.kubelet.util import condition, container, cstatus, phase, pod, ready


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_pod_runs_and_is_ready_with_upstream_status(kl: KubeletCluster) -> None:
    ns = kl.api.namespace()
    kl.api.create_pod(ns, pod("web", kl.node, container("web", "sh", "-c", "echo hello; sleep 1000")))
    p = kl.api.wait_pod(ns, "web", lambda p: phase(p) == "Running" and ready(p))
    st = p["status"]
    assert st["podIP"] and st["podIPs"] == [{"ip": st["podIP"]}]
    assert st["hostIP"] == "127.0.0.1" and st["hostIPs"] == [{"ip": "127.0.0.1"}]
    assert st["startTime"] and st["qosClass"] == "BestEffort"
    assert [c["type"] for c in st["conditions"]] == ["PodReadyToStartContainers", "Initialized", "Ready",
                                                     "ContainersReady", "PodScheduled"]
    assert all(c["status"] == "True" and c["lastTransitionTime"] for c in st["conditions"])
    cs = cstatus(p, "web")
    assert cs["ready"] is True and cs["started"] is True and cs["restartCount"] == 0
    assert "running" in cs["state"] and cs["lastState"] == {}
    assert cs["image"] == "docker.io/library/busybox:latest"
    assert cs["imageID"].startswith("docker.io/library/busybox@sha256:")
    assert cs["containerID"].startswith("kplane-process://")
    events = kl.api.get(f"/api/v1/namespaces/{ns}/events")
    assert events is not None
    reasons = {e["reason"] for e in events["items"]}
    assert {"Pulled", "Created", "Started"} <= reasons
    started = next(e for e in events["items"] if e["reason"] == "Started")
    assert started["source"] == {"component": "kubelet", "host": kl.node}
    assert started["involvedObject"]["fieldPath"] == "spec.containers{web}"


def test_job_like_pod_succeeds(kl: KubeletCluster) -> None:
    ns = kl.api.namespace()
    kl.api.create_pod(ns, pod("once", kl.node, container("main", "sh", "-c", "echo done"), restart="Never"))
    p = kl.api.wait_pod(ns, "once", lambda p: phase(p) == "Succeeded")
    term = cstatus(p)["state"]["terminated"]
    assert term["exitCode"] == 0 and term["reason"] == "Completed" and term["finishedAt"]
    assert condition(p, "Ready")["reason"] == "PodCompleted"
    assert condition(p, "ContainersReady")["reason"] == "PodCompleted"
    assert condition(p, "PodReadyToStartContainers")["status"] == "False"
    # the kubelet leaves a finished pod alone
    rv = p["metadata"]["resourceVersion"]
    time.sleep(1.5)
    again = kl.api.pod(ns, "once")
    assert again is not None and again["metadata"]["resourceVersion"] == rv


def test_never_restart_failure_keeps_the_exit_code(kl: KubeletCluster) -> None:
    ns = kl.api.namespace()
    kl.api.create_pod(ns, pod("fail", kl.node, container("main", "python3", "-c", "import sys; sys.exit(3)",
                                                        image="python:3.12"), restart="Never"))
    p = kl.api.wait_pod(ns, "fail", lambda p: phase(p) == "Failed")
    term = cstatus(p)["state"]["terminated"]
    assert (term["exitCode"], term["reason"]) == (3, "Error")
    assert cstatus(p)["restartCount"] == 0


def test_on_failure_restarts_until_success(kl: KubeletCluster) -> None:
    ns = kl.api.namespace()
    script = "if [ -f tried ]; then echo second; else touch tried; echo first; exit 1; fi"
    kl.api.create_pod(ns, pod("retry", kl.node, container("main", "sh", "-c", script), restart="OnFailure"))
    p = kl.api.wait_pod(ns, "retry", lambda p: phase(p) == "Succeeded")
    cs = cstatus(p)
    assert cs["restartCount"] == 1
    assert cs["lastState"]["terminated"]["exitCode"] == 1
    assert cs["state"]["terminated"]["exitCode"] == 0


def test_crash_loop_back_off(kl: KubeletCluster) -> None:
    ns = kl.api.namespace()
    kl.api.create_pod(ns, pod("crash", kl.node, container("c", "sh", "-c", "echo boom; exit 1")))
    p = kl.api.wait_pod(ns, "crash", lambda p: (cstatus(p).get("state") or {}).get("waiting", {}).get("reason")
                        == "CrashLoopBackOff")
    cs = cstatus(p)
    assert phase(p) == "Running"  # restartPolicy Always: the pod is restarting, not finished
    assert cs["restartCount"] == 1  # the first restart is immediate, then the back-off starts
    assert "back-off 10s restarting failed container=c pod=crash_" in cs["state"]["waiting"]["message"]
    assert cs["lastState"]["terminated"]["exitCode"] == 1 and cs["ready"] is False
    assert condition(p, "Ready")["reason"] == "ContainersNotReady"
    crashed_at = time.monotonic()
    p = kl.api.wait_pod(ns, "crash", lambda p: cstatus(p)["restartCount"] >= 2, timeout=20)
    assert time.monotonic() - crashed_at > 7  # waited out (most of) the 10 s back-off
    p = kl.api.wait_pod(ns, "crash", lambda p: "back-off 20s" in
                        (cstatus(p).get("state") or {}).get("waiting", {}).get("message", ""), timeout=10)
    events = kl.api.get(f"/api/v1/namespaces/{ns}/events")
    assert events is not None
    backoff = [e for e in events["items"] if e["reason"] == "BackOff"]
    assert backoff and backoff[0]["type"] == "Warning"


def test_init_containers_run_in_order(kl: KubeletCluster) -> None:
    ns = kl.api.namespace()
    spec = pod("init", kl.node, container("main", "sh", "-c", "cat order; sleep 1000"),
               initContainers=[container("first", "sh", "-c", "sleep 0.5; echo first > order"),
                               container("second", "sh", "-c", "test -f order && echo second >> order")])
    kl.api.create_pod(ns, spec)
    p = kl.api.wait_pod(ns, "init", lambda p: phase(p) == "Pending" and "running" in
                        (cstatus(p, "first", init=True).get("state") or {}), timeout=10)
    assert condition(p, "Initialized")["status"] == "False"
    assert condition(p, "Initialized")["message"] == "containers with incomplete status: [first second]"
    assert cstatus(p, "main")["state"]["waiting"]["reason"] == "PodInitializing"
    p = kl.api.wait_pod(ns, "init", lambda p: phase(p) == "Running" and ready(p))
    first = cstatus(p, "first", init=True)["state"]["terminated"]
    second = cstatus(p, "second", init=True)["state"]["terminated"]
    assert first["exitCode"] == 0 and second["exitCode"] == 0 and first["finishedAt"] <= second["startedAt"]
    assert condition(p, "Initialized")["status"] == "True"
    log = kl.api.http.get(f"/api/v1/namespaces/{ns}/pods/init/log", params={"container": "main"})
    assert log.text == "first\nsecond\n"


def test_failed_init_container_fails_a_never_pod(kl: KubeletCluster) -> None:
    ns = kl.api.namespace()
    kl.api.create_pod(ns, pod("badinit", kl.node, container("main", "sleep", "1000"), restart="Never",
                              initContainers=[container("setup", "false")]))
    p = kl.api.wait_pod(ns, "badinit", lambda p: phase(p) == "Failed")
    assert cstatus(p, "setup", init=True)["state"]["terminated"]["exitCode"] == 1
    assert "waiting" in cstatus(p, "main")["state"]


def test_graceful_deletion_honours_the_grace_period(kl: KubeletCluster) -> None:
    ns = kl.api.namespace()
    stubborn = "trap '' TERM; while true; do sleep 0.2; done"
    kl.api.create_pod(ns, pod("stubborn", kl.node, container("c", "sh", "-c", stubborn)))
    kl.api.create_pod(ns, pod("polite", kl.node, container("c", "sleep", "1000")))
    for name in ("stubborn", "polite"):
        kl.api.wait_pod(ns, name, ready)
    r = kl.api.delete(f"/api/v1/namespaces/{ns}/pods/stubborn", gracePeriodSeconds=4)
    assert r.status_code == 200
    p = kl.api.pod(ns, "stubborn")
    assert p is not None and p["metadata"]["deletionGracePeriodSeconds"] == 4
    took = kl.api.wait_gone(ns, "stubborn", timeout=20)
    assert 2.5 < took < 10, took  # SIGKILL only after the grace period
    kl.api.delete(f"/api/v1/namespaces/{ns}/pods/polite")  # default: terminationGracePeriodSeconds 30
    assert kl.api.wait_gone(ns, "polite", timeout=20) < 5  # SIGTERM ends it at once
    events = kl.api.get(f"/api/v1/namespaces/{ns}/events")
    assert events is not None
    assert any(e["reason"] == "Killing" and e["message"] == "Stopping container c" for e in events["items"])


def test_readiness_probes_exec_and_http(kl: KubeletCluster) -> None:
    ns = kl.api.namespace()
    port = free_port()
    kl.api.create_pod(ns, pod(
        "probed", kl.node,
        container("files", "sh", "-c", "sleep 1; touch ready; sleep 1000",
                  readinessProbe={"exec": {"command": ["sh", "-c", "test -f ready"]}, "periodSeconds": 1}),
        container("http", "python3", "-m", "http.server", str(port), "--bind", "0.0.0.0", image="python:3",
                  ports=[{"name": "web", "containerPort": port}],
                  readinessProbe={"httpGet": {"path": "/", "port": "web"}, "periodSeconds": 1},
                  startupProbe={"tcpSocket": {"port": port}, "periodSeconds": 1, "failureThreshold": 30})))
    p = kl.api.wait_pod(ns, "probed", lambda p: phase(p) == "Running")
    assert not ready(p)
    p = kl.api.wait_pod(ns, "probed", ready, timeout=20)
    assert cstatus(p, "files")["ready"] and cstatus(p, "http")["ready"] and cstatus(p, "http")["started"]


def test_liveness_failure_restarts_the_container(kl: KubeletCluster) -> None:
    ns = kl.api.namespace()
    kl.api.create_pod(ns, pod("sick", kl.node, container(
        "c", "sleep", "1000", livenessProbe={"exec": {"command": ["false"]}, "periodSeconds": 1,
                                             "failureThreshold": 2})))
    p = kl.api.wait_pod(ns, "sick", lambda p: cstatus(p).get("restartCount", 0) >= 1, timeout=20)
    assert cstatus(p)["lastState"]["terminated"]["exitCode"] == 143  # SIGTERM
    events = kl.api.get(f"/api/v1/namespaces/{ns}/events")
    assert events is not None
    msgs = {(e["reason"], e["message"]) for e in events["items"]}
    assert ("Killing", "Container c failed liveness probe, will be restarted") in msgs
    assert any(r == "Unhealthy" and m.startswith("Liveness probe failed") for r, m in msgs)


def test_environment_and_downward_api(kl: KubeletCluster) -> None:
    ns = kl.api.namespace()
    kl.api.create(f"/api/v1/namespaces/{ns}/configmaps",
                  {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": {"color": "blue"}})
    kl.api.create(f"/api/v1/namespaces/{ns}/secrets",
                  {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "sec"}, "stringData": {"pw": "s3cret"}})
    env = [{"name": "GREETING", "value": "hi"},
           {"name": "MSG", "value": "$(GREETING) there"},
           {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
           {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
           {"name": "COLOR", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "color"}}},
           {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "pw"}}}]
    kl.api.create_pod(ns, pod("env", kl.node, container(
        "c", "sh", "-c", "echo $MSG $POD $NODE $COLOR $PW $HOSTNAME $(GREETING)", env=env,
        envFrom=[{"configMapRef": {"name": "cfg"}, "prefix": "CM_"}]), restart="Never"))
    kl.api.wait_pod(ns, "env", lambda p: phase(p) == "Succeeded")
    log = kl.api.http.get(f"/api/v1/namespaces/{ns}/pods/env/log")
    assert log.text == f"hi there env {kl.node} blue s3cret env hi\n"


def test_missing_configmap_is_a_config_error(kl: KubeletCluster) -> None:
    ns = kl.api.namespace()
    kl.api.create_pod(ns, pod("noconf", kl.node, container(
        "c", "sleep", "1000", envFrom=[{"configMapRef": {"name": "absent"}}])))
    p = kl.api.wait_pod(ns, "noconf", lambda p: (cstatus(p).get("state") or {}).get("waiting", {}).get("reason")
                        == "CreateContainerConfigError")
    assert cstatus(p)["state"]["waiting"]["message"] == 'configmap "absent" not found'
    assert phase(p) == "Pending"


def test_active_deadline_fails_the_pod(kl: KubeletCluster) -> None:
    ns = kl.api.namespace()
    kl.api.create_pod(ns, pod("late", kl.node, container("c", "sleep", "1000"), activeDeadlineSeconds=2))
    p = kl.api.wait_pod(ns, "late", lambda p: phase(p) == "Failed", timeout=20)
    assert p["status"]["reason"] == "DeadlineExceeded"
    assert p["status"]["message"] == "Pod was active on the node longer than the specified deadline"


def test_status_is_written_only_on_change(kl: KubeletCluster) -> None:
    ns = kl.api.namespace()
    kl.api.create_pod(ns, pod("quiet", kl.node, container("c", "sleep", "1000")))
    p = kl.api.wait_pod(ns, "quiet", ready)
    rv = p["metadata"]["resourceVersion"]
    time.sleep(12)  # past the status manager's 10 s resync
    again = kl.api.pod(ns, "quiet")
    assert again is not None and again["metadata"]["resourceVersion"] == rv


def test_volumes_at_their_mount_paths(kl: KubeletCluster) -> None:
    """As root the kubelet bind-mounts volumes in a mount namespace per container (see test_mounts.py)."""
    ns = kl.api.namespace()
    kl.api.create(f"/api/v1/namespaces/{ns}/configmaps", {"apiVersion": "v1", "kind": "ConfigMap",
                                                          "metadata": {"name": "app"}, "data": {"app.conf": "x=1"}})
    kl.api.create(f"/api/v1/namespaces/{ns}/secrets", {"apiVersion": "v1", "kind": "Secret",
                                                       "metadata": {"name": "tls"}, "stringData": {"key": "k3y"}})
    script = ("cat /etc/app/app.conf; echo; cat /secret/key; echo; cat /info/name; echo; "
              "echo shared > /scratch/f; cat $SCRATCH/f; pwd")
    kl.api.create_pod(ns, pod("vols", kl.node, container(
        "c", "sh", "-c", script, workingDir="/scratch", env=[{"name": "SCRATCH", "value": "/scratch"}],
        volumeMounts=[{"name": "cfg", "mountPath": "/etc/app"}, {"name": "sec", "mountPath": "/secret"},
                      {"name": "info", "mountPath": "/info"}, {"name": "tmp", "mountPath": "/scratch"}]),
        restart="Never", volumes=[
            {"name": "cfg", "configMap": {"name": "app"}}, {"name": "sec", "secret": {"secretName": "tls"}},
            {"name": "info", "downwardAPI": {"items": [{"path": "name",
                                                        "fieldRef": {"fieldPath": "metadata.name"}}]}},
            {"name": "tmp", "emptyDir": {}}]))
    kl.api.wait_pod(ns, "vols", lambda p: phase(p) == "Succeeded")
    log = kl.api.http.get(f"/api/v1/namespaces/{ns}/pods/vols/log")
    assert log.text == "x=1\nk3y\nvols\nshared\n/scratch\n"


def test_missing_volume_source_keeps_the_pod_pending(kl: KubeletCluster) -> None:
    ns = kl.api.namespace()
    kl.api.create_pod(ns, pod("novol", kl.node, container("c", "sleep", "1000"),
                              volumes=[{"name": "cfg", "configMap": {"name": "absent"}}]))
    p = kl.api.wait_pod(ns, "novol", lambda p: phase(p) == "Pending" and bool(p["status"].get("containerStatuses")))
    assert cstatus(p)["state"]["waiting"]["reason"] == "ContainerCreating"
    assert condition(p, "PodReadyToStartContainers")["status"] == "False"
    kl.api.create(f"/api/v1/namespaces/{ns}/configmaps", {"apiVersion": "v1", "kind": "ConfigMap",
                                                          "metadata": {"name": "absent"}, "data": {"k": "v"}})
    kl.api.wait_pod(ns, "novol", ready, timeout=20)
