"""Helpers for the kubelet tests: a small sync API client and pod builders."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx

from tests.cluster import wait_for

Obj = dict[str, Any]


class Api:
    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=30)

    def get(self, path: str, **params: Any) -> Obj | None:
        r = self.http.get(path, params=params or None)
        if r.status_code == 404:
            return None
        r.raise_for_status()
        return r.json()  # type: ignore[no-any-return]

    def create(self, path: str, obj: Obj) -> Obj:
        r = self.http.post(path, json=obj)
        assert r.status_code in (200, 201), r.text
        return r.json()  # type: ignore[no-any-return]

    def delete(self, path: str, **body: Any) -> httpx.Response:
        return self.http.request("DELETE", path, json={"kind": "DeleteOptions", "apiVersion": "v1", **body})

    # --- pods ----------------------------------------------------------------------------------------

    def pod(self, ns: str, name: str) -> Obj | None:
        return self.get(f"/api/v1/namespaces/{ns}/pods/{name}")

    def create_pod(self, ns: str, pod: Obj) -> Obj:
        return self.create(f"/api/v1/namespaces/{ns}/pods", pod)

    def namespace(self, prefix: str = "kl") -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        self.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        return name

    def wait_pod(self, ns: str, name: str, check: Callable[[Obj], bool], *, timeout: float = 30,
                 message: str = "") -> Obj:
        last: dict[str, Obj | None] = {"pod": None}

        def probe() -> Obj | None:
            pod = self.pod(ns, name)
            last["pod"] = pod
            return pod if pod is not None and check(pod) else None

        try:
            return wait_for(probe, timeout=timeout, interval=0.1, message=message or f"pod {ns}/{name}")
        except AssertionError as e:
            raise AssertionError(f"{e}; last seen: {last['pod'] and last['pod'].get('status')}") from None

    def wait_gone(self, ns: str, name: str, *, timeout: float = 30) -> float:
        start = time.monotonic()
        wait_for(lambda: self.pod(ns, name) is None, timeout=timeout, message=f"pod {ns}/{name} deleted")
        return time.monotonic() - start


def pod(name: str, node: str, *containers: Obj, restart: str = "Always", **spec: Any) -> Obj:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"nodeName": node, "restartPolicy": restart, "containers": list(containers), **spec}}


def container(name: str, *command: str, image: str = "busybox", **extra: Any) -> Obj:
    return {"name": name, "image": image, "command": list(command), **extra}


def phase(p: Obj) -> str:
    return str((p.get("status") or {}).get("phase", ""))


def condition(p: Obj, ctype: str) -> Obj:
    return next((c for c in (p.get("status") or {}).get("conditions") or [] if c["type"] == ctype), {})


def ready(p: Obj) -> bool:
    return condition(p, "Ready").get("status") == "True"


def cstatus(p: Obj, name: str = "", *, init: bool = False) -> Obj:
    statuses = (p.get("status") or {}).get("initContainerStatuses" if init else "containerStatuses") or []
    return next((s for s in statuses if not name or s["name"] == name), {})
