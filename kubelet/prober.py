"""Startup, liveness and readiness probes, as upstream's prober workers run them.

Per running container attempt: the startup probe (if any) runs first and gates the others; a container
without one counts as started at once. Readiness starts False and turns True after ``successThreshold``
successes (True at once without a readiness probe); liveness/startup failing ``failureThreshold`` times
in a row mark the record (``liveness_failed``) so the pod worker kills and restarts the container.
Timing fields are upstream's: initialDelaySeconds, periodSeconds (10), timeoutSeconds (1),
successThreshold (1), failureThreshold (3). Every loop ends with its container attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import httpx

from .podstatus import ContainerRecord
from .runtime import ContainerInfo, Runtime

Obj = dict[str, Any]

#: (event type, reason, message, container name) -> None
EventFn = Callable[[str, str, str, str], None]


def _port(value: Any, container: Obj) -> int:
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    for p in container.get("ports") or []:
        if p.get("name") == value:
            return int(p["containerPort"])
    raise ValueError(f"unknown port {value!r}")


class Prober:
    def __init__(self, runtime: Runtime, *, host: Callable[[], str], notify: Callable[[], None],
                 event: EventFn) -> None:
        self.runtime = runtime
        self.host = host
        self.notify = notify
        self.event = event
        self._tasks: dict[str, list[asyncio.Task[None]]] = {}
        self._http: httpx.AsyncClient | None = None

    def start(self, container: Obj, rec: ContainerRecord, info: ContainerInfo) -> None:
        """Begin probing a new running attempt (stops probes of the previous one)."""
        self.stop(rec.name)
        rec.started = rec.ready = False
        rec.liveness_failed = ""
        if container.get("startupProbe"):
            self._spawn(rec.name, self._loop("startup", container, rec, info))
        else:
            rec.started = True
            self._after_started(container, rec, info)

    def _after_started(self, container: Obj, rec: ContainerRecord, info: ContainerInfo) -> None:
        if container.get("readinessProbe"):
            self._spawn(rec.name, self._loop("readiness", container, rec, info))
        else:
            rec.ready = True
        if container.get("livenessProbe"):
            self._spawn(rec.name, self._loop("liveness", container, rec, info))

    def _spawn(self, name: str, coro: Any) -> None:
        self._tasks.setdefault(name, []).append(asyncio.create_task(coro, name=f"probe-{name}"))

    def stop(self, name: str) -> None:
        current = asyncio.current_task()
        for t in self._tasks.pop(name, []):
            if t is not current:
                t.cancel()

    async def close(self) -> None:
        for name in list(self._tasks):
            self.stop(name)
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def _loop(self, kind: str, container: Obj, rec: ContainerRecord, info: ContainerInfo) -> None:
        probe: Obj = container[f"{kind}Probe"]
        period = max(int(probe.get("periodSeconds") or 10), 1)
        success_needed = max(int(probe.get("successThreshold") or 1), 1)
        failures_allowed = max(int(probe.get("failureThreshold") or 3), 1)
        await asyncio.sleep(max(int(probe.get("initialDelaySeconds") or 0), 0))
        successes = failures = 0
        while info.running:
            ok, output = await self.run(probe, container, info)
            if not info.running:
                return
            if ok:
                successes, failures = successes + 1, 0
            else:
                successes, failures = 0, failures + 1
                self.event("Warning", "Unhealthy", f"{kind.capitalize()} probe failed: {output}", rec.name)
            if kind == "readiness":
                if ok and successes >= success_needed and not rec.ready:
                    rec.ready = True
                    self.notify()
                elif not ok and failures >= failures_allowed and rec.ready:
                    rec.ready = False
                    self.notify()
            elif kind == "startup" and ok:
                rec.started = True
                self._after_started(container, rec, info)
                self.notify()
                return
            elif not ok and failures >= failures_allowed:
                rec.liveness_failed = kind
                self.notify()
                return
            await asyncio.sleep(period)

    async def run(self, probe: Obj, container: Obj, info: ContainerInfo) -> tuple[bool, str]:
        """One probe attempt: (success, output for the Unhealthy event)."""
        timeout = float(max(int(probe.get("timeoutSeconds") or 1), 1))
        try:
            if "exec" in probe:
                code, out = await self.runtime.exec_sync(info, list(probe["exec"].get("command") or []), timeout)
                if code == -1:
                    return False, f"command timed out after {int(timeout)}s"
                return code == 0, out.decode(errors="replace").strip()
            if self.runtime.name == "simulated" or "grpc" in probe:
                return True, ""  # simulated pods have no network; grpc probes are not implemented
            if "httpGet" in probe:
                return await self._http_get(probe["httpGet"], container, timeout)
            if "tcpSocket" in probe:
                sock = probe["tcpSocket"]
                host = sock.get("host") or self.host()
                port = _port(sock.get("port"), container)
                try:
                    _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
                except (OSError, TimeoutError) as e:
                    return False, f"dial tcp {host}:{port}: {e}"
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()
                return True, ""
        except ValueError as e:
            return False, str(e)
        return True, ""

    async def _http_get(self, spec: Obj, container: Obj, timeout: float) -> tuple[bool, str]:
        if self._http is None:
            self._http = httpx.AsyncClient(verify=False, follow_redirects=False)
        host = spec.get("host") or self.host()
        port = _port(spec.get("port"), container)
        scheme = (spec.get("scheme") or "HTTP").lower()
        path = spec.get("path") or "/"
        if not path.startswith("/"):
            path = "/" + path
        headers = {"User-Agent": "kube-probe/1.37", "Accept": "*/*"}
        headers.update({h.get("name", ""): h.get("value", "") for h in spec.get("httpHeaders") or []})
        url = f"{scheme}://{host}:{port}{path}"
        try:
            r = await self._http.get(url, headers=headers, timeout=timeout)
        except httpx.TimeoutException:
            return False, f'Get "{url}": context deadline exceeded (Client.Timeout exceeded while awaiting headers)'
        except httpx.HTTPError as e:
            return False, f'Get "{url}": {e}'
        if 200 <= r.status_code < 400:
            return True, ""
        return False, f"HTTP probe failed with statuscode: {r.status_code}"
