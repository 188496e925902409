"""Helpers for controller tests against the live ``cluster``: act as the kubelet would on pod status (there
is no kubelet in these tests), run the real kubectl, and watch pods while a controller works."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import threading
import uuid
from collections.abc import Callable
from typing import Any

import httpx

from conformance.kubectl import KUBECTL_137, run_kubectl
from tests.cluster import ServerProcess

Obj = dict[str, Any]
MERGE = {"content-type": "application/merge-patch+json"}
_ips = itertools.count(1)


def stamp(t: dt.datetime | None = None) -> str:
    return (t or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_namespace(http: httpx.Client, prefix: str) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    r = http.post("/api/v1/namespaces", json={"metadata": {"name": name}})
    assert r.status_code == 201, r.text
    return name


def kubectl(cluster: ServerProcess, *args: str, check: bool = True) -> str:
    """The real kubectl 1.37 against the cluster; stdout (stderr on failure when ``check`` is False)."""
    r = run_kubectl(KUBECTL_137, cluster.kubeconfig, *args, timeout=30)
    if check:
        assert r.returncode == 0, f"kubectl {' '.join(args)}: {r.stderr}"
    return r.stdout if r.returncode == 0 else r.stderr


def pod_status(pod: Obj, *, ready: bool = True, phase: str = "Running", ready_since: dt.datetime | None = None,
               restarts: int = 0, ip: str | None = None) -> Obj:
    """The status a kubelet reports for a started pod: phase, IPs, conditions and container statuses."""
    now = stamp()
    since = stamp(ready_since) if ready_since else now
    flag = "True" if ready else "False"
    n = next(_ips)
    ip = ip or f"10.244.{n // 250}.{n % 250 + 1}"
    containers = (pod.get("spec") or {}).get("containers") or []
    conditions = [
        {"type": "PodReadyToStartContainers", "status": "True", "lastTransitionTime": now},
        {"type": "Initialized", "status": "True", "lastTransitionTime": now},
        {"type": "Ready", "status": flag, "lastTransitionTime": since},
        {"type": "ContainersReady", "status": flag, "lastTransitionTime": since},
        {"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
    ]
    statuses = [{"name": c["name"], "image": c.get("image", ""), "imageID": "", "ready": ready, "started": True,
                 "restartCount": restarts, "containerID": f"containerd://{uuid.uuid4().hex}",
                 "state": {"running": {"startedAt": now}}} for c in containers]
    return {"phase": phase, "podIP": ip, "podIPs": [{"ip": ip}], "hostIP": "10.0.0.1", "startTime": now,
            "conditions": conditions, "containerStatuses": statuses}


def mark_ready(http: httpx.Client, ns: str, name: str, **kwargs: Any) -> Obj:
    """Patch pods/<name>/status as a kubelet would once the containers run (see :func:`pod_status`)."""
    pod = http.get(f"/api/v1/namespaces/{ns}/pods/{name}")
    assert pod.status_code == 200, pod.text
    r = http.patch(f"/api/v1/namespaces/{ns}/pods/{name}/status", headers=MERGE,
                   json={"status": pod_status(pod.json(), **kwargs)})
    assert r.status_code == 200, r.text
    out: Obj = r.json()
    return out


def is_ready(pod: Obj) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def live_pods(http: httpx.Client, ns: str, selector: str = "") -> list[Obj]:
    """Pods of ``ns`` that are not being deleted."""
    params = {"labelSelector": selector} if selector else {}
    items = http.get(f"/api/v1/namespaces/{ns}/pods", params=params).json()["items"]
    return [p for p in items if not p["metadata"].get("deletionTimestamp")]


class Watcher:
    """Watches ``path`` in a thread (list, then watch from its resourceVersion; a quiet stream is reopened
    every second) and calls ``on_event(type, object)`` for the listed objects (as ADDED) and each event."""

    def __init__(self, server: ServerProcess, path: str, on_event: Callable[[httpx.Client, str, Obj], None]) -> None:
        self.server, self.path, self.on_event = server, path, on_event
        self.errors: list[BaseException] = []
        self.synced = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"watch-{path}")

    def __enter__(self) -> Watcher:
        self._thread.start()
        assert self.synced.wait(10), f"could not list {self.path}"
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)
        if self.errors and exc[0] is None:
            raise self.errors[0]

    def _run(self) -> None:
        with httpx.Client(base_url=self.server.url, timeout=httpx.Timeout(10, read=1.0)) as http:
            try:
                listed = http.get(self.path).json()
                rv = listed["metadata"]["resourceVersion"]
                for obj in listed["items"]:
                    self.on_event(http, "ADDED", obj)
            except Exception as e:  # noqa: BLE001 - reported by __exit__
                self.errors.append(e)
                return
            finally:
                self.synced.set()
            while not self._stop.is_set():
                try:
                    params = {"watch": "true", "resourceVersion": rv, "allowWatchBookmarks": "true"}
                    with http.stream("GET", self.path, params=params) as r:
                        for line in r.iter_lines():
                            if self._stop.is_set():
                                return
                            if line:
                                ev = json.loads(line)
                                rv = ev["object"]["metadata"].get("resourceVersion", rv)
                                if ev["type"] != "BOOKMARK":
                                    self.on_event(http, ev["type"], ev["object"])
                except httpx.ReadTimeout:
                    continue
                except Exception as e:  # noqa: BLE001 - reported by __exit__
                    self.errors.append(e)
                    return


class Kubelet(Watcher):
    """Marks each new pod of a namespace Ready as it appears (when ``should_ready`` says so), as a kubelet
    would, and records after every pod event ``(live pods, available pods, pod-template-hashes of live
    pods)`` - live meaning not being deleted, available meaning live and Ready."""

    def __init__(self, server: ServerProcess, ns: str,
                 should_ready: Callable[[Obj], bool] = lambda pod: True) -> None:
        super().__init__(server, f"/api/v1/namespaces/{ns}/pods", self._saw)
        self.should_ready = should_ready
        self.pods: dict[str, Obj] = {}
        self.history: list[tuple[int, int, frozenset[str]]] = []

    def __enter__(self) -> Kubelet:
        super().__enter__()
        return self

    def live(self) -> list[Obj]:
        return [p for p in self.pods.values() if not p["metadata"].get("deletionTimestamp")]

    def available(self) -> int:
        return sum(1 for p in self.live() if is_ready(p))

    def _saw(self, http: httpx.Client, kind: str, pod: Obj) -> None:
        name = pod["metadata"]["name"]
        if kind == "DELETED":
            self.pods.pop(name, None)
        else:
            self.pods[name] = pod
        live = self.live()
        hashes = frozenset((p["metadata"].get("labels") or {}).get("pod-template-hash", "") for p in live)
        self.history.append((len(live), self.available(), hashes))
        if kind != "DELETED" and not is_ready(pod) and not pod["metadata"].get("deletionTimestamp") \
                and self.should_ready(pod):
            r = http.patch(f"{self.path}/{name}/status", headers=MERGE, json={"status": pod_status(pod)})
            assert r.status_code in (200, 404, 409), r.text
