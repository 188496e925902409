"""The Job and TTL-after-finished controllers against a live cluster (API server + controller-manager, no
kubelet): pods from the template, the tracking finalizer, counting, completion, failure, suspension and
clean-up. Pod status is set as a kubelet would."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.cluster import ServerProcess, wait_for

from .util import MERGE, kubectl, mark_ready, new_namespace, stamp

Obj = dict[str, Any]
FINALIZER = "batch.kubernetes.io/job-tracking"
INDEX = "batch.kubernetes.io/job-completion-index"


@pytest.fixture
def http(cluster: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=cluster.url, timeout=30) as c:
        yield c


@pytest.fixture
def ns(http: httpx.Client) -> str:
    return new_namespace(http, "job")


def job_body(name: str, **spec: Any) -> Obj:
    restart = spec.pop("restartPolicy", "Never")
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
            "spec": {"template": {"spec": {"restartPolicy": restart,
                                           "containers": [{"name": "c", "image": "busybox",
                                                           "command": ["true"]}]}}, **spec}}


def create_job(http: httpx.Client, ns: str, body: Obj) -> Obj:
    r = http.post(f"/apis/batch/v1/namespaces/{ns}/jobs", json=body)
    assert r.status_code == 201, r.text
    out: Obj = r.json()
    return out


def get_job(http: httpx.Client, ns: str, name: str) -> Obj:
    out: Obj = http.get(f"/apis/batch/v1/namespaces/{ns}/jobs/{name}").json()
    return out


def pods(http: httpx.Client, ns: str) -> list[Obj]:
    items: list[Obj] = http.get(f"/api/v1/namespaces/{ns}/pods").json()["items"]
    return sorted(items, key=lambda p: p["metadata"]["creationTimestamp"] + p["metadata"]["name"])


def active(http: httpx.Client, ns: str) -> list[Obj]:
    return [p for p in pods(http, ns) if not p["metadata"].get("deletionTimestamp")
            and p.get("status", {}).get("phase") not in ("Succeeded", "Failed")]


def finish(http: httpx.Client, ns: str, pod: Obj, exit_code: int = 0) -> None:
    """Report the pod's containers terminated with ``exit_code``: phase Succeeded (0) or Failed."""
    now = stamp()
    terminated = {"exitCode": exit_code, "reason": "Completed" if exit_code == 0 else "Error",
                  "startedAt": now, "finishedAt": now}
    status = {"phase": "Succeeded" if exit_code == 0 else "Failed",
              "containerStatuses": [{"name": "c", "image": "busybox", "imageID": "", "ready": False,
                                     "restartCount": 0, "started": False, "state": {"terminated": terminated}}]}
    r = http.patch(f"/api/v1/namespaces/{ns}/pods/{pod['metadata']['name']}/status", headers=MERGE,
                   json={"status": status})
    assert r.status_code == 200, r.text


def conditions(job: Obj) -> dict[str, Obj]:
    return {c["type"]: c for c in job.get("status", {}).get("conditions") or []}


def reasons(http: httpx.Client, ns: str) -> list[tuple[str, str]]:
    items = http.get(f"/api/v1/namespaces/{ns}/events").json()["items"]
    return [(e["reason"], e["message"]) for e in items if e["involvedObject"]["kind"] == "Job"]


def test_generated_selector_and_labels(http: httpx.Client, ns: str) -> None:
    job = create_job(http, ns, job_body("gen"))
    uid = job["metadata"]["uid"]
    assert job["spec"]["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    want = {"batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": "gen",
            "controller-uid": uid, "job-name": "gen"}
    assert job["spec"]["template"]["metadata"]["labels"] == want
    assert job["metadata"]["labels"] == want
    assert job["spec"]["manualSelector"] is False
    # a manual selector is kept as given
    body = job_body("manual", manualSelector=True, selector={"matchLabels": {"app": "x"}})
    body["spec"]["template"]["metadata"] = {"labels": {"app": "x"}}
    manual = create_job(http, ns, body)
    assert manual["spec"]["selector"] == {"matchLabels": {"app": "x"}}
    assert manual["spec"]["template"]["metadata"]["labels"] == {"app": "x"}
    # and a template without the restartPolicy a Job needs is refused as upstream
    r = http.post(f"/apis/batch/v1/namespaces/{ns}/jobs", json=job_body("bad", restartPolicy="Always"))
    assert r.status_code == 422, r.text
    assert r.json()["details"]["causes"][0]["field"] == "spec.template.spec.restartPolicy"


