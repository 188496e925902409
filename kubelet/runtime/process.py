"""The process runtime: every container attempt is a real child process of the kubelet.

- The argv comes from the kubelet: the image's ENTRYPOINT/CMD from the catalog (kubelet/images.py)
  combined with ``command``/``args``. An empty argv runs a sleeper (as ``registry.k8s.io/pause`` would).
- Each attempt runs in its own session (process group) in its workingDir (in a mount namespace), else in
  ``<pod dir>/fs`` (or ``<pod dir>/fs/<workingDir>`` with the path rewrite); its stdout and
  stderr go to a CRI log file, rotated per the kubelet's containerLogMaxSize/MaxFiles (see logs.py).
- Resource limits: each attempt runs in cgroups of its own, else under rlimits (see cgroups.py); an
  attempt the OOM killer hit ends with reason ``OOMKilled``. When the main process exits, the rest of its group is killed, as when a
  container's init process dies. Exit codes: signal N gives 128+N, as runtimes report.
- Pods share the node's network and report its IP, unless the kubelet gives them sandboxes (see
  kubelet/network.py): then every command of the pod runs through ``nsenter`` into its namespaces.
- Volumes: as root, each attempt has a private mount namespace with its volumeMounts bind-mounted at their
  mountPaths, which exec commands join (see mountns.py); otherwise they are seen through a path rewrite
  (see volumes.py): mountPaths in argv, env values, workingDir and exec commands become the materialised
  directories.
- Children get ``PR_SET_PDEATHSIG`` (via ``setpriv``, when present), so they die with the kubelet; the
  kubelet also stops every container on shutdown (there is no runtime daemon to keep them).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import pty
import shutil
import signal
import struct
import termios
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import mountns
from ..cgroups import CgroupManager, limits_of, rlimit_wrap
from ..logs import LogLimits, LogWriter
from ..volumes import rewrite
from . import RUNNING, ContainerInfo, ExecError, ExecProcess, image_id, new_container_id, normalize_image

Obj = dict[str, Any]

SLEEPER = ["sleep", "infinity"]
_SETPRIV = shutil.which("setpriv")
_SETSID = shutil.which("setsid")
_NSENTER = shutil.which("nsenter")  # pod network: see kubelet/network.py


def _exit_code(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode


def _resolve(argv: list[str], env: dict[str, str]) -> str | None:
    prog = argv[0]
    if "/" in prog:
        return prog if os.access(prog, os.X_OK) else None
    return shutil.which(prog, path=env.get("PATH"))


async def _read_status(fd: int, timeout: float) -> str | None:
    """Read the setup's status pipe to EOF: None when it closed silently (success), else the error."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader),
                                                os.fdopen(fd, "rb", buffering=0))
    try:
        data = await asyncio.wait_for(reader.read(65536), timeout)
    except TimeoutError:
        return f"the container's mount setup did not finish within {timeout:g}s"
    finally:
        transport.close()
    return data.decode(errors="replace").strip() or None


