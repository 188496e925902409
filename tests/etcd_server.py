"""A throwaway single-member etcd for tests: tmpfs data dir, loopback-only random ports."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ETCD_BINARY = "/usr/bin/etcd"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class EtcdServer:
    """``start()`` launches etcd (again, on the same data dir and ports after ``stop()``/``kill()``)."""

    def __init__(self, binary: str = ETCD_BINARY) -> None:
        if not os.access(binary, os.X_OK):
            raise FileNotFoundError(binary)
        self.binary = binary
        shm = "/dev/shm" if os.path.isdir("/dev/shm") else None
        self.data_dir = Path(tempfile.mkdtemp(prefix="kplane-etcd-", dir=shm))
        self.client_port = _free_port()
        self.peer_port = _free_port()
        self.client_url = f"http://127.0.0.1:{self.client_port}"
        self.peer_url = f"http://127.0.0.1:{self.peer_port}"
        self.endpoints = [f"127.0.0.1:{self.client_port}"]
        self.log_path = self.data_dir / "etcd.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20.0) -> None:
        if self._proc is not None and self._proc.poll() is None:
            return
        cmd = [
            self.binary,
            "--name", "kplane-test",
            "--data-dir", str(self.data_dir / "data"),
            "--listen-client-urls", self.client_url,
            "--advertise-client-urls", self.client_url,
            "--listen-peer-urls", self.peer_url,
            "--initial-advertise-peer-urls", self.peer_url,
            "--initial-cluster", f"kplane-test={self.peer_url}",
            "--initial-cluster-state", "new",
            "--heartbeat-interval", "10",
            "--election-timeout", "50",
            "--snapshot-count", "1000000",
            "--quota-backend-bytes", str(4 * 1024**3),
            "--log-level", "warn",
        ]
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"etcd exited with {self._proc.returncode}:\n{self._log_tail()}")
            if self.healthy():
                return
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"etcd did not become healthy within {timeout}s:\n{self._log_tail()}")

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.client_url}/health", timeout=1) as resp:
                return b'"true"' in resp.read()
        except (OSError, urllib.error.URLError):
            return False

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM and wait (SIGKILL if it does not exit in time)."""
        self._end(signal.SIGTERM, timeout)

    def kill(self) -> None:
        """SIGKILL, like a crash."""
        self._end(signal.SIGKILL, 10.0)

    def _end(self, sig: signal.Signals, timeout: float) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def _log_tail(self, n: int = 4000) -> str:
        try:
            return self.log_path.read_bytes()[-n:].decode(errors="replace")
        except OSError:
            return ""