def test_completions_parallelism_and_tracking(http: httpx.Client, ns: str, cluster: ServerProcess) -> None:
    job = create_job(http, ns, job_body("work", completions=3, parallelism=2))
    uid = job["metadata"]["uid"]
    first = wait_for(lambda: (a := active(http, ns)) and len(a) == 2 and a, timeout=10, message="2 pods")
    for pod in first:
        meta = pod["metadata"]
        assert meta["generateName"] == "work-"
        assert meta["finalizers"] == [FINALIZER]
        assert meta["labels"]["batch.kubernetes.io/job-name"] == "work"
        assert meta["labels"]["controller-uid"] == uid
        assert meta["ownerReferences"] == [{"apiVersion": "batch/v1", "kind": "Job", "name": "work", "uid": uid,
                                            "controller": True, "blockOwnerDeletion": True}]
    time.sleep(0.5)
    assert len(pods(http, ns)) == 2, "parallelism 2: no third pod yet"
    status = wait_for(lambda: (s := get_job(http, ns, "work")["status"]).get("active") == 2 and s, timeout=10)
    assert status["ready"] == 0 and status["terminating"] == 0 and status["uncountedTerminatedPods"] == {}
    assert "startTime" in status and "succeeded" not in status
    mark_ready(http, ns, first[0]["metadata"]["name"])
    wait_for(lambda: get_job(http, ns, "work")["status"].get("ready") == 1, timeout=10, message="ready 1")

    finish(http, ns, first[0])
    wait_for(lambda: get_job(http, ns, "work")["status"].get("succeeded") == 1, timeout=10, message="1 succeeded")
    done = http.get(f"/api/v1/namespaces/{ns}/pods/{first[0]['metadata']['name']}").json()
    assert FINALIZER not in (done["metadata"].get("finalizers") or []), "counted pods lose the finalizer"
    wait_for(lambda: len(active(http, ns)) == 2, timeout=10, message="a third pod for the third completion")
    assert len(pods(http, ns)) == 3
    for pod in active(http, ns):
        finish(http, ns, pod)
    job = wait_for(lambda: (j := get_job(http, ns, "work")) and "Complete" in conditions(j) and j, timeout=10)
    conds = conditions(job)
    for ctype in ("SuccessCriteriaMet", "Complete"):
        assert conds[ctype]["status"] == "True"
        assert conds[ctype]["reason"] == "CompletionsReached"
        assert conds[ctype]["message"] == "Reached expected number of succeeded pods"
    assert [c["type"] for c in job["status"]["conditions"]] == ["SuccessCriteriaMet", "Complete"]
    assert job["status"]["succeeded"] == 3 and "active" not in job["status"] and "failed" not in job["status"]
    assert job["status"]["completionTime"] == conds["Complete"]["lastTransitionTime"]
    assert all(FINALIZER not in (p["metadata"].get("finalizers") or []) for p in pods(http, ns))
    events = wait_for(lambda: (e := reasons(http, ns)) and ("Completed", "Job completed") in e and e, timeout=5)
    assert sum(1 for r, _ in events if r == "SuccessfulCreate") == 3
    table = kubectl(cluster, "get", "jobs", "-n", ns)
    header, row = table.splitlines()[:2]
    assert header.split() == ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"]
    assert row.split()[:3] == ["work", "Complete", "3/3"]