def _killpg(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


class _Broadcast:
    """Live output of a container's main process for attached clients."""

    def __init__(self) -> None:
        self.queues: set[asyncio.Queue[tuple[str, bytes] | None]] = set()

    def send(self, item: tuple[str, bytes] | None) -> None:
        for q in list(self.queues):
            if q.qsize() < 1000:
                q.put_nowait(item)


class _Proc:
    """An exec'd command (pipes or a pty)."""

    def __init__(self, proc: asyncio.subprocess.Process, master: int | None = None,
                 reader: asyncio.StreamReader | None = None) -> None:
        self.proc = proc
        self.master = master
        self._tty_reader = reader

    async def read_stdout(self) -> bytes:
        stream = self._tty_reader or self.proc.stdout
        if stream is None:
            return b""
        try:
            return await stream.read(32768)
        except OSError:  # EIO on a pty master once the child has gone
            return b""

    async def read_stderr(self) -> bytes:
        if self.proc.stderr is None:
            return b""
        return await self.proc.stderr.read(32768)

    async def write_stdin(self, data: bytes) -> None:
        if self.master is not None:
            with contextlib.suppress(OSError):
                os.write(self.master, data)
            return
        if self.proc.stdin is not None and not self.proc.stdin.is_closing():
            self.proc.stdin.write(data)
            with contextlib.suppress(ConnectionError):
                await self.proc.stdin.drain()

    async def close_stdin(self) -> None:
        if self.master is not None:
            with contextlib.suppress(OSError):
                os.write(self.master, b"\x04")
        elif self.proc.stdin is not None:
            self.proc.stdin.close()

    def resize(self, width: int, height: int) -> None:
        if self.master is not None:
            with contextlib.suppress(OSError):
                fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))

    async def wait(self) -> int:
        code = _exit_code(await self.proc.wait())
        if self.master is not None:
            with contextlib.suppress(OSError):
                os.close(self.master)
            self.master = None
        return code

    def kill(self) -> None:
        if self.proc.returncode is None:
            _killpg(self.proc.pid, signal.SIGKILL)


class _Attached:
    """The main process of a container, as ``kubectl attach`` sees it."""

    def __init__(self, info: ContainerInfo, done: asyncio.Event) -> None:
        self.info = info
        self.queue: asyncio.Queue[tuple[str, bytes] | None] = asyncio.Queue()
        self.bcast: _Broadcast = info.extra["broadcast"]
        self.bcast.queues.add(self.queue)
        self.done = done
        self._stdout: asyncio.Queue[bytes] = asyncio.Queue()
        self._stderr: asyncio.Queue[bytes] = asyncio.Queue()
        self._task = asyncio.create_task(self._split())

    async def _split(self) -> None:
        while (item := await self.queue.get()) is not None:
            (self._stdout if item[0] == "stdout" else self._stderr).put_nowait(item[1])
        self._stdout.put_nowait(b"")
        self._stderr.put_nowait(b"")

    async def read_stdout(self) -> bytes:
        return await self._stdout.get()

    async def read_stderr(self) -> bytes:
        return await self._stderr.get()

    async def write_stdin(self, data: bytes) -> None:
        proc: asyncio.subprocess.Process = self.info.extra["proc"]
        if proc.stdin is not None and not proc.stdin.is_closing():
            proc.stdin.write(data)
            with contextlib.suppress(ConnectionError):
                await proc.stdin.drain()

    async def close_stdin(self) -> None:
        pass  # stdinOnce is not modelled: the container keeps its stdin

    def resize(self, width: int, height: int) -> None:
        pass

    async def wait(self) -> int:
        await self.done.wait()
        self.bcast.queues.discard(self.queue)
        return self.info.exit_code or 0

    def kill(self) -> None:
        self.bcast.queues.discard(self.queue)
        self.queue.put_nowait(None)


