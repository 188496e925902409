"""The simulated runtime: no processes, made for scale (kwok-like). One kubelet process can carry many
nodes of these.

What a simulated container does is read from its command (command + args):

- ``["true"]`` exits 0 at once, ``["false"]`` exits 1;
- ``["sleep", "N"]`` exits 0 after N seconds;
- a shell script (``sh|bash -c SCRIPT``) without loops is read statement by statement: ``sleep N`` adds
  N seconds, ``exit N`` ends with code N, ``true``/``false`` set the code, ``echo WORDS`` writes
  a log line; a script with ``while``/``for``/``until`` runs forever;
- anything else (including no command) runs until stopped.

Pod annotations override that for every container of the pod:
``kplane.dev/simulated-exit-code`` (exit with this code ...) after ``kplane.dev/simulated-run-seconds``
(default 0), and ``kplane.dev/simulated-start-delay`` (seconds a container stays ContainerCreating).

Exec probes and ``kubectl exec`` read their command the same way (an unknown command succeeds);
httpGet and tcpSocket probes succeed. A stopped container exits 0 (a well-behaved app on SIGTERM).
"""

from __future__ import annotations

import asyncio
import re
import shlex
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import RUNNING, ContainerInfo, ExecError, ExecProcess, image_id, new_container_id, normalize_image

Obj = dict[str, Any]

ANNOTATION_EXIT_CODE = "kplane.dev/simulated-exit-code"
ANNOTATION_RUN_SECONDS = "kplane.dev/simulated-run-seconds"
ANNOTATION_START_DELAY = "kplane.dev/simulated-start-delay"

_SHELLS = frozenset({"sh", "/bin/sh", "bash", "/bin/bash", "/usr/bin/sh", "/usr/bin/bash", "ash"})


def simulate(argv: list[str]) -> tuple[int | None, float, list[str]]:
    """(exit code or None for "runs forever", seconds until exit, log lines) for a command."""
    if not argv:
        return None, 0.0, []
    prog = argv[0].rsplit("/", 1)[-1]
    if prog == "true":
        return 0, 0.0, []
    if prog == "false":
        return 1, 0.0, []
    if prog == "sleep" and len(argv) > 1:
        try:
            return 0, float(argv[1]), []
        except ValueError:
            return None, 0.0, []
    if argv[0] in _SHELLS and len(argv) >= 3 and argv[1] == "-c":
        return _script(argv[2])
    return None, 0.0, []


def _script(script: str) -> tuple[int | None, float, list[str]]:
    if re.search(r"\b(while|for|until)\b", script):
        lines = [m.group(1) for m in re.finditer(r"echo\s+([^;&|\n]*)", script)]
        return None, 0.0, [_unquote(x) for x in lines[:10]]
    code: int = 0
    seconds = 0.0
    logs: list[str] = []
    for stmt in re.split(r"[;\n]|&&", script):
        words = stmt.strip().split(None, 1)
        if not words:
            continue
        cmd, rest = words[0], (words[1] if len(words) > 1 else "")
        if cmd == "exit":
            try:
                return int(rest.strip() or code), seconds, logs
            except ValueError:
                return 1, seconds, logs
        if cmd == "sleep":
            try:
                seconds += float(rest.strip())
            except ValueError:
                return None, 0.0, logs
            code = 0
        elif cmd in ("true", ":"):
            code = 0
        elif cmd == "false":
            code = 1
        elif cmd == "echo":
            logs.append(_unquote(rest))
            code = 0
        else:
            code = 0
    return code, seconds, logs


def _unquote(text: str) -> str:
    try:
        return " ".join(shlex.split(text))
    except ValueError:
        return text.strip()


def _float(value: Any, default: float) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


class _SimExec:
    """A finished-at-once command: its output is what ``echo`` would print."""

    def __init__(self, code: int, output: bytes) -> None:
        self._code = code
        self._out = output

    async def read_stdout(self) -> bytes:
        out, self._out = self._out, b""
        return out

    async def read_stderr(self) -> bytes:
        return b""

    async def write_stdin(self, data: bytes) -> None:
        pass

    async def close_stdin(self) -> None:
        pass

    def resize(self, width: int, height: int) -> None:
        pass

    async def wait(self) -> int:
        return self._code

    def kill(self) -> None:
        pass


class SimulatedRuntime:
    name = "simulated"
    version = "0.1.0"
    host_network = False

    def __init__(self, root: Path) -> None:
        self.root = root
        self._listener: Callable[[str], None] = lambda uid: None
        self._pods: dict[str, dict[str, ContainerInfo]] = {}

    def set_listener(self, listener: Callable[[str], None]) -> None:
        self._listener = listener

    async def start_container(self, pod: Obj, container: Obj, *, attempt: int, argv: list[str],
                              env: dict[str, str], pod_dir: Path, log_path: Path,
                              mounts: list[tuple[str, str]]) -> ContainerInfo:
        meta = pod["metadata"]
        annotations = meta.get("annotations") or {}
        uid = meta["uid"]
        delay = _float(annotations.get(ANNOTATION_START_DELAY), 0.0)
        if delay > 0:
            await asyncio.sleep(min(delay, 3600.0))
        info = ContainerInfo(id=new_container_id("kplane-simulated", uid, container["name"], attempt),
                             pod_uid=uid, name=container["name"], attempt=attempt,
                             image=normalize_image(container.get("image", "")),
                             image_id=image_id(container.get("image", "")), log_path=log_path)
        info.state = RUNNING
        info.started_at = time.time()
        code, seconds, lines = simulate(argv)
        if ANNOTATION_EXIT_CODE in annotations:
            code = int(_float(annotations[ANNOTATION_EXIT_CODE], 1))
            seconds = _float(annotations.get(ANNOTATION_RUN_SECONDS), 0.0)
        if lines:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + ".000000000Z"
            with open(log_path, "ab") as f:
                f.write(b"".join(f"{stamp} stdout F {line}\n".encode() for line in lines))
        self._pods.setdefault(uid, {})[info.id] = info
        if code is not None:
            handle = asyncio.get_running_loop().call_later(max(seconds, 0.0), self._exit, info, code)
            info.extra["timer"] = handle
        return info

    def _exit(self, info: ContainerInfo, code: int) -> None:
        if info.running:
            info.finish(code)
            self._listener(info.pod_uid)

    async def stop_container(self, info: ContainerInfo, grace: float) -> None:
        timer = info.extra.pop("timer", None)
        if timer is not None:
            timer.cancel()
        if info.running:
            info.finish(0)
            self._listener(info.pod_uid)

    async def exec_sync(self, info: ContainerInfo, command: list[str], timeout: float) -> tuple[int, bytes]:
        code, _, lines = simulate(command)
        return (0 if code is None else code), "".join(f"{x}\n" for x in lines).encode()

    async def exec(self, info: ContainerInfo, command: list[str], *, tty: bool, stdin: bool) -> ExecProcess:
        if not command:
            raise ExecError("no command given")
        code, output = await self.exec_sync(info, command, 1.0)
        return _SimExec(code, output)

    async def attach(self, info: ContainerInfo, *, stdin: bool) -> ExecProcess:
        raise ExecError("attach is not supported by the simulated runtime")

    async def remove_pod(self, pod_uid: str) -> None:
        for info in (self._pods.pop(pod_uid, None) or {}).values():
            timer = info.extra.pop("timer", None)
            if timer is not None:
                timer.cancel()

    async def close(self) -> None:
        for uid in list(self._pods):
            await self.remove_pod(uid)
