"""One pod's life on a node (upstream's pod worker + kuberuntime SyncPod), level-triggered.

The worker loops: look at the pod (from the informer) and at its containers (from the runtime), take the
next steps (create the sandbox, run init containers in order, start/restart containers with the
CrashLoopBackOff back-off, kill containers whose liveness/startup probe failed), hand the resulting status
to the status manager, then sleep until something changes (pod update, container exit, probe result) or
a timer (back-off end, activeDeadlineSeconds) is due.

Deletion: on ``deletionTimestamp`` the containers get preStop hooks and SIGTERM, SIGKILL after
``deletionGracePeriodSeconds`` (at least 2 s, as upstream); the terminal status is written, then the pod
object is deleted with grace 0 and a UID precondition. The loop ends when the pod is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .dns import write_pod_files
from .env import ConfigError, command_line, container_env, expand
from .events import container_path
from .images import PullBackoff, catalog_for, container_argv, ensure_image
from .logs import LogOptions, log_path, read_log
from .network import NetworkError, pod_hostname
from .podstatus import KUBELET_CONDITIONS, ContainerRecord, pod_status, rfc3339
from .prober import Prober
from .runtime import ContainerInfo
from .volumes import container_mounts, materialize, prepare_subpaths

if TYPE_CHECKING:
    from .agent import NodeAgent

log = logging.getLogger("kplane.kubelet.pods")

Obj = dict[str, Any]

INITIAL_BACKOFF = 10.0
MAX_BACKOFF = 300.0
MIN_GRACE = 2.0
IDLE_WAKE = 30.0


def go_duration(seconds: float) -> str:
    """Go's time.Duration text for whole seconds: 10s, 1m20s, 5m0s."""
    s = int(seconds)
    return f"{s // 60}m{s % 60}s" if s >= 60 else f"{s}s"


def should_restart(policy: str, exit_code: int | None) -> bool:
    return policy == "Always" or (policy == "OnFailure" and exit_code != 0)