class ProcessRuntime:
    name = "process"
    version = "0.1.0"

    def __init__(self, root: Path, log_limits: LogLimits | None = None) -> None:
        self.root = root
        self.log_limits = log_limits or LogLimits()
        self.cgroups = CgroupManager(root.name or "node")
        # --- pod network (kubelet/network.py): host_network is set by the kubelet's --pod-network
        self.host_network = True
        self.sandboxes: dict[str, int] = {}  # pod uid -> sandbox holder pid, whose namespaces containers join
        # --- end pod network
        #: volumes in mount namespaces (kubelet/mountns.py), set from the kubelet's --volume-mounts
        self.mount_namespaces = False
        self.mountpoints = mountns.MountPoints(root / "mountpoints.json")
        self._listener: Callable[[str], None] = lambda uid: None
        self._pods: dict[str, dict[str, ContainerInfo]] = {}
        self._execs: set[_Proc] = set()

    def set_listener(self, listener: Callable[[str], None]) -> None:
        self._listener = listener

    def _prefix(self) -> list[str]:
        return [_SETPRIV, "--pdeathsig", "KILL", "--"] if _SETPRIV else []

    def _ns_prefix(self, uid: str) -> list[str]:
        """Pod network: enter the pod sandbox's namespaces (none for host-network pods)."""
        pid = self.sandboxes.get(uid)
        return [_NSENTER, "-t", str(pid), "--net", "--uts", "--ipc", "--"] if pid and _NSENTER else []

    async def start_container(self, pod: Obj, container: Obj, *, attempt: int, argv: list[str],
                              env: dict[str, str], pod_dir: Path, log_path: Path,
                              mounts: list[tuple[str, str]]) -> ContainerInfo:
        uid = pod["metadata"]["uid"]
        info = ContainerInfo(id=new_container_id("kplane-process", uid, container["name"], attempt), pod_uid=uid,
                             name=container["name"], attempt=attempt,
                             image=normalize_image(container.get("image", "")),
                             image_id=image_id(container.get("image", "")), log_path=log_path)
        self._pods.setdefault(uid, {})[info.id] = info
        if self.mount_namespaces:
            return await self._start_in_namespace(info, pod, container, argv=argv, env=env, pod_dir=pod_dir,
                                                  log_path=log_path, mounts=mounts)
        argv = [rewrite(a, mounts) for a in argv] or list(SLEEPER)
        env = {k: rewrite(v, mounts) for k, v in env.items()}
        workdir = container.get("workingDir") or ""
        mounted = rewrite(workdir, mounts) if workdir else ""
        cwd = Path(mounted) if mounted and mounted != workdir else pod_dir / "fs" / workdir.lstrip("/")
        cwd.mkdir(parents=True, exist_ok=True)
        info.extra.update(env=env, cwd=str(cwd), mounts=mounts)
        prog = _resolve(argv, env)
        info.started_at = time.time()
        if prog is None:
            info.finish(128, reason="StartError",
                        message=f'failed to create containerd task: exec: "{argv[0]}": '
                                "executable file not found in $PATH: unknown")
            return info
        writer = LogWriter(log_path, self.log_limits)
        try:
            proc = await asyncio.create_subprocess_exec(
                *self._prefix(), *self._ns_prefix(uid), *self._limited(info, container, [prog, *argv[1:]]),
                cwd=str(cwd), env=env,
                start_new_session=True,
                stdin=asyncio.subprocess.PIPE if container.get("stdin") else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        except OSError as e:
            writer.close()
            await self._release(info)
            info.finish(128, reason="StartError", message=f"failed to create containerd task: {e}: unknown")
            return info
        self._running(info, proc, writer)
        return info

    def _running(self, info: ContainerInfo, proc: asyncio.subprocess.Process, writer: LogWriter) -> None:
        info.state = RUNNING
        done = asyncio.Event()
        bcast = _Broadcast()
        info.extra.update(proc=proc, done=done, broadcast=bcast)
        info.extra["task"] = asyncio.create_task(self._supervise(info, proc, writer, done, bcast),
                                                 name=f"container-{info.name}")

    # --- volumes in mount namespaces (kubelet/mountns.py) ---------------------------------------------

    async def _start_in_namespace(self, info: ContainerInfo, pod: Obj, container: Obj, *, argv: list[str],
                                  env: dict[str, str], pod_dir: Path, log_path: Path,
                                  mounts: list[tuple[str, str]]) -> ContainerInfo:
        """argv, env and workingDir are used verbatim; the setup in the new namespace reports through a
        pipe: an error message, or EOF once the command has been exec'd with every mount in place."""
        uid = info.pod_uid
        argv = argv or list(SLEEPER)
        workdir = container.get("workingDir") or str(pod_dir / "fs")
        binds = mountns.binds(pod, container, mounts,
                              pod_files=pod_dir if uid in self.sandboxes else None)  # kubelet/dns.py
        info.extra.update(env=env, cwd=workdir, mounts=mounts)
        info.started_at = time.time()
        try:
            self.mountpoints.ensure(uid, binds, workdir)
        except OSError as e:
            info.finish(128, reason="StartError", message=f"failed to create containerd task: failed to create "
                        f"mount point: {e}: unknown")
            return info
        limited = self._limited(info, container, argv)
        read_fd, write_fd = os.pipe()
        writer = LogWriter(log_path, self.log_limits)
        try:
            proc = await asyncio.create_subprocess_exec(
                *self._prefix(), *self._ns_prefix(uid),
                *mountns.command(binds, workdir, write_fd, limited, program=len(limited) - len(argv)),
                cwd="/", env=env, start_new_session=True, pass_fds=(write_fd,),
                stdin=asyncio.subprocess.PIPE if container.get("stdin") else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        except OSError as e:
            os.close(read_fd)
            writer.close()
            await self._release(info)
            info.finish(128, reason="StartError", message=f"failed to create containerd task: {e}: unknown")
            return info
        finally:
            os.close(write_fd)
        error = await _read_status(read_fd, mountns.SETUP_TIMEOUT)
        if error is not None:
            _killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), 5.0)
            writer.close()
            await self._release(info)
            info.finish(128, reason="StartError", message=f"failed to create containerd task: {error}: unknown")
            return info
        info.extra["pid"] = proc.pid
        self._running(info, proc, writer)
        return info

    # --- resource limits (kubelet/cgroups.py) ---------------------------------------------------------

    def _limited(self, info: ContainerInfo, container: Obj, argv: list[str]) -> list[str]:
        """argv run in the attempt's own cgroups (which it joins before exec), else under rlimits."""
        limits = limits_of(container)
        cg = self.cgroups.create(info.id.rsplit("/", 1)[-1], limits)
        if cg is None:
            return rlimit_wrap(argv, limits)
        info.extra["cgroup"] = cg
        return cg.wrap(argv)

    @staticmethod
    async def _release(info: ContainerInfo) -> bool:
        """Remove the attempt's cgroups; True when the OOM killer struck in them."""
        cg = info.extra.pop("cgroup", None)
        if cg is None:
            return False
        oom = bool(cg.oom_killed())
        await cg.remove()
        return oom

    # --------------------------------------------------------------------------------------------------

    async def _supervise(self, info: ContainerInfo, proc: asyncio.subprocess.Process, writer: LogWriter,
                         done: asyncio.Event, bcast: _Broadcast) -> None:
        async def pump(stream: asyncio.StreamReader | None, name: str) -> None:
            if stream is None:
                return
            while True:
                try:
                    chunk = await stream.readline()
                except ValueError:  # a line over the limit: take what is buffered as a part
                    chunk = await stream.read(65536)
                if not chunk:
                    return
                writer.write(name, chunk)
                bcast.send((name, chunk))

        pumps = [asyncio.create_task(pump(proc.stdout, "stdout")), asyncio.create_task(pump(proc.stderr, "stderr"))]
        try:
            code = await proc.wait()
            _killpg(proc.pid, signal.SIGKILL)  # the container's other processes go with its main one
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*pumps, return_exceptions=True), 2.0)
        finally:
            for p in pumps:
                p.cancel()
            writer.close()
        oom = await self._release(info)
        info.finish(_exit_code(code), reason="OOMKilled" if oom else "")
        bcast.send(None)
        done.set()
        self._listener(info.pod_uid)

    async def stop_container(self, info: ContainerInfo, grace: float) -> None:
        proc: asyncio.subprocess.Process | None = info.extra.get("proc")
        done: asyncio.Event | None = info.extra.get("done")
        if proc is None or done is None or not info.running:
            return
        _killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), max(grace, 0.0))
        if not done.is_set():
            _killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), 10.0)

    def _cmd_env(self, info: ContainerInfo) -> tuple[dict[str, str], str]:
        if not info.running:
            raise ExecError(f"container {info.name} is not running")
        return info.extra["env"], info.extra["cwd"]

    def _command(self, info: ContainerInfo, command: list[str], env: dict[str, str]) -> tuple[list[str], str | None]:
        """(the argv to run, the cwd for it) for a command in the container; the argv is empty when its
        program cannot be found. In a mount namespace the program is looked up as the container sees it."""
        pid: int | None = info.extra.get("pid")
        if pid is not None:
            prog = mountns.resolve_in(pid, command, env) if command else None
            if prog is None:
                return [], None
            return [*mountns.exec_prefix(pid, pod_namespaces=info.pod_uid in self.sandboxes), prog, *command[1:]], "/"
        command = [rewrite(a, info.extra.get("mounts") or []) for a in command]
        prog = _resolve(command, env) if command else None
        if prog is None:
            return [], None
        return [*self._ns_prefix(info.pod_uid), prog, *command[1:]], info.extra["cwd"]

    async def exec_sync(self, info: ContainerInfo, command: list[str], timeout: float) -> tuple[int, bytes]:
        try:
            env, _ = self._cmd_env(info)
        except ExecError as e:
            return 1, str(e).encode()
        argv, cwd = self._command(info, command, env)
        if not argv:
            return 127, f"exec: {command[:1]}: executable file not found in $PATH".encode()
        proc = await asyncio.create_subprocess_exec(
            *self._prefix(), *argv, cwd=cwd, env=env,
            start_new_session=True, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT)
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), timeout)
        except TimeoutError:
            _killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
            return -1, b"command timed out"
        return _exit_code(proc.returncode or 0), out

    async def exec(self, info: ContainerInfo, command: list[str], *, tty: bool, stdin: bool) -> ExecProcess:
        env, _ = self._cmd_env(info)
        argv, cwd = self._command(info, command, env)
        if not argv:
            raise ExecError(f'exec: "{command[0] if command else ""}": executable file not found in $PATH')
        if tty:
            master, slave = pty.openpty()
            prefix = [_SETSID, "-c"] if _SETSID else []
            try:
                proc = await asyncio.create_subprocess_exec(
                    *prefix, *argv, cwd=cwd,
                    env={**env, "TERM": env.get("TERM", "xterm")},
                    stdin=slave, stdout=slave, stderr=slave, start_new_session=not prefix)
            finally:
                os.close(slave)
            reader = asyncio.StreamReader()
            loop = asyncio.get_running_loop()
            await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader),
                                         os.fdopen(os.dup(master), "rb", buffering=0))
            p = _Proc(proc, master, reader)
        else:
            proc = await asyncio.create_subprocess_exec(
                *self._prefix(), *argv, cwd=cwd, env=env,
                start_new_session=True, stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            p = _Proc(proc)
        self._execs.add(p)
        proc_done = asyncio.ensure_future(proc.wait())
        proc_done.add_done_callback(lambda _: self._execs.discard(p))
        return p

    async def attach(self, info: ContainerInfo, *, stdin: bool) -> ExecProcess:
        if not info.running or "broadcast" not in info.extra:
            raise ExecError(f"container {info.name} is not running")
        return _Attached(info, info.extra["done"])

    async def remove_pod(self, pod_uid: str) -> None:
        for info in (self._pods.pop(pod_uid, None) or {}).values():
            if info.running:
                await self.stop_container(info, 0)
        self.mountpoints.release(pod_uid)

    async def close(self) -> None:
        infos = [i for pod in self._pods.values() for i in pod.values() if i.running]
        await asyncio.gather(*(self.stop_container(i, 2.0) for i in infos), return_exceptions=True)
        for p in list(self._execs):
            p.kill()
        self._pods.clear()
        self.mountpoints.release_all()
