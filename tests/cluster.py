"""A real `kplane apiserver` process on 127.0.0.1 for tests: start, stop, kill -9, restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import yaml

T = TypeVar("T")


class ServerProcess:
    def __init__(self, storage: str = "memory://", *, data_dir: Path | None = None,
                 extra: tuple[str, ...] = ("--compaction-interval", "1", "--bookmark-interval", "1")) -> None:
        self.data_dir = data_dir or Path(tempfile.mkdtemp(prefix="kplane-test-"))
        self.storage = storage
        self.extra = extra
        self.kubeconfig = self.data_dir / "kubeconfig"
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self, timeout: float = 30.0) -> ServerProcess:
        self.kubeconfig.unlink(missing_ok=True)
        log = open(self.data_dir / "apiserver.log", "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kplane.cli", "apiserver", "--storage", self.storage, "--port", "0",
             "--data-dir", str(self.data_dir), "--write-kubeconfig", str(self.kubeconfig), *self.extra],
            stdout=log, stderr=subprocess.STDOUT, cwd=Path(__file__).resolve().parent.parent,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        deadline = time.monotonic() + timeout
        while not self.kubeconfig.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("apiserver did not start:\n" + self.log())
            time.sleep(0.02)
        self.url = yaml.safe_load(self.kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
        return self

    def log(self) -> str:
        return (self.data_dir / "apiserver.log").read_text(errors="replace")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class ComponentProcess:
    """Another kplane component (`controller-manager`, `scheduler`, `kubelet`) run against a server."""

    def __init__(self, server: ServerProcess, command: str, *args: str, log_name: str = "") -> None:
        self.server = server
        self.command = command
        self.args = args
        self.log_path = server.data_dir / f"{log_name or command}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ComponentProcess:
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kplane.cli", self.command, "--kubeconfig", str(self.server.kubeconfig),
             *self.args],
            stdout=log, stderr=subprocess.STDOUT, cwd=Path(__file__).resolve().parent.parent,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def wait_for(predicate: Callable[[], T | None], *, timeout: float = 30.0, interval: float = 0.1,
             message: str = "condition") -> T:
    """Poll until ``predicate`` returns something truthy; its value is returned."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)
