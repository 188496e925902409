"""An in-process kplane for tests: the API server runs in a background thread (no interpreter start-up,
so it is ready in a fraction of a second); controllers, scheduler and kubelets, when asked for, run as
subprocesses against it.

    with LocalCluster(nodes=1) as cluster:
        core = kubernetes.client.CoreV1Api(cluster.api_client())
        cluster.kubectl("get", "nodes")
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from apiserver.app import Config

from .serve import serve


class LocalCluster:
    def __init__(self, *, nodes: int = 0, runtime: str = "simulated", storage: str = "memory://",
                 controllers: bool | None = None, data_dir: Path | None = None, kubectl: str | None = None) -> None:
        self.nodes = nodes
        self.runtime = runtime
        self.storage = storage
        self.controllers = nodes > 0 if controllers is None else controllers
        self._own_dir = data_dir is None
        self.data_dir = data_dir or Path(tempfile.mkdtemp(prefix="kplane-"))
        self.kubeconfig = self.data_dir / "kubeconfig"
        self.server = ""
        self.kubectl_binary = kubectl or shutil.which("kubectl") or "kubectl"
        self.startup_seconds = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None
        self._procs: list[subprocess.Popen[bytes]] = []

    # --- lifecycle -------------------------------------------------------------------------------------

    def start(self, timeout: float = 30.0) -> LocalCluster:
        t0 = time.monotonic()
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)

            async def main() -> None:
                self._stop = asyncio.Event()
                up = asyncio.Event()
                config = Config(storage=self.storage, data_dir=self.data_dir)
                task = asyncio.create_task(serve(config, host="127.0.0.1", port=0,
                                                 kubeconfig_path=self.kubeconfig, ready=up, stop=self._stop))
                waiter = asyncio.create_task(up.wait())
                await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
                if task.done():
                    task.result()
                ready.set()
                await task

            try:
                loop.run_until_complete(main())
            except BaseException as e:  # surfaced to start()
                failure.append(e)
                ready.set()
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name="kplane-apiserver", daemon=True)
        self._thread.start()
        if not ready.wait(timeout) or failure:
            raise RuntimeError(f"kplane API server did not start: {failure[0] if failure else 'timeout'}")
        import yaml

        self.server = yaml.safe_load(self.kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
        self.startup_seconds = time.monotonic() - t0
        if self.controllers:
            self._spawn("controller-manager", "--leader-elect", "false",
                        "--root-ca-file", str(self.data_dir / "pki" / "ca.crt"))
        if self.nodes:
            self._spawn("scheduler", "--leader-elect", "false")
            for i in range(self.nodes):
                name = f"node-{i + 1}"
                self._spawn("kubelet", "--node-name", name, "--runtime", self.runtime,
                            "--data-dir", str(self.data_dir / "kubelet" / name), log=f"kubelet-{name}")
            self.wait_for_nodes(timeout)
        return self

    def _spawn(self, component: str, *args: str, log: str = "") -> None:
        out = open(self.data_dir / f"{log or component}.log", "ab")
        self._procs.append(subprocess.Popen(
            [sys.executable, "-m", "kplane.cli", component, "--kubeconfig", str(self.kubeconfig), *args],
            stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"}))
        out.close()

    def wait_for_nodes(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            nodes = httpx.get(self.server + "/api/v1/nodes").json().get("items", [])
            ready = [n for n in nodes for c in (n.get("status") or {}).get("conditions") or []
                     if c.get("type") == "Ready" and c.get("status") == "True"]
            if len(ready) >= self.nodes:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{len(ready)}/{self.nodes} nodes Ready after {timeout}s")
            time.sleep(0.05)

    def stop(self) -> None:
        for p in reversed(self._procs):
            if p.poll() is None:
                p.terminate()
        for p in self._procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        self._procs.clear()
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(15)
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- clients -------------------------------------------------------------------------------------------

    def api_client(self) -> Any:
        """An official `kubernetes` ApiClient for this cluster (the package must be installed)."""
        from kubernetes import config

        return config.new_client_from_config(str(self.kubeconfig))  # type: ignore[no-untyped-call]

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig)}
        return subprocess.run([self.kubectl_binary, *args], input=input, capture_output=True, text=True, env=env,
                              check=check, timeout=120)
