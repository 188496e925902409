"""`kplane up`: the API server, controller-manager, scheduler and N kubelets as supervised processes.

Each component is `python -m kplane.cli <component> ...`, logs to `<data-dir>/logs/<component>.log`, and is
restarted (with backoff) when it exits. The supervisor itself can run in the foreground (Ctrl-C stops
everything) or detached (`--detach`; then `kplane status|logs|down` talk to it through its pid file).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from .serve import kubeconfig as make_kubeconfig


@dataclass
class Component:
    name: str
    args: list[str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    started_at: float = 0.0
    next_start: float = 0.0
    history: list[float] = field(default_factory=list)

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        out = open(self.log, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "kplane.cli", *self.args], stdout=out,
                                     stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
                                     start_new_session=True)
        out.close()
        self.started_at = time.monotonic()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Reporter:
    def __init__(self, fmt: str) -> None:
        self.fmt = fmt
        self.t0 = time.monotonic()

    def step(self, message: str, **fields: Any) -> None:
        elapsed = time.monotonic() - self.t0
        if self.fmt == "json":
            print(json.dumps({"t": round(elapsed, 3), "msg": message, **fields}), flush=True)
        else:
            extra = " ".join(f"{k}={v}" for k, v in fields.items())
            print(f"[{elapsed:6.2f}s] {message}{(' ' + extra) if extra else ''}", flush=True)


class Cluster:
    def __init__(self, *, data_dir: Path, nodes: int, runtime: str, storage: str, port: int,
                 emulated_version: str, bind_address: str = "127.0.0.1") -> None:
        self.data_dir = data_dir
        self.kubeconfig = data_dir / "kubeconfig"
        logs = data_dir / "logs"
        self.components: list[Component] = [Component("apiserver", [
            "apiserver", "--storage", storage, "--port", str(port), "--bind-address", bind_address,
            "--data-dir", str(data_dir), "--write-kubeconfig", str(self.kubeconfig),
            "--emulated-version", emulated_version], logs / "apiserver.log")]
        kc = ["--kubeconfig", str(self.kubeconfig)]
        self.components.append(Component("controller-manager", [
            "controller-manager", *kc, "--root-ca-file", str(data_dir / "pki" / "ca.crt")],
            logs / "controller-manager.log"))
        self.components.append(Component("scheduler", ["scheduler", *kc], logs / "scheduler.log"))
        if runtime == "simulated" and nodes > 1:
            # simulated nodes are cheap: one kubelet process carries them all (kplane-node-0 ...)
            self.components.append(Component("kubelet-simulated", [
                "kubelet", *kc, "--node-name", "kplane-node", "--nodes", str(nodes), "--runtime", runtime,
                "--data-dir", str(data_dir / "kubelet")], logs / "kubelet-simulated.log"))
        else:
            for i in range(nodes):
                name = f"kplane-node-{i + 1}" if nodes > 1 else "kplane-node"
                self.components.append(Component(f"kubelet-{name}", [
                    "kubelet", *kc, "--node-name", name, "--runtime", runtime,
                    "--data-dir", str(data_dir / "kubelet" / name)], logs / f"kubelet-{name}.log"))
        self.node_count = nodes

    def server_url(self) -> str:
        cfg = yaml.safe_load(self.kubeconfig.read_text())
        return str(cfg["clusters"][0]["cluster"]["server"])

    def start_apiserver(self, timeout: float = 30) -> None:
        # a kubeconfig left from an earlier run must not be mistaken for readiness
        self.kubeconfig.unlink(missing_ok=True)
        api = self.components[0]
        api.start()
        deadline = time.monotonic() + timeout
        while not self.kubeconfig.exists():
            if not api.alive():
                raise RuntimeError(f"the API server exited; see {api.log}")
            if time.monotonic() > deadline:
                raise RuntimeError("the API server did not become ready")
            time.sleep(0.02)
        # a restarted API server must come back on the same address: pin the port it picked
        port = self.server_url().rsplit(":", 1)[1]
        api.args[api.args.index("--port") + 1] = port

    def start_rest(self) -> None:
        for c in self.components[1:]:
            c.start()

    def ready_nodes(self) -> int:
        try:
            nodes = httpx.get(self.server_url() + "/api/v1/nodes", timeout=5).json().get("items", [])
        except (httpx.HTTPError, ValueError):
            return 0
        return sum(1 for n in nodes for c in (n.get("status") or {}).get("conditions") or []
                   if c.get("type") == "Ready" and c.get("status") == "True")

    def supervise_once(self) -> list[str]:
        """Restart components that died (1 s, doubling to 30 s, backoff). Returns who was restarted."""
        restarted = []
        now = time.monotonic()
        for c in self.components:
            if c.alive():
                continue
            if c.next_start == 0.0:
                delay = min(2 ** min(c.restarts, 5), 30) if now - c.started_at < 10 else 1
                c.next_start = now + delay
            if now >= c.next_start:
                c.restarts += 1
                c.next_start = 0.0
                c.start()
                restarted.append(c.name)
        return restarted

    def stop(self) -> None:
        # kubelets and controllers first, the API server last
        for c in reversed(self.components):
            c.stop()

    def status(self) -> dict[str, Any]:
        return {c.name: {"pid": c.proc.pid if c.proc else None, "alive": c.alive(), "restarts": c.restarts}
                for c in self.components}


def _write_atomic(path: Path, text: str) -> None:
    """Readers (``kplane status``, tests) never see a half-written file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def merge_kubeconfig(server_url: str, target: Path, name: str = "kplane") -> None:
    """Add (or replace) cluster, user and context `name` in ``target`` and make it current, as kind does."""
    ours = make_kubeconfig(server_url, name=name)
    cfg: dict[str, Any] = {}
    if target.exists():
        cfg = yaml.safe_load(target.read_text()) or {}
    cfg.setdefault("apiVersion", "v1")
    cfg.setdefault("kind", "Config")
    for section in ("clusters", "users", "contexts"):
        entries = [e for e in cfg.get(section) or [] if e.get("name") != ours[section][0]["name"]]
        cfg[section] = entries + ours[section]
    cfg["current-context"] = name
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".kplane-tmp")
    tmp.write_text(yaml.safe_dump(cfg, sort_keys=False))
    os.chmod(tmp, 0o600)
    tmp.replace(target)