def test_indexed_job(http: httpx.Client, ns: str) -> None:
    create_job(http, ns, job_body("idx", completions=3, parallelism=3, completionMode="Indexed"))
    created = wait_for(lambda: (a := active(http, ns)) and len(a) == 3 and a, timeout=10, message="3 pods")
    by_index = {p["metadata"]["annotations"][INDEX]: p for p in created}
    assert sorted(by_index) == ["0", "1", "2"]
    for ix, pod in by_index.items():
        assert pod["metadata"]["labels"][INDEX] == ix
        assert pod["metadata"]["generateName"] == f"idx-{ix}-"
        assert pod["spec"]["hostname"] == f"idx-{ix}"
        assert pod["spec"]["containers"][0]["env"] == [
            {"name": "JOB_COMPLETION_INDEX", "valueFrom": {"fieldRef": {
                "apiVersion": "v1", "fieldPath": f"metadata.annotations['{INDEX}']"}}}]
    finish(http, ns, by_index["1"])
    status = wait_for(lambda: (s := get_job(http, ns, "idx")["status"]).get("completedIndexes") == "1" and s,
                      timeout=10)
    assert status["succeeded"] == 1
    finish(http, ns, by_index["2"])
    wait_for(lambda: get_job(http, ns, "idx")["status"].get("completedIndexes") == "1,2", timeout=10,
             message="completedIndexes 1,2")
    finish(http, ns, by_index["0"])
    job = wait_for(lambda: (j := get_job(http, ns, "idx")) and "Complete" in conditions(j) and j, timeout=10)
    assert job["status"]["completedIndexes"] == "0-2" and job["status"]["succeeded"] == 3
    assert len(pods(http, ns)) == 3


def test_backoff_limit_exceeded(http: httpx.Client, ns: str, cluster: ServerProcess) -> None:
    create_job(http, ns, job_body("fail", backoffLimit=0))
    pod = wait_for(lambda: (a := active(http, ns)) and a[0], timeout=10, message="a pod")
    finish(http, ns, pod, exit_code=3)
    job = wait_for(lambda: (j := get_job(http, ns, "fail")) and "Failed" in conditions(j) and j, timeout=10)
    conds = conditions(job)
    assert [c["type"] for c in job["status"]["conditions"]] == ["FailureTarget", "Failed"]
    for ctype in ("FailureTarget", "Failed"):
        assert conds[ctype]["reason"] == "BackoffLimitExceeded"
        assert conds[ctype]["message"] == "Job has reached the specified backoff limit"
    assert job["status"]["failed"] == 1 and "completionTime" not in job["status"]
    assert len(pods(http, ns)) == 1, "no replacement after the limit"
    assert FINALIZER not in (pods(http, ns)[0]["metadata"].get("finalizers") or [])
    wait_for(lambda: ("BackoffLimitExceeded", "Job has reached the specified backoff limit") in reasons(http, ns),
             timeout=5, message="the BackoffLimitExceeded event")
    table = kubectl(cluster, "get", "job", "fail", "-n", ns, "--no-headers")
    assert table.split()[1:3] == ["Failed", "0/1"]


def test_failed_pod_is_replaced_after_a_back_off(http: httpx.Client, ns: str) -> None:
    create_job(http, ns, job_body("retry", backoffLimit=2))
    pod = wait_for(lambda: (a := active(http, ns)) and a[0], timeout=10, message="a pod")
    finish(http, ns, pod, exit_code=1)
    wait_for(lambda: get_job(http, ns, "retry")["status"].get("failed") == 1, timeout=10, message="failed 1")
    time.sleep(3)
    assert active(http, ns) == [], "the replacement waits for the 10 s pod failure back-off"
    replacement = wait_for(lambda: (a := active(http, ns)) and a[0], timeout=30, message="a replacement")
    finish(http, ns, replacement)
    job = wait_for(lambda: (j := get_job(http, ns, "retry")) and "Complete" in conditions(j) and j, timeout=10)
    assert job["status"]["failed"] == 1 and job["status"]["succeeded"] == 1


def test_active_deadline_exceeded(http: httpx.Client, ns: str) -> None:
    create_job(http, ns, job_body("slow", activeDeadlineSeconds=2, parallelism=2, completions=4))
    wait_for(lambda: len(active(http, ns)) == 2, timeout=10, message="2 pods")
    job = wait_for(lambda: (j := get_job(http, ns, "slow")) and "Failed" in conditions(j) and j, timeout=20)
    cond = conditions(job)["Failed"]
    assert (cond["reason"], cond["message"]) == ("DeadlineExceeded", "Job was active longer than specified deadline")
    assert "active" not in job["status"] and job["status"]["failed"] == 2
    wait_for(lambda: pods(http, ns) == [], timeout=10, message="the deleted pods gone once counted")


