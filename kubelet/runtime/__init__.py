"""The container runtime seen by the kubelet: one small protocol, two implementations.

``simulated`` runs nothing (kwok-like: containers "run" in memory, made for scale); ``process`` runs each
container as a real child process of the kubelet. The kubelet drives a runtime the way upstream's
kuberuntime drives CRI: start a container attempt, stop it with a grace period, run a command in it
(probes, hooks, ``kubectl exec``), and be told when an attempt exits.

Contract: a runtime owns the :class:`ContainerInfo` records it returns and updates them in place
(``state``, ``exit_code``, ``finished_at``); after every such change it calls the listener set with
:meth:`Runtime.set_listener` with the pod UID, from the event loop. It never talks to the API server.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..logs import LogLimits

Obj = dict[str, Any]

CREATED, RUNNING, EXITED = "created", "running", "exited"


@dataclass
class ContainerInfo:
    """One attempt of one container (upstream: a CRI container; a restart is a new attempt)."""

    id: str  # "<runtime>://<64 hex>", as containerStatuses[].containerID
    pod_uid: str
    name: str
    attempt: int
    image: str  # normalized, e.g. docker.io/library/busybox:latest
    image_id: str
    log_path: Path
    state: str = CREATED
    started_at: float = 0.0  # wall clock (time.time())
    finished_at: float = 0.0
    exit_code: int | None = None
    reason: str = ""  # Completed | Error | StartError | OOMKilled
    message: str = ""
    extra: dict[str, Any] = field(default_factory=dict)  # runtime-private (process, env, cwd, timers)

    @property
    def running(self) -> bool:
        return self.state == RUNNING

    @property
    def exited(self) -> bool:
        return self.state == EXITED

    def finish(self, code: int, *, reason: str = "", message: str = "") -> None:
        self.state = EXITED
        self.exit_code = code
        self.finished_at = time.time()
        self.reason = reason or ("Completed" if code == 0 else "Error")
        self.message = message


class ExecProcess(Protocol):
    """A command running in a container for ``kubectl exec`` / ``attach``.

    ``read_stdout``/``read_stderr`` return b"" at end of stream (and always b"" when that stream does not
    exist, e.g. stderr under a tty); ``wait`` returns the exit code."""

    async def read_stdout(self) -> bytes: ...
    async def read_stderr(self) -> bytes: ...
    async def write_stdin(self, data: bytes) -> None: ...
    async def close_stdin(self) -> None: ...
    def resize(self, width: int, height: int) -> None: ...
    async def wait(self) -> int: ...
    def kill(self) -> None: ...


class ExecError(Exception):
    """The command could not be started (e.g. not found); the message is shown to the user."""


class Runtime(Protocol):
    name: str
    version: str
    #: pods share the node's network: their podIP is the node's IP (no network namespaces)
    host_network: bool

    def set_listener(self, listener: Callable[[str], None]) -> None:
        """``listener(pod_uid)`` is called after any container of that pod changed state."""

    async def start_container(self, pod: Obj, container: Obj, *, attempt: int, argv: list[str],
                              env: dict[str, str], pod_dir: Path, log_path: Path,
                              mounts: list[tuple[str, str]]) -> ContainerInfo:
        """Create and start one attempt. ``argv`` is command+args already expanded (may be empty: the
        image's default); ``mounts`` are (mountPath, host path) of its volumes. A start failure is returned
        as an exited attempt (reason StartError, code 128), never raised."""

    async def stop_container(self, info: ContainerInfo, grace: float) -> None:
        """SIGTERM (or its simulation), wait up to ``grace`` seconds, then SIGKILL; returns once exited."""

    async def exec_sync(self, info: ContainerInfo, command: list[str], timeout: float) -> tuple[int, bytes]:
        """Run a command in the container to completion (exec probes, hooks): (exit code, output).
        A timeout gives exit code -1."""

    async def exec(self, info: ContainerInfo, command: list[str], *, tty: bool, stdin: bool) -> ExecProcess:
        """Start an interactive command in the container; raises :class:`ExecError`."""

    async def attach(self, info: ContainerInfo, *, stdin: bool) -> ExecProcess:
        """Streams of the container's main process from now on; raises :class:`ExecError`."""

    async def remove_pod(self, pod_uid: str) -> None:
        """Forget the pod's containers (all already stopped) and free what the runtime holds for it."""

    async def close(self) -> None:
        """Stop every container (the kubelet is shutting down) and release resources."""


def normalize_image(image: str) -> str:
    """The image as a CRI runtime reports it: ``busybox`` -> ``docker.io/library/busybox:latest``."""
    name = image.strip() or "scratch"
    first = name.split("/", 1)[0]
    if "/" not in name:
        name = f"docker.io/library/{name}"
    elif "." not in first and ":" not in first and first != "localhost":
        name = f"docker.io/{name}"
    last = name.rsplit("/", 1)[-1]
    if "@" not in last and ":" not in last:
        name += ":latest"
    return name


def image_id(image: str) -> str:
    norm = normalize_image(image)
    repo = norm.split("@", 1)[0].rsplit(":", 1)[0] if "@" not in norm else norm.split("@", 1)[0]
    digest = hashlib.sha256(norm.encode()).hexdigest()
    return f"{repo}@sha256:{digest}"


def new_container_id(runtime: str, pod_uid: str, name: str, attempt: int) -> str:
    seed = f"{pod_uid}/{name}/{attempt}/{time.time_ns()}".encode()
    return f"{runtime}://{hashlib.sha256(seed).hexdigest()}"


def make_runtime(kind: str, root: Path, *, log_limits: LogLimits | None = None) -> Runtime:
    if kind == "simulated":
        from .simulated import SimulatedRuntime

        return SimulatedRuntime(root)
    if kind == "process":
        from .process import ProcessRuntime

        return ProcessRuntime(root, log_limits)
    raise ValueError(f"unknown runtime {kind!r} (simulated or process)")