def run(args: Any) -> int:
    data_dir: Path = args.data_dir.expanduser()
    data_dir.mkdir(parents=True, exist_ok=True)
    pid_file = data_dir / "kplane.pid"
    if args.detach:
        argv = [a for a in sys.argv[1:] if a not in ("--detach", "-d")]
        log = open(data_dir / "logs-supervisor.log", "ab")
        proc = subprocess.Popen([sys.executable, "-m", "kplane.cli", *argv], stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if (data_dir / "ready").exists() and proc.poll() is None:
                print(f"kplane is running in the background (pid {proc.pid}); kubeconfig: {data_dir / 'kubeconfig'}")
                print("  kplane status | kplane logs COMPONENT | kplane down")
                return 0
            if proc.poll() is not None:
                print(f"kplane up failed; see {data_dir / 'logs-supervisor.log'}", file=sys.stderr)
                return 1
            time.sleep(0.1)
        return 1
    (data_dir / "ready").unlink(missing_ok=True)
    storage = args.storage or f"sqlite://{data_dir / 'state.db'}"
    report = Reporter(args.log_format)
    cluster = Cluster(data_dir=data_dir, nodes=args.nodes, runtime=args.runtime, storage=storage, port=args.port,
                      emulated_version=args.emulated_version)
    stopping = False

    def on_signal(signum: int, frame: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    pid_file.write_text(str(os.getpid()))
    try:
        report.step("starting the API server", storage=storage)
        cluster.start_apiserver()
        url = cluster.server_url()
        report.step("API server ready", url=url)
        cluster.start_rest()
        report.step("started controller-manager, scheduler and kubelets", nodes=args.nodes, runtime=args.runtime)
        deadline = time.monotonic() + 60
        while cluster.ready_nodes() < args.nodes and not stopping:
            if time.monotonic() > deadline:
                report.step("nodes did not become Ready in 60 s; see the logs", logs=str(data_dir / "logs"))
                break
            cluster.supervise_once()
            time.sleep(0.05)
        report.step(f"{cluster.ready_nodes()}/{args.nodes} nodes Ready")
        if not args.no_kubeconfig_merge:
            target = Path(os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or Path.home() / ".kube/config")
            merge_kubeconfig(url, target)
            report.step("kubeconfig merged as context kplane", path=str(target))
        (data_dir / "ready").write_text(url)
        if args.log_format == "text":
            print(f"\nkplane is up. Try:\n  export KUBECONFIG={cluster.kubeconfig}\n  kubectl get nodes\n"
                  f"  kubectl create deployment web --image=busybox -- sh -c 'sleep 3600'\n"
                  f"  kubectl get pods -w\nCtrl-C stops the cluster; `kplane up` again resumes it.", flush=True)
        _write_atomic(data_dir / "status.json", json.dumps(cluster.status()))
        while not stopping:
            for name in cluster.supervise_once():
                report.step("restarted a component that exited", component=name)
            _write_atomic(data_dir / "status.json", json.dumps(cluster.status()))
            time.sleep(0.2)
    finally:
        report.step("stopping")
        cluster.stop()
        (data_dir / "ready").unlink(missing_ok=True)
        pid_file.unlink(missing_ok=True)
        (data_dir / "status.json").unlink(missing_ok=True)
    return 0


def down(data_dir: Path) -> int:
    pid_file = data_dir / "kplane.pid"
    if not pid_file.exists():
        print("no kplane running for", data_dir, file=sys.stderr)
        return 1
    pid = int(pid_file.read_text())
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pid_file.unlink(missing_ok=True)
        return 0
    deadline = time.monotonic() + 30
    while pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    print("kplane stopped")
    return 0


def status(data_dir: Path) -> int:
    path = data_dir / "status.json"
    if not path.exists():
        print("no kplane running for", data_dir)
        return 1
    for name, st in json.loads(path.read_text()).items():
        print(f"{name:40} {'running' if st['alive'] else 'down':8} pid={st['pid']} restarts={st['restarts']}")
    return 0


def logs(data_dir: Path, component: str) -> int:
    path = data_dir / "logs" / f"{component}.log"
    if not path.exists():
        known = sorted(p.stem for p in (data_dir / "logs").glob("*.log"))
        print(f"no log for {component}; components: {', '.join(known)}", file=sys.stderr)
        return 1
    sys.stdout.write(path.read_text(errors="replace"))
    return 0
