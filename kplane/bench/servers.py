"""Throwaway servers for the benchmarks, all on 127.0.0.1: a single-member etcd (data on /dev/shm, random
loopback ports; the same approach as tests/etcd_server.py, kept here so the installed package does not
import tests/) and a ``kplane apiserver`` child process timed from its start to ``/readyz``."""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ETCD_BINARY = "/usr/bin/etcd"
LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def http_get(host: str, port: int, path: str, timeout: float = 2.0) -> tuple[int, bytes]:
    """One plain-HTTP GET (no proxy from the environment). Raises OSError when nothing answers."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    except http.client.HTTPException as e:
        raise OSError(str(e)) from e
    finally:
        conn.close()


def etcd_binary() -> str | None:
    """Debian's etcd (package etcd-server), or one on PATH."""
    if os.access(ETCD_BINARY, os.X_OK):
        return ETCD_BINARY
    return shutil.which("etcd")


def _end(proc: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


class EtcdServer:
    """A fresh single-member etcd: tmpfs data dir, loopback-only random ports. ``start()`` returns the
    seconds it took to answer /health."""

    def __init__(self, binary: str | None = None) -> None:
        found = binary or etcd_binary()
        if found is None:
            raise FileNotFoundError(ETCD_BINARY)
        self.binary = found
        shm = "/dev/shm" if os.path.isdir("/dev/shm") else None
        self.data_dir = Path(tempfile.mkdtemp(prefix="kplane-bench-etcd-", dir=shm))
        self.client_port = free_port()
        self.peer_port = free_port()
        self.client_url = f"http://{LOOPBACK}:{self.client_port}"
        self.peer_url = f"http://{LOOPBACK}:{self.peer_port}"
        self.endpoint = f"{LOOPBACK}:{self.client_port}"
        self.log_path = self.data_dir / "etcd.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20.0) -> float:
        t0 = time.monotonic()
        cmd = [
            self.binary, "--name", "kplane-bench", "--data-dir", str(self.data_dir / "data"),
            "--listen-client-urls", self.client_url, "--advertise-client-urls", self.client_url,
            "--listen-peer-urls", self.peer_url, "--initial-advertise-peer-urls", self.peer_url,
            "--initial-cluster", f"kplane-bench={self.peer_url}", "--initial-cluster-state", "new",
            "--heartbeat-interval", "10", "--election-timeout", "50", "--snapshot-count", "1000000",
            "--quota-backend-bytes", str(4 * 1024**3), "--log-level", "warn",
        ]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        deadline = t0 + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"etcd exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                status, body = http_get(LOOPBACK, self.client_port, "/health", timeout=1)
                if status == 200 and b'"true"' in body:
                    return time.monotonic() - t0
            except OSError:
                pass
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"etcd did not become healthy within {timeout}s:\n{self.log_tail()}")

    def log_tail(self, n: int = 2000) -> str:
        try:
            return self.log_path.read_bytes()[-n:].decode(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        _end(proc)

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)


class APIServerProcess:
    """``kplane apiserver`` as a child on 127.0.0.1 and a free port. ``start()`` returns the seconds from
    spawning the process to the first 200 from /readyz."""

    def __init__(self, storage: str, data_dir: Path | None = None, extra: tuple[str, ...] = ()) -> None:
        self._own_dir = data_dir is None
        self.data_dir = data_dir or Path(tempfile.mkdtemp(prefix="kplane-bench-"))
        self.storage = storage
        self.extra = extra
        self.port = 0
        self.kubeconfig = self.data_dir / "kubeconfig"
        self.log_path = self.data_dir / "apiserver.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 60.0) -> float:
        self.port = free_port()
        self.kubeconfig.unlink(missing_ok=True)
        cmd = [sys.executable, "-m", "kplane.cli", "apiserver", "--storage", self.storage,
               "--bind-address", LOOPBACK, "--port", str(self.port), "--data-dir", str(self.data_dir),
               "--write-kubeconfig", str(self.kubeconfig), *self.extra]
        with open(self.log_path, "ab") as log:
            t0 = time.monotonic()
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True)
        deadline = t0 + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"kplane apiserver exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                status, _ = http_get(LOOPBACK, self.port, "/readyz", timeout=2)
                if status == 200:
                    elapsed = time.monotonic() - t0
                    # the kubeconfig is written right after readiness; wait for it so callers can use it
                    while not self.kubeconfig.exists() and time.monotonic() < deadline:
                        time.sleep(0.005)
                    return elapsed
            except OSError:
                pass
            time.sleep(0.005)
        self.stop()
        raise RuntimeError(f"kplane apiserver not ready within {timeout}s:\n{self.log_tail()}")

    def log_tail(self, n: int = 3000) -> str:
        try:
            return self.log_path.read_bytes()[-n:].decode(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        _end(proc)

    def cleanup(self) -> None:
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)


class LocalStack:
    """An API server on ``memory``, ``sqlite`` (a fresh file) or ``etcd`` (a fresh etcd started here),
    or any storage URL; for ``kplane bench api --serve``."""

    def __init__(self, storage: str) -> None:
        self.etcd: EtcdServer | None = None
        self.kind = storage
        self.data_dir = Path(tempfile.mkdtemp(prefix="kplane-bench-"))
        self.server: APIServerProcess | None = None
        self.storage = storage

    def start(self) -> APIServerProcess:
        storage = self.storage
        if storage == "memory":
            storage = "memory://"
        elif storage == "sqlite":
            storage = f"sqlite://{self.data_dir / 'state.db'}"
        elif storage == "etcd":
            self.etcd = EtcdServer()
            self.etcd.start()
            storage = f"etcd://{self.etcd.endpoint}"
        self.server = APIServerProcess(storage, data_dir=self.data_dir)
        self.server.start()
        return self.server

    def cleanup(self) -> None:
        if self.server is not None:
            self.server.stop()
        if self.etcd is not None:
            self.etcd.cleanup()
        shutil.rmtree(self.data_dir, ignore_errors=True)