def test_suspend_and_resume(http: httpx.Client, ns: str, cluster: ServerProcess) -> None:
    create_job(http, ns, job_body("sus", suspend=True, parallelism=2, completions=2))
    job = wait_for(lambda: (j := get_job(http, ns, "sus")) and "Suspended" in conditions(j) and j, timeout=10)
    cond = conditions(job)["Suspended"]
    assert (cond["status"], cond["reason"], cond["message"]) == ("True", "JobSuspended", "Job suspended")
    assert "startTime" not in job["status"] and pods(http, ns) == []
    table = kubectl(cluster, "get", "job", "sus", "-n", ns, "--no-headers")
    assert table.split()[1] == "Suspended"

    r = http.patch(f"/apis/batch/v1/namespaces/{ns}/jobs/sus", headers=MERGE, json={"spec": {"suspend": False}})
    assert r.status_code == 200, r.text
    wait_for(lambda: len(active(http, ns)) == 2, timeout=10, message="pods on resume")
    job = wait_for(lambda: (j := get_job(http, ns, "sus")) and conditions(j)["Suspended"]["status"] == "False" and j,
                   timeout=10)
    cond = conditions(job)["Suspended"]
    assert (cond["reason"], cond["message"]) == ("JobResumed", "Job resumed")
    assert "startTime" in job["status"]

    r = http.patch(f"/apis/batch/v1/namespaces/{ns}/jobs/sus", headers=MERGE, json={"spec": {"suspend": True}})
    assert r.status_code == 200, r.text
    wait_for(lambda: pods(http, ns) == [], timeout=10, message="active pods deleted on suspend")
    job = wait_for(lambda: (j := get_job(http, ns, "sus")) and conditions(j)["Suspended"]["status"] == "True" and j,
                   timeout=10)
    assert "failed" not in job["status"], "pods deleted by a suspension are not failures"
    assert {"Suspended", "Resumed", "SuccessfulDelete"} <= {r for r, _ in reasons(http, ns)}


def test_ttl_after_finished_deletes_the_job_and_its_pods(http: httpx.Client, ns: str) -> None:
    create_job(http, ns, job_body("ttl", ttlSecondsAfterFinished=1))
    pod = wait_for(lambda: (a := active(http, ns)) and a[0], timeout=10, message="a pod")
    finish(http, ns, pod)
    wait_for(lambda: http.get(f"/apis/batch/v1/namespaces/{ns}/jobs/ttl").status_code == 404, timeout=20,
             message="the Job deleted after its TTL")
    wait_for(lambda: pods(http, ns) == [], timeout=20, message="its pods collected")


def test_deleting_a_running_job_releases_its_pods(http: httpx.Client, ns: str) -> None:
    create_job(http, ns, job_body("gone", parallelism=2, completions=2))
    wait_for(lambda: len(active(http, ns)) == 2, timeout=10, message="2 pods")
    r = http.request("DELETE", f"/apis/batch/v1/namespaces/{ns}/jobs/gone",
                     json={"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"})
    assert r.status_code == 200, r.text
    wait_for(lambda: pods(http, ns) == [], timeout=20, message="pods deleted and their finalizers removed")


def test_pod_failure_policy_ignore_then_fail_job(http: httpx.Client, ns: str) -> None:
    policy = {"rules": [{"action": "Ignore", "onExitCodes": {"operator": "In", "values": [42]}},
                        {"action": "FailJob", "onExitCodes": {"containerName": "c", "operator": "In", "values": [5]}}]}
    create_job(http, ns, job_body("pfp", backoffLimit=0, podFailurePolicy=policy))
    first = wait_for(lambda: (a := active(http, ns)) and a[0], timeout=10, message="a pod")
    finish(http, ns, first, exit_code=42)
    second = wait_for(lambda: (a := active(http, ns)) and a[0], timeout=30, message="a replacement after the back-off")
    job = get_job(http, ns, "pfp")
    assert "failed" not in job["status"] and not conditions(job), "an ignored failure does not count"
    finish(http, ns, second, exit_code=5)
    job = wait_for(lambda: (j := get_job(http, ns, "pfp")) and "Failed" in conditions(j) and j, timeout=10)
    message = (f"Container c for pod {ns}/{second['metadata']['name']} failed with exit code 5 matching FailJob "
               "rule at index 1")
    for ctype in ("FailureTarget", "Failed"):
        assert (conditions(job)[ctype]["reason"], conditions(job)[ctype]["message"]) == ("PodFailurePolicy", message)
    assert job["status"]["failed"] == 1
