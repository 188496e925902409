"""A fresh ``kplane up --runtime simulated`` as a child process, for the startup and scale benchmarks."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from .servers import http_get

NEEDED = ("scheduler", "kubelet")


def missing_components() -> list[str]:
    """The ``kplane`` subcommands ``kplane up`` needs that this installation does not have yet."""
    procs = {command: subprocess.Popen([sys.executable, "-m", "kplane.cli", command, "--help"],
                                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL) for command in NEEDED}
    missing = []
    for command, proc in procs.items():
        try:
            code = proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        if code != 0:
            missing.append(command)
    return missing


def unavailable(missing: list[str]) -> dict[str, Any]:
    return {"status": "unavailable",
            "reason": f"`kplane {' / '.join(missing)}` not available in this installation yet"}


class UpCluster:
    """``kplane up --nodes N --runtime simulated --port 0 --no-kubeconfig-merge --data-dir <tmp>``, in the
    foreground of a child process of its own session. ``stop()`` ends it (SIGTERM; its supervisor stops the
    components) and removes the data dir."""

    def __init__(self, nodes: int, storage: str = "", extra: tuple[str, ...] = ()) -> None:
        self.nodes = nodes
        self.data_dir = Path(tempfile.mkdtemp(prefix="kplane-bench-up-"))
        self.kubeconfig = self.data_dir / "kubeconfig"
        self.storage = storage
        self.extra = extra
        self.proc: subprocess.Popen[bytes] | None = None
        self.t0 = 0.0
        self.url = ""

    def start(self) -> None:
        cmd = [sys.executable, "-m", "kplane.cli", "up", "--nodes", str(self.nodes), "--runtime", "simulated",
               "--port", "0", "--no-kubeconfig-merge", "--data-dir", str(self.data_dir), *self.extra]
        if self.storage:
            cmd += ["--storage", self.storage]
        # kplane up binds its API server to 127.0.0.1 (Cluster's default bind address)
        with open(self.data_dir / "up.log", "ab") as log:
            self.t0 = time.monotonic()
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True)

    def log_tail(self, n: int = 3000) -> str:
        try:
            return (self.data_dir / "up.log").read_bytes()[-n:].decode(errors="replace")
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_api(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"kplane up exited:\n{self.log_tail()}")
            if self.kubeconfig.exists():
                try:
                    cfg = yaml.safe_load(self.kubeconfig.read_text())
                    self.url = str(cfg["clusters"][0]["cluster"]["server"])
                    return self.url
                except (OSError, yaml.YAMLError, KeyError, IndexError, TypeError):
                    pass
            time.sleep(0.02)
        raise RuntimeError(f"kplane up: no API server after {timeout:g} s:\n{self.log_tail()}")

    def get_json(self, path: str, timeout: float = 10.0) -> Any:
        parts = urlsplit(self.url)
        status, body = http_get(parts.hostname or "127.0.0.1", parts.port or 80, path, timeout=timeout)
        if status != 200:
            raise OSError(f"GET {path}: {status}")
        return json.loads(body)

    def ready_nodes(self) -> int:
        try:
            nodes = self.get_json("/api/v1/nodes").get("items", [])
        except (OSError, ValueError):
            return 0
        return sum(1 for n in nodes for c in (n.get("status") or {}).get("conditions") or []
                   if c.get("type") == "Ready" and c.get("status") == "True")

    def wait_nodes_ready(self, timeout: float) -> float:
        """Seconds from the start of ``kplane up`` until all its nodes are Ready."""
        deadline = time.monotonic() + timeout
        if not self.url:
            self.wait_api(timeout)
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"kplane up exited:\n{self.log_tail()}")
            if self.ready_nodes() >= self.nodes:
                return time.monotonic() - self.t0
            time.sleep(0.05)
        raise RuntimeError(f"{self.ready_nodes()}/{self.nodes} nodes Ready after {timeout:g} s")

    def component_pids(self) -> dict[str, int]:
        """The supervisor's and its components' pids (from the status file it keeps)."""
        pids: dict[str, int] = {}
        if self.proc is not None:
            pids["supervisor"] = self.proc.pid
        try:
            status = json.loads((self.data_dir / "status.json").read_text())
        except (OSError, ValueError):
            return pids
        for name, st in status.items():
            if isinstance(st, dict) and isinstance(st.get("pid"), int) and st.get("alive"):
                pids[name] = st["pid"]
        return pids

    def _ours(self, pid: int) -> bool:
        """The pid still runs one of this cluster's components (every one names the data dir)."""
        try:
            return str(self.data_dir).encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return False

    def stop(self) -> None:
        pids = self.component_pids()
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        # a supervisor that could not stop its components: end the ones it started, by pid
        for name, pid in pids.items():
            if name == "supervisor" or not self._ours(pid):
                continue
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        shutil.rmtree(self.data_dir, ignore_errors=True)