class PodWorker:
    def __init__(self, agent: NodeAgent, pod: Obj, *, rejected: tuple[str, str] | None = None) -> None:
        self.agent = agent
        self.runtime = agent.runtime
        self.pod = pod
        meta = pod["metadata"]
        self.uid: str = meta["uid"]
        self.key = f"{meta.get('namespace', '')}/{meta['name']}"
        spec = pod.get("spec") or {}
        self.specs: dict[str, Obj] = {c["name"]: c for c in (spec.get("initContainers") or [])
                                      + (spec.get("containers") or [])}
        self.init = [ContainerRecord(c["name"], c.get("image", ""), init=True,
                                     sidecar=c.get("restartPolicy") == "Always")
                     for c in spec.get("initContainers") or []]
        self.regular = [ContainerRecord(c["name"], c.get("image", "")) for c in spec.get("containers") or []]
        self.wake = asyncio.Event()
        self.removed = False
        self.sandbox_ready = False
        self.pod_ip = ""
        self.start_time = ""
        self.started_mono = 0.0
        self.init_done = not self.init
        self.terminal = False
        self.failure = rejected
        #: the API already shows a finished pod (e.g. the kubelet restarted): leave its status alone
        self.adopted = (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")
        self.last_status: Obj | None = None
        self.pod_dir = agent.pods_dir / self.uid
        self.prober = Prober(self.runtime, host=lambda: self.pod_ip or agent.cfg.address, notify=self.notify,
                             event=self._probe_event)
        self._backoff_events: set[str] = set()
        self.task: asyncio.Task[None] | None = None
        self.volumes: dict[str, Path] = {}
        self._mount_error = ""
        self._volumes_due = 0.0  # monotonic time of the next configMap/secret/... volume refresh
        self._pull_backoff: dict[str, PullBackoff] = {}  # image -> back-off (upstream keys it by pod and image)

    # --- plumbing ------------------------------------------------------------------------------------

    def notify(self) -> None:
        self.wake.set()

    def update(self, pod: Obj) -> None:
        self.pod = pod
        self.notify()

    def record(self, name: str) -> ContainerRecord | None:
        return next((r for r in (*self.init, *self.regular) if r.name == name), None)

    def event(self, event_type: str, reason: str, message: str, rec: ContainerRecord | None = None) -> None:
        self.agent.events.record(self.pod, node=self.agent.cfg.name, event_type=event_type, reason=reason,
                                 message=message,
                                 field_path=container_path(rec.name, init=rec.init) if rec else "")

    def _probe_event(self, event_type: str, reason: str, message: str, name: str) -> None:
        self.event(event_type, reason, message, self.record(name))

    @property
    def name(self) -> str:
        return str(self.pod["metadata"]["name"])

    @property
    def namespace(self) -> str:
        return str(self.pod["metadata"].get("namespace", ""))

    # --- the loop ------------------------------------------------------------------------------------

    async def run(self) -> None:
        try:
            if self.failure or self.adopted:
                self.terminal = True
            while True:  # ends when the pod is deleted (or the kubelet stops and cancels it)
                self.wake.clear()
                if self.removed or self.pod["metadata"].get("deletionTimestamp"):
                    await self._terminate()
                    return
                delay: float | None = 1.0
                try:
                    delay = await self._sync()
                    self.publish()
                    if self.terminal and self.uid in self.agent.network.pids:  # pod network: as upstream, a
                        await self.agent.network.remove(self.uid)  # finished pod's sandbox goes (its IP stays)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("syncing pod %s failed; retrying", self.key)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), min(delay or IDLE_WAKE, IDLE_WAKE))
        finally:
            await self.prober.close()
            self.agent.worker_done(self)

    def publish(self) -> None:
        if self.adopted:
            return
        api = self.pod.get("status") or {}
        old = dict(api)
        if self.last_status is not None:
            old["conditions"] = [c for c in api.get("conditions") or [] if c.get("type") not in KUBELET_CONDITIONS] \
                + [c for c in self.last_status.get("conditions") or [] if c.get("type") in KUBELET_CONDITIONS]
        status = pod_status(self.pod, init=self.init, regular=self.regular, init_done=self.init_done,
                            sandbox_ready=self.sandbox_ready, terminal=self.terminal,
                            host_ip=self.agent.cfg.address, pod_ip=self.pod_ip, start_time=self.start_time,
                            old=old, failure=self.failure)
        self.last_status = status
        self.agent.status.set(self.key, self.uid, status)

    async def _sync(self) -> float | None:
        """One pass; returns the seconds until a timer needs the worker (None: only events)."""
        if self.terminal:
            return None
        spec = self.pod.get("spec") or {}
        policy = spec.get("restartPolicy", "Always")
        if not self.sandbox_ready and not await self._create_sandbox():
            return 5.0  # a volume's source is missing: retry
        waits: list[float] = []
        if self.runtime.name == "process":
            waits.append(await self._refresh_volumes())
        deadline = spec.get("activeDeadlineSeconds")
        if deadline is not None:
            left = self.started_mono + int(deadline) - time.monotonic()
            if left <= 0:
                self.failure = ("DeadlineExceeded", "Pod was active on the node longer than the specified deadline")
                self.event("Warning", "DeadlineExceeded", self.failure[1])
                await self._stop_all(float(spec.get("terminationGracePeriodSeconds", 30)))
                self._teardown()
                return None
            waits.append(left)
        for rec in (*self.init, *self.regular):
            self._termination_message(rec)
            if rec.liveness_failed and rec.running:
                self.event("Normal", "Killing",
                           f"Container {rec.name} failed {rec.liveness_failed} probe, will be restarted", rec)
                probe = self.specs[rec.name].get(f"{rec.liveness_failed}Probe") or {}
                grace = probe.get("terminationGracePeriodSeconds", spec.get("terminationGracePeriodSeconds", 30))
                await self._stop(rec, float(grace))
            rec.liveness_failed = ""
        if not self.init_done:
            wait = await self._sync_init(policy)
            if self.terminal:
                return None
            if wait is not None:
                waits.append(wait)
        if self.init_done:
            for rec in [*(r for r in self.init if r.sidecar), *self.regular]:
                if rec.current is None:
                    wait = await self._start(rec)
                elif rec.current.exited and (rec.sidecar or should_restart(policy, rec.current.exit_code)):
                    wait = await self._restart(rec)
                else:
                    continue
                if wait is not None:
                    waits.append(wait)
            if all(r.current is not None and r.current.exited and not should_restart(policy, r.current.exit_code)
                   for r in self.regular):
                await self._stop_sidecars(float(spec.get("terminationGracePeriodSeconds", 30)))
                self._teardown()
                return None
        return min(waits) if waits else None

    async def _sync_init(self, policy: str) -> float | None:
        """Init containers in order; sets ``init_done`` once the last one has succeeded."""
        for rec in self.init:
            if rec.sidecar:
                if rec.current is None:
                    wait = await self._start(rec)
                elif not rec.running:
                    wait = await self._restart(rec)
                else:
                    wait = None
                if not (rec.running and rec.started):
                    return wait
                continue
            if rec.current is None:
                return await self._start(rec)
            if rec.running:
                return None
            if rec.succeeded:
                continue
            if policy == "Never":
                await self._stop_sidecars(float((self.pod.get("spec") or {}).get("terminationGracePeriodSeconds", 30)))
                self._teardown()
                return None
            return await self._restart(rec)
        self.init_done = True
        return None

    # --- sandbox and containers -----------------------------------------------------------------------

    async def _create_sandbox(self) -> bool:
        spec = self.pod.get("spec") or {}
        if not self.start_time:
            self.start_time = rfc3339()
            self.started_mono = time.monotonic()
        if not self.pod_ip:
            if self.runtime.host_network or spec.get("hostNetwork"):
                self.pod_ip = self.agent.cfg.address
            else:
                self.pod_ip = self.agent.ipam.allocate()
        # --- pod network (kubelet/network.py): the sandbox's namespaces, eth0 with the pod IP, the hostname
        network = self.agent.network
        if network.enabled and not spec.get("hostNetwork") and self.uid not in network.pids:
            try:
                await network.create(self.uid, self.pod_ip, str(self.agent.ipam.network), pod_hostname(self.pod))
            except NetworkError as e:
                self.event("Warning", "FailedCreatePodSandBox", f"Failed to create pod sandbox: {e}")
                return False
        # --- end pod network
        if self.runtime.name == "process":
            (self.pod_dir / "fs").mkdir(parents=True, exist_ok=True)
            # --- pod /etc/hosts and /etc/resolv.conf (kubelet/dns.py): a sandbox's own, in mount namespaces
            if self.uid in network.pids and self.agent.cfg.volume_mounts == "namespace":
                try:
                    for event_type, reason, message in write_pod_files(self.pod_dir, self.pod, [self.pod_ip],
                                                                       self.agent.cfg.cluster_dns):
                        self.event(event_type, reason, message)
                except OSError as e:
                    self.event("Warning", "FailedCreatePodSandBox", f"Failed to create pod sandbox: {e}")
                    return False
            # --- end pod /etc/hosts and /etc/resolv.conf
            try:
                self.volumes = await materialize(self.agent.client, self._pod_view(), self.pod_dir)
            except (ConfigError, OSError) as e:
                if self._mount_error != str(e):
                    self._mount_error = str(e)
                    self.event("Warning", "FailedMount", str(e))
                return False
            self._volumes_due = time.monotonic() + self.agent.cfg.sync_frequency
        self.sandbox_ready = True
        return True

    async def _refresh_volumes(self) -> float:
        """Every sync period, as upstream's periodic pod sync: configMap, secret, downwardAPI and projected
        volumes are rewritten in place (a source gone missing keeps the last content). Returns the seconds
        until the next refresh."""
        now = time.monotonic()
        if now < self._volumes_due:
            return self._volumes_due - now
        self._volumes_due = now + self.agent.cfg.sync_frequency
        try:
            self.volumes = await materialize(self.agent.client, self._pod_view(), self.pod_dir)
            self._mount_error = ""
        except (ConfigError, OSError) as e:
            if self._mount_error != str(e):
                self._mount_error = str(e)
                self.event("Warning", "FailedMount", str(e))
        return self.agent.cfg.sync_frequency

    def _teardown(self) -> None:
        self.terminal = True
        self.sandbox_ready = False
        for rec in (*self.init, *self.regular):
            self.prober.stop(rec.name)
            rec.ready = False

    def _pod_view(self) -> Obj:
        """The pod with the status fields the downward API may read, before they reach the API."""
        status = dict(self.pod.get("status") or {})
        status.update(hostIP=self.agent.cfg.address, hostIPs=[{"ip": self.agent.cfg.address}],
                      podIP=self.pod_ip, podIPs=[{"ip": self.pod_ip}] if self.pod_ip else [])
        return {**self.pod, "status": status}

    async def _start(self, rec: ContainerRecord) -> float | None:
        container = self.specs[rec.name]
        if self.runtime.name == "process":
            wait = self._pull(rec, container)
            if wait is not None:
                return wait
        try:  # the pod's hostname (spec.hostname, e.g. an Indexed Job's <job>-<index>), as a runtime sets it
            hostname = pod_hostname(self.pod)
        except NetworkError:
            hostname = self.name
        base = {"PATH": self.agent.base_path, "HOSTNAME": hostname, "HOME": str(self.pod_dir / "fs")}
        try:
            env = await container_env(self.agent.client, self._pod_view(), container, base=base,
                                      allocatable=self.agent.cfg.capacity())
        except ConfigError as e:
            if rec.waiting_message != str(e):
                self.event("Warning", "Failed", f"Error: {e}", rec)
            rec.waiting_reason, rec.waiting_message = "CreateContainerConfigError", str(e)
            return 5.0
        if self.runtime.name == "process":
            try:
                prepare_subpaths(container, self.volumes)
            except ConfigError as e:
                if rec.waiting_message != str(e):
                    self.event("Warning", "Failed", f"Error: {e}", rec)
                rec.waiting_reason, rec.waiting_message = "CreateContainerConfigError", str(e)
                return 5.0
            argv = container_argv(catalog_for(self.agent.cfg.data_dir).lookup(container.get("image", "")),
                                  [expand(x, env) for x in container.get("command") or []],
                                  [expand(x, env) for x in container.get("args") or []])
        else:  # the simulated runtime accepts any image and runs nothing
            argv = command_line(container, env)
            image = container.get("image", "")
            self.event("Normal", "Pulled", f'Container image "{image}" already present on machine', rec)
        info = await self.runtime.start_container(
            self.pod, container, attempt=rec.attempts, argv=argv, env=env,
            pod_dir=self.pod_dir, log_path=log_path(self.agent.logs_dir, self.pod, rec.name, rec.attempts),
            mounts=container_mounts(container, self.volumes))
        if rec.current is not None:
            rec.last = rec.current
        rec.current = info
        rec.attempts += 1
        rec.waiting_reason = rec.waiting_message = ""
        rec.started = rec.ready = False
        if info.exited:
            self.event("Warning", "Failed", f"Error: {info.message}", rec)
            self.notify()
            return None
        self.event("Normal", "Created", f"Created container: {rec.name}", rec)
        self.event("Normal", "Started", f"Started container {rec.name}", rec)
        hook = (container.get("lifecycle") or {}).get("postStart")
        if hook:
            ok, out = await self._run_hook(hook, container, info, 30.0)
            if not ok:
                self.event("Warning", "FailedPostStartHook", f"PostStartHook failed: {out}", rec)
                await self.runtime.stop_container(info, MIN_GRACE)
                return None
        self.prober.start(container, rec, info)
        return None

    def _pull(self, rec: ContainerRecord, container: Obj) -> float | None:
        """The image pull before a start (process runtime): None when the image is there, else the seconds
        until the worker should look again."""
        result = ensure_image(catalog_for(self.agent.cfg.data_dir), self._pull_backoff, container, time.time())
        for event_type, reason, message in result.events:
            self.event(event_type, reason, message, rec)
        if result.ok:
            return None
        rec.waiting_reason, rec.waiting_message = result.reason, result.message
        return result.retry_in if result.retry_in is not None else 5.0

    async def _restart(self, rec: ContainerRecord) -> float | None:
        """Restart an exited container unless it is in its back-off window (CrashLoopBackOff)."""
        cur = rec.current
        if cur is None:
            return await self._start(rec)
        if rec.backoff and cur.finished_at - rec.backoff_set > 2 * MAX_BACKOFF:
            rec.backoff = 0.0  # it ran long enough: the back-off entry expired
        elapsed = time.time() - cur.finished_at
        if rec.backoff and elapsed < rec.backoff:
            rec.waiting_reason = "CrashLoopBackOff"
            rec.waiting_message = (f"back-off {go_duration(rec.backoff)} restarting failed container={rec.name} "
                                   f"pod={self.name}_{self.namespace}({self.uid})")
            if cur.id not in self._backoff_events:
                self._backoff_events.add(cur.id)
                self.event("Warning", "BackOff", f"Back-off restarting failed container {rec.name} in pod "
                           f"{self.name}_{self.namespace}({self.uid})", rec)
            return rec.backoff - elapsed
        rec.backoff = INITIAL_BACKOFF if not rec.backoff else min(rec.backoff * 2, MAX_BACKOFF)
        rec.backoff_set = time.time()
        return await self._start(rec)

    def _termination_message(self, rec: ContainerRecord) -> None:
        """FallbackToLogsOnError: a failed container's message is the end of its log (80 lines, 2 KiB)."""
        cur = rec.current
        if cur is None or not cur.exited or cur.message or cur.exit_code == 0 or cur.extra.get("message_done"):
            return
        cur.extra["message_done"] = True
        if self.specs[rec.name].get("terminationMessagePolicy") != "FallbackToLogsOnError":
            return
        try:
            lines = cur.log_path.read_bytes().splitlines()[-80:]
        except OSError:
            return
        text = b"".join(p.split(b" ", 3)[3] + (b"\n" if p.split(b" ", 3)[2] == b"F" else b"")
                        for p in lines if len(p.split(b" ", 3)) == 4)
        cur.message = text[-2048:].decode(errors="replace")

    async def _run_hook(self, hook: Obj, container: Obj, info: ContainerInfo, timeout: float) -> tuple[bool, str]:
        if "sleep" in hook:
            await asyncio.sleep(max(float((hook["sleep"] or {}).get("seconds", 0)), 0.0))
            return True, ""
        probe = {**hook, "timeoutSeconds": max(int(timeout), 1)}
        return await self.prober.run(probe, container, info)

    async def _stop(self, rec: ContainerRecord, grace: float) -> None:
        info = rec.current
        if info is None or not info.running:
            return
        self.prober.stop(rec.name)
        rec.ready = False
        container = self.specs[rec.name]
        hook = (container.get("lifecycle") or {}).get("preStop")
        started = time.monotonic()
        if hook:
            try:
                ok, out = await asyncio.wait_for(self._run_hook(hook, container, info, grace), max(grace, 0.1))
            except TimeoutError:
                ok, out = False, f"timed out after {go_duration(grace)}"
            if not ok:
                self.event("Warning", "FailedPreStopHook", f"PreStopHook failed: {out}", rec)
        left = grace - (time.monotonic() - started)
        await self.runtime.stop_container(info, max(left, MIN_GRACE))

    async def _stop_all(self, grace: float) -> None:
        running = [r for r in self.regular if r.running]
        for rec in running:
            self.event("Normal", "Killing", f"Stopping container {rec.name}", rec)
        await asyncio.gather(*(self._stop(r, grace) for r in running))
        await self._stop_sidecars(grace)
        for rec in self.init:
            if rec.running:  # a regular init container still running
                await self._stop(rec, grace)

    async def _stop_sidecars(self, grace: float) -> None:
        for rec in reversed([r for r in self.init if r.sidecar and r.running]):
            self.event("Normal", "Killing", f"Stopping container {rec.name}", rec)
            await self._stop(rec, grace)

    async def _terminate(self) -> None:
        """Kill everything (honouring the grace period), write the final status, delete the pod object."""
        meta = self.pod["metadata"]
        grace = float(meta.get("deletionGracePeriodSeconds") or 0) if meta.get("deletionTimestamp") else 0.0
        stop = asyncio.create_task(self._stop_all(grace))
        while not stop.done():  # a shorter grace period (or a force delete) while stopping: kill now
            self.wake.clear()
            waiter = asyncio.create_task(self.wake.wait())
            await asyncio.wait({stop, waiter}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            shorter = float(self.pod["metadata"].get("deletionGracePeriodSeconds") or 0) < grace
            if not stop.done() and (self.removed or shorter):
                for rec in (*self.init, *self.regular):
                    if rec.running and rec.current is not None:
                        await self.runtime.stop_container(rec.current, 0)
        await stop
        self._teardown()
        if not self.removed and not self.adopted:
            self.publish()
            for attempt in range(5):
                try:
                    await self.agent.status.sync(self.key)
                    await self.agent.status.delete_pod(self.pod)
                    break
                except asyncio.CancelledError:
                    raise
                except Exception as e:
                    log.warning("final status/delete of %s failed: %s", self.key, e)
                    await asyncio.sleep(0.5 * (attempt + 1))
        await self.runtime.remove_pod(self.uid)
        await self.agent.network.remove(self.uid)  # pod network: veth and sandbox holder
        if self.pod_ip and not (self.runtime.host_network or (self.pod.get("spec") or {}).get("hostNetwork")):
            self.agent.ipam.release(self.pod_ip)

    # --- for the kubelet API -------------------------------------------------------------------------

    def log_attempt(self, name: str, previous: bool) -> ContainerInfo:
        """The attempt whose log ``kubectl logs [--previous]`` reads; ValueError with upstream's words."""
        rec = self.record(name)
        if rec is None:
            raise LookupError(f'container "{name}" in pod "{self.name}" is not available')
        cur = rec.current
        if cur is None:
            reason = rec.waiting_reason or ("ContainerCreating" if self.init_done or rec.init else "PodInitializing")
            reason = {"ErrImagePull": "image can't be pulled",
                      "ImagePullBackOff": "trying and failing to pull image"}.get(reason, reason)
            raise ValueError(f'container "{name}" in pod "{self.name}" is waiting to start: {reason}')
        in_backoff = cur.exited and bool(rec.waiting_reason)
        if previous:
            prev = cur if in_backoff else rec.last
            if prev is None:
                raise ValueError(f'previous terminated container "{name}" in pod "{self.name}" not found')
            return prev
        return cur

    def read_log(self, info: ContainerInfo, opts: LogOptions) -> Any:
        return read_log(info.log_path, opts, running=lambda: info.running)
