"""The CronJob controller: cron parsing and next times (robfig/cron semantics, time zones), the scheduling
decisions with an injected clock, and against a live cluster (no kubelet; pod status set as a kubelet would):
a due run creates its Job, finished Jobs leave status.active, history limits, Forbid and Replace.

Live tests make a run due at once without faking the server's clock: the CronJob is created suspended
with a yearly schedule, status.lastScheduleTime is moved two years back through /status, and resuming
it leaves exactly one unmet schedule time (January 1st of this year)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from controllers.cronjob import decide, job_from_template, job_name, next_schedule_delay, schedule_of
from schemas import cron
from tests.cluster import ServerProcess, wait_for

from .test_job import finish
from .util import MERGE, kubectl, new_namespace

Obj = dict[str, Any]
UTC = dt.UTC
T0 = dt.datetime(2026, 11, 27, 7, 50, 30, tzinfo=UTC)  # a Friday


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=UTC)


# --- parsing and next times ------------------------------------------------------------------------------


@pytest.mark.parametrize(("spec", "want"), [
    ("* * * * *", at(2026, 11, 27, 7, 51)),
    ("*/15 * * * *", at(2026, 11, 27, 8, 0)),
    ("5,35 */2 * * *", at(2026, 11, 27, 8, 5)),
    ("0 9-17/4 * * *", at(2026, 11, 27, 9, 0)),
    ("0 0 * * SUN", at(2026, 11, 29)),
    ("0 9 * * mon-fri", at(2026, 11, 27, 9)),
    ("0 0 1 jan-mar *", at(2027, 1, 1)),
    ("0 0 13 * 5", at(2026, 12, 4)),  # day-of-month OR day-of-week when both are restricted
    ("0 0 ? * *", at(2026, 11, 28)),
    ("@hourly", at(2026, 11, 27, 8)),
    ("@daily", at(2026, 11, 28)),
    ("@midnight", at(2026, 11, 28)),
    ("@weekly", at(2026, 11, 29)),
    ("@monthly", at(2026, 12, 1)),
    ("@yearly", at(2027, 1, 1)),
    ("@annually", at(2027, 1, 1)),
    ("@every 90s", at(2026, 11, 27, 7, 52)),
    ("@every 1h30m", at(2026, 11, 27, 9, 20, 30)),  # a constant delay from the given time
    ("59 23 31 2 *", None),  # never: robfig gives up after five years
])
def test_next_after(spec: str, want: dt.datetime | None) -> None:
    assert cron.parse(spec).next_after(T0) == want


@pytest.mark.parametrize(("spec", "message"), [
    ("", "empty spec string"),
    ("* * *", "expected exactly 5 fields, found 3: [* * *]"),
    ("x * * * *", 'failed to parse int from x: strconv.Atoi: parsing "x": invalid syntax'),
    ("60 * * * *", "end of range (60) above maximum (59): 60"),
    ("* * 0 * *", "beginning of range (0) below minimum (1): 0"),
    ("5-1 * * * *", "beginning of range (5) beyond end of range (1): 5-1"),
    ("*/0 * * * *", "step of range should be a positive number: */0"),
    ("1-2-3 * * * *", "too many hyphens: 1-2-3"),
    ("1/2/3 * * * *", "too many slashes: 1/2/3"),
    ("* * * * 7", "end of range (7) above maximum (6): 7"),
    ("@fortnightly", "unrecognized descriptor: @fortnightly"),
    ("@every soon", 'failed to parse duration @every soon: time: invalid duration "soon"'),
    ("TZ=Mars/Base * * * * *", "provided bad location Mars/Base: unknown time zone Mars/Base"),
])
def test_parse_errors(spec: str, message: str) -> None:
    with pytest.raises(cron.CronError) as e:
        cron.parse(spec)
    assert str(e.value) == message


def test_time_zones() -> None:
    kolkata = cron.load_location("Asia/Kolkata")  # +05:30, no DST
    assert cron.parse("0 9 * * *", kolkata).next_after(T0) == at(2026, 11, 28, 3, 30)
    assert cron.parse("CRON_TZ=Asia/Kolkata 0 9 * * *").next_after(T0) == at(2026, 11, 28, 3, 30)
    assert cron.parse("TZ=America/New_York 0 9 * * *").next_after(T0) == at(2026, 11, 27, 14)
    ny = cron.load_location("America/New_York")
    # 2026-03-08 02:30 does not exist in New York (clocks jump 02:00 -> 03:00): that day is skipped
    assert cron.parse("30 2 * * *", ny).next_after(at(2026, 3, 7, 12)) == at(2026, 3, 9, 6, 30)
    # the hour after the jump runs once, at EDT
    assert cron.parse("30 3 * * *", ny).next_after(at(2026, 3, 7, 12)) == at(2026, 3, 8, 7, 30)
    # in summer the offset is -4
    assert cron.parse("0 12 * * *", ny).next_after(at(2026, 7, 1)) == at(2026, 7, 1, 16)
    with pytest.raises(cron.CronError, match="unknown time zone Nowhere/City"):
        cron.load_location("Nowhere/City")
    assert cron.validate("0 9 * * *", "Europe/Berlin") is None


# --- decisions with an injected clock --------------------------------------------------------------------


CREATED = at(2026, 11, 27, 10, 0, 30)


def cronjob(schedule: str = "* * * * *", created: dt.datetime = CREATED, **spec: Any) -> Obj:
    status = spec.pop("status", {})
    return {"apiVersion": "batch/v1", "kind": "CronJob",
            "metadata": {"name": "tick", "namespace": "ns", "uid": "u-1",
                         "creationTimestamp": created.strftime("%Y-%m-%dT%H:%M:%SZ")},
            "spec": {"schedule": schedule, "concurrencyPolicy": "Allow", "suspend": False,
                     "jobTemplate": {"metadata": {"labels": {"team": "a"}}, "spec": {"template": {"spec": {}}}},
                     **spec}, "status": status}


def test_decide_waits_then_creates() -> None:
    cj = cronjob()
    d = decide(cj, at(2026, 11, 27, 10, 0, 50))
    assert d.action == "none" and d.scheduled is None
    assert d.requeue_after == pytest.approx(10.1)
    d = decide(cj, at(2026, 11, 27, 10, 1, 5))
    assert d.action == "create" and d.scheduled == at(2026, 11, 27, 10, 1)
    assert d.requeue_after == pytest.approx(55.1)
    assert job_name(cj, at(2026, 11, 27, 10, 1)) == f"tick-{int(at(2026, 11, 27, 10, 1).timestamp()) // 60}"
    # the same time is not run twice
    cj["status"] = {"lastScheduleTime": "2026-11-27T10:01:00Z"}
    assert decide(cj, at(2026, 11, 27, 10, 1, 30)).action == "none"
    # several missed: only the most recent runs
    d = decide(cj, at(2026, 11, 27, 10, 7, 20))
    assert d.action == "create" and d.scheduled == at(2026, 11, 27, 10, 7) and not d.events


def test_decide_deadline_and_many_missed() -> None:
    cj = cronjob(created=at(2026, 11, 27, 7))
    d = decide(cj, at(2026, 11, 27, 10, 30, 20))
    assert d.action == "create" and d.scheduled == at(2026, 11, 27, 10, 30)
    assert d.events == [("Warning", "TooManyMissedTimes", "too many missed start times. Set or decrease "
                         ".spec.startingDeadlineSeconds or check clock skew")]
    # with startingDeadlineSeconds only the window counts: no event
    cj["spec"]["startingDeadlineSeconds"] = 30
    d = decide(cj, at(2026, 11, 27, 10, 30, 20))
    assert d.action == "create" and d.scheduled == at(2026, 11, 27, 10, 30) and not d.events
    # past the window nothing runs; the next schedule time is awaited
    d = decide(cronjob("0 * * * *", created=at(2026, 11, 27, 9, 30), startingDeadlineSeconds=60),
               at(2026, 11, 27, 10, 5))
    assert d.action == "none" and d.requeue_after == pytest.approx(55 * 60 + 0.1)


def test_decide_policies_and_suspend() -> None:
    active = {"active": [{"kind": "Job", "name": "tick-1", "namespace": "ns", "uid": "j1"}]}
    now = at(2026, 11, 27, 10, 1, 5)
    d = decide(cronjob(concurrencyPolicy="Forbid", status=active), now)
    assert d.action == "forbidden"
    assert d.events == [("Normal", "JobAlreadyActive",
                         "Not starting job because prior execution is running and concurrency policy is Forbid")]
    assert decide(cronjob(concurrencyPolicy="Replace", status=active), now).action == "replace"
    assert decide(cronjob(concurrencyPolicy="Allow", status=active), now).action == "create"
    d = decide(cronjob(suspend=True), now)
    assert d.action == "suspended" and d.requeue_after is None
    d = decide(cronjob(timeZone="Nowhere/City"), now)
    assert d.events == [("Warning", "UnknownTimeZone", 'invalid timeZone: "Nowhere/City": unknown time zone '
                         "Nowhere/City")]
    d = decide(cronjob("61 * * * *"), now)
    assert d.action == "invalid" and d.events[0][1] == "UnparseableSchedule"
    d = decide(cronjob("59 23 31 2 *"), now)
    assert d.action == "none" and d.requeue_after is None


def test_job_from_template_in_time_zone() -> None:
    cj = cronjob("0 9 * * *", timeZone="America/New_York")
    assert schedule_of(cj).next_after(T0) == at(2026, 11, 27, 14)
    job = job_from_template(cj, at(2026, 11, 27, 14))
    assert job["metadata"]["annotations"] == {"batch.kubernetes.io/cronjob-scheduled-timestamp":
                                              "2026-11-27T09:00:00-05:00"}
    assert job["metadata"]["labels"] == {"team": "a"}
    assert job["metadata"]["ownerReferences"] == [{"apiVersion": "batch/v1", "kind": "CronJob", "name": "tick",
                                                   "uid": "u-1", "controller": True, "blockOwnerDeletion": True}]
    utc = job_from_template(cronjob(), at(2026, 11, 27, 14))
    assert utc["metadata"]["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"] == \
        "2026-11-27T14:00:00Z"
    assert next_schedule_delay(cj, T0, schedule_of(cj)) == pytest.approx((at(2026, 11, 27, 14) - T0).seconds + 0.1)


# --- live --------------------------------------------------------------------------------------------------


@pytest.fixture
def http(cluster: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=cluster.url, timeout=30) as c:
        yield c


@pytest.fixture
def ns(http: httpx.Client) -> str:
    return new_namespace(http, "cj")


def base(ns: str) -> str:
    return f"/apis/batch/v1/namespaces/{ns}"


def create_cronjob(http: httpx.Client, ns: str, name: str, **spec: Any) -> Obj:
    body = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": name},
            "spec": {"schedule": "0 0 1 1 *", "suspend": True, "jobTemplate": {
                "metadata": {"labels": {"cron": name}},
                "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [
                    {"name": "c", "image": "busybox", "command": ["true"]}]}}}}, **spec}}
    r = http.post(f"{base(ns)}/cronjobs", json=body)
    assert r.status_code == 201, r.text
    out: Obj = r.json()
    return out


def set_status(http: httpx.Client, ns: str, name: str, **status: Any) -> None:
    cj = http.get(f"{base(ns)}/cronjobs/{name}").json()
    cj["status"] = dict(cj.get("status") or {}, **status)
    r = http.put(f"{base(ns)}/cronjobs/{name}/status", json=cj)
    assert r.status_code == 200, r.text


def resume(http: httpx.Client, ns: str, name: str, **spec: Any) -> None:
    r = http.patch(f"{base(ns)}/cronjobs/{name}", headers=MERGE, json={"spec": {"suspend": False, **spec}})
    assert r.status_code == 200, r.text


def two_years_ago() -> str:
    return (dt.datetime.now(UTC) - dt.timedelta(days=730)).strftime("%Y-%m-%dT%H:%M:%SZ")


def jobs(http: httpx.Client, ns: str) -> list[Obj]:
    items: list[Obj] = http.get(f"{base(ns)}/jobs").json()["items"]
    return sorted(items, key=lambda j: j["metadata"]["name"])


def events(http: httpx.Client, ns: str) -> list[tuple[str, str]]:
    items = http.get(f"/api/v1/namespaces/{ns}/events").json()["items"]
    return [(e["reason"], e["message"]) for e in items if e["involvedObject"]["kind"] == "CronJob"]


def pods_of(http: httpx.Client, ns: str, job: str) -> list[Obj]:
    items: list[Obj] = http.get(f"/api/v1/namespaces/{ns}/pods",
                                params={"labelSelector": f"batch.kubernetes.io/job-name={job}"}).json()["items"]
    return items


def owned_job(http: httpx.Client, ns: str, cj: Obj, name: str, **spec: Any) -> Obj:
    body = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "ownerReferences": [
        {"apiVersion": "batch/v1", "kind": "CronJob", "name": cj["metadata"]["name"], "uid": cj["metadata"]["uid"],
         "controller": True, "blockOwnerDeletion": True}]},
        "spec": dict(cj["spec"]["jobTemplate"]["spec"], **spec)}
    r = http.post(f"{base(ns)}/jobs", json=body)
    assert r.status_code == 201, r.text
    out: Obj = r.json()
    return out


def test_due_run_creates_job_and_sees_it_complete(http: httpx.Client, ns: str, cluster: ServerProcess) -> None:
    cj = create_cronjob(http, ns, "nightly")
    set_status(http, ns, "nightly", lastScheduleTime=two_years_ago())
    resume(http, ns, "nightly")
    due = dt.datetime(dt.datetime.now(UTC).year, 1, 1, tzinfo=UTC)
    name = f"nightly-{int(due.timestamp()) // 60}"
    job = wait_for(lambda: next((j for j in jobs(http, ns) if j["metadata"]["name"] == name), None), timeout=10,
                   message="the due Job")
    meta = job["metadata"]
    assert meta["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"] == \
        due.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert meta["labels"]["cron"] == "nightly"
    assert meta["ownerReferences"] == [{"apiVersion": "batch/v1", "kind": "CronJob", "name": "nightly",
                                        "uid": cj["metadata"]["uid"], "controller": True,
                                        "blockOwnerDeletion": True}]
    status = wait_for(lambda: (s := http.get(f"{base(ns)}/cronjobs/nightly").json()["status"]).get("active") and s,
                      timeout=10)
    assert status["lastScheduleTime"] == due.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert status["active"] == [{"kind": "Job", "namespace": ns, "name": name, "uid": meta["uid"],
                                 "apiVersion": "batch/v1", "resourceVersion": status["active"][0]["resourceVersion"]}]
    assert len(jobs(http, ns)) == 1
    header, line = kubectl(cluster, "get", "cronjob", "nightly", "-n", ns).splitlines()[:2]
    assert header.split() == ["NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST", "SCHEDULE", "AGE"]
    assert line.split()[:9] == ["nightly", "0", "0", "1", "1", "*", "<none>", "False", "1"]
    pod = wait_for(lambda: (p := pods_of(http, ns, name)) and p[0], timeout=10)
    finish(http, ns, pod)
    status = wait_for(lambda: (s := http.get(f"{base(ns)}/cronjobs/nightly").json()["status"])
                      .get("lastSuccessfulTime") and s, timeout=15, message="lastSuccessfulTime")
    assert "active" not in status
    wait_for(lambda: any(r == "SawCompletedJob" and m == f"Saw completed job: {name}, condition: Complete"
                         for r, m in events(http, ns)), timeout=5)
    assert ("SuccessfulCreate", f"Created job {name}") in events(http, ns)


def test_history_limits(http: httpx.Client, ns: str) -> None:
    cj = create_cronjob(http, ns, "hist", successfulJobsHistoryLimit=1, failedJobsHistoryLimit=1)
    for name in ("hist-a", "hist-b", "hist-c"):
        owned_job(http, ns, cj, name)
    for name in ("hist-x", "hist-y"):
        owned_job(http, ns, cj, name, backoffLimit=0)
    for name, code in (("hist-a", 0), ("hist-b", 0), ("hist-c", 0), ("hist-x", 1), ("hist-y", 1)):
        pod = wait_for(lambda n=name: (p := pods_of(http, ns, n)) and p[0], timeout=10)  # type: ignore[misc]
        finish(http, ns, pod, exit_code=code)
    wait_for(lambda: [j["metadata"]["name"] for j in jobs(http, ns)
                      if not j["metadata"].get("deletionTimestamp")] == ["hist-c", "hist-y"],
             timeout=20, message="the newest successful and the newest failed Job are kept")
    deleted = {m for r, m in events(http, ns) if r == "SuccessfulDelete"}
    assert deleted == {"Deleted job hist-a", "Deleted job hist-b", "Deleted job hist-x"}
    assert any(r == "UnexpectedJob" for r, _ in events(http, ns))
    assert http.get(f"{base(ns)}/cronjobs/hist").json()["status"].get("lastSuccessfulTime")


def test_forbid_then_replace(http: httpx.Client, ns: str) -> None:
    cj = create_cronjob(http, ns, "busy", concurrencyPolicy="Forbid")
    running = owned_job(http, ns, cj, "busy-running")
    ref = {"kind": "Job", "namespace": ns, "name": "busy-running", "uid": running["metadata"]["uid"],
           "apiVersion": "batch/v1"}
    set_status(http, ns, "busy", lastScheduleTime=two_years_ago(), active=[ref])
    resume(http, ns, "busy")
    wait_for(lambda: any(r == "JobAlreadyActive" for r, _ in events(http, ns)), timeout=10, message="Forbid")
    assert [j["metadata"]["name"] for j in jobs(http, ns)] == ["busy-running"]
    r = http.patch(f"{base(ns)}/cronjobs/busy", headers=MERGE, json={"spec": {"concurrencyPolicy": "Replace"}})
    assert r.status_code == 200, r.text
    due = dt.datetime(dt.datetime.now(UTC).year, 1, 1, tzinfo=UTC)
    name = f"busy-{int(due.timestamp()) // 60}"
    wait_for(lambda: [j["metadata"]["name"] for j in jobs(http, ns)
                      if not j["metadata"].get("deletionTimestamp")] == [name], timeout=10, message="replaced")
    status = http.get(f"{base(ns)}/cronjobs/busy").json()["status"]
    assert [a["name"] for a in status["active"]] == [name]
    assert ("SuccessfulDelete", "Deleted job busy-running") in events(http, ns)


def test_api_rejects_bad_schedules(http: httpx.Client, ns: str, cluster: ServerProcess) -> None:
    out = kubectl(cluster, "create", "cronjob", "bad", "-n", ns, "--image=busybox", "--schedule=61 * * * *",
                  check=False)
    assert 'CronJob.batch "bad" is invalid: spec.schedule: Invalid value: "61 * * * *": end of range (61) above ' \
           "maximum (59): 61" in out
    kubectl(cluster, "create", "cronjob", "good", "-n", ns, "--image=busybox", "--schedule=@every 2h")
    r = http.patch(f"{base(ns)}/cronjobs/good", headers=MERGE, json={"spec": {"timeZone": "Mars/Base"}})
    assert r.status_code == 422, r.text
    assert r.json()["details"]["causes"] == [{"reason": "FieldValueInvalid", "field": "spec.timeZone",
                                              "message": 'Invalid value: "Mars/Base": unknown time zone Mars/Base'}]
    r = http.patch(f"{base(ns)}/cronjobs/good", headers=MERGE, json={"spec": {"timeZone": "Europe/Berlin"}})
    assert r.status_code == 200, r.text
