"""Fixtures for scheduler tests that need a live API server and a `kplane scheduler` process."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.cluster import ComponentProcess, ServerProcess, wait_for

Obj = dict[str, Any]


class Kube:
    def __init__(self, server: ServerProcess, scheduler: ComponentProcess) -> None:
        self.server = server
        self.scheduler = scheduler
        self.http = httpx.Client(base_url=server.url, timeout=30)
        self.ns = "s-" + uuid.uuid4().hex[:6]
        self.must(self.http.post("/api/v1/namespaces", json={"metadata": {"name": self.ns}}))

    @staticmethod
    def must(r: httpx.Response) -> Obj:
        assert r.status_code < 300, r.text
        out: Obj = r.json()
        return out

    def node(self, name: str, *, cpu: str = "2", memory: str = "4Gi", pods: str = "110",
             labels: dict[str, str] | None = None, taints: list[Obj] | None = None) -> Obj:
        alloc = {"cpu": cpu, "memory": memory, "pods": pods}
        return self.must(self.http.post("/api/v1/nodes", json={
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
            "spec": {"taints": taints or []},
            "status": {"capacity": alloc, "allocatable": alloc,
                       "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}]}}))

    def pod(self, name: str, *, cpu: str | None = None, labels: dict[str, str] | None = None, **spec: Any) -> Obj:
        requests = {"cpu": cpu} if cpu else {}
        body = {"metadata": {"name": name, "labels": labels or {}},
                "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10",
                                         "resources": {"requests": requests}}], **spec}}
        return self.must(self.http.post(f"/api/v1/namespaces/{self.ns}/pods", json=body))

    def get(self, name: str) -> Obj:
        return self.must(self.http.get(f"/api/v1/namespaces/{self.ns}/pods/{name}"))

    def pods(self) -> list[Obj]:
        items: list[Obj] = self.must(self.http.get(f"/api/v1/namespaces/{self.ns}/pods"))["items"]
        return items

    def placement(self) -> dict[str, str]:
        return {p["metadata"]["name"]: p["spec"].get("nodeName", "") for p in self.pods()}

    def wait_bound(self, name: str, timeout: float = 30) -> str:
        return wait_for(lambda: self.get(name)["spec"].get("nodeName"), timeout=timeout,
                        message=f"{name} bound\n{self.scheduler.log()[-2000:]}")

    def condition(self, name: str) -> Obj | None:
        for c in self.get(name).get("status", {}).get("conditions") or []:
            if c["type"] == "PodScheduled":
                return dict(c)
        return None

    def wait_unschedulable(self, name: str, timeout: float = 30) -> Obj:
        def check() -> Obj | None:
            c = self.condition(name)
            return c if c and c["status"] == "False" else None
        return wait_for(check, timeout=timeout, message=f"{name} marked unschedulable")

    def events(self, name: str) -> list[Obj]:
        items: list[Obj] = self.must(self.http.get(
            f"/api/v1/namespaces/{self.ns}/events",
            params={"fieldSelector": f"involvedObject.name={name}"}))["items"]
        return items


@pytest.fixture
def kube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kube]:
    server = ServerProcess("memory://", data_dir=tmp_path_factory.mktemp("sched")).start()
    scheduler = ComponentProcess(server, "scheduler", "--log-level", "info").start()
    k = Kube(server, scheduler)
    yield k
    k.http.close()
    scheduler.stop()
    server.stop()
