"""The ``kplane`` command."""

from __future__ import annotations

import argparse
import asyncio
import gc
import ipaddress
import logging
import re
import sys
from pathlib import Path
from typing import Any

from apiserver.app import Config

DEFAULT_DATA_DIR = Path.home() / ".local/share/kplane"


def run_async(main: Any, *, uvloop_ok: bool = True) -> None:
    """asyncio.run on uvloop when it is installed (uvicorn[standard] brings it); grpc's asyncio (the
    etcd client) is kept on the default loop.

    The cyclic GC runs less often (the servers allocate many short-lived dicts and few cycles; a
    generation-0 threshold of 50,000 cut PATCH CPU by about a fifth in ``kplane bench heartbeat``) and
    what was imported is frozen out of its scans."""
    gc.set_threshold(50_000, 20, 100)
    gc.freeze()
    if uvloop_ok:
        try:
            import uvloop
        except ImportError:
            pass
        else:
            uvloop.run(main)
            return
    asyncio.run(main)


def _apiserver_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--storage", default="",
                   help="memory://, sqlite:///path/state.db (default: <data-dir>/state.db) or etcd://host:port[,...]")
    p.add_argument("--bind-address", default="127.0.0.1")
    p.add_argument("--port", type=int, default=6443, help="0 picks a free port")
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    p.add_argument("--write-kubeconfig", type=Path, default=None,
                   help="where to write an admin kubeconfig once ready (default <data-dir>/kubeconfig)")
    p.add_argument("--emulated-version", default="1.37")
    p.add_argument("--log-level", default="warning")
    p.add_argument("--compaction-interval", type=float, default=300.0,
                   help="seconds between storage compactions (as kube-apiserver's --etcd-compaction-interval)")
    p.add_argument("--service-cluster-ip-range", default="10.96.0.0/12")
    p.add_argument("--bookmark-interval", type=float, default=60.0, help="seconds between watch BOOKMARK events")
    p.add_argument("--kubelet-certificate-authority", default="",
                   help="verify kubelets' serving certificates with this CA file (default: not verified)")


def _run_apiserver(args: argparse.Namespace) -> int:
    from .serve import serve

    data_dir: Path = args.data_dir.expanduser()
    storage = args.storage or f"sqlite://{data_dir / 'state.db'}"
    config = Config(storage=storage, data_dir=data_dir, emulated_version=args.emulated_version,
                    compaction_interval=args.compaction_interval, bookmark_interval=args.bookmark_interval,
                    service_cluster_ip_range=args.service_cluster_ip_range,
                    kubelet_certificate_authority=args.kubelet_certificate_authority)
    kubeconfig = args.write_kubeconfig or data_dir / "kubeconfig"
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    async def main() -> None:
        ready = asyncio.Event()

        async def hello() -> None:
            await ready.wait()
            print(f"kplane apiserver ready; kubeconfig: {kubeconfig}", file=sys.stderr, flush=True)
            print(f"  export KUBECONFIG={kubeconfig}", file=sys.stderr, flush=True)

        t = asyncio.create_task(hello())
        await serve(config, host=args.bind_address, port=args.port, kubeconfig_path=kubeconfig, ready=ready,
                    log_level=args.log_level)
        t.cancel()

    run_async(main(), uvloop_ok=not storage.startswith("etcd"))
    return 0


def _run_controller_manager(args: argparse.Namespace) -> int:
    from controllers import manager

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    names = None if args.controllers in ("*", "") else args.controllers.split(",")
    _serve_metrics(args, "controller-manager")
    try:
        run_async(manager.main(args.kubeconfig, names=names, leader_elect=args.leader_elect == "true",
                                 options={"root_ca_file": args.root_ca_file,
                                          "node_monitor_grace_period": args.node_monitor_grace_period}))
    except KeyboardInterrupt:
        pass
    return 0


def _serve_metrics(args: argparse.Namespace, component: str) -> None:
    if args.metrics_port >= 0:
        from controllers import metrics

        port = metrics.serve(args.metrics_port)
        print(f"{component} /metrics on http://127.0.0.1:{port}/metrics", file=sys.stderr, flush=True)


def _metrics_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--metrics-port", type=int, default=0,
                   help="serve Prometheus /metrics on 127.0.0.1:PORT (0 picks a free port, -1 disables)")


def _go_duration(text: str) -> float:
    """Seconds of a Go duration flag value (``1m0s``, ``500ms``, ``2s``); ValueError with Go's words."""
    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    parts = re.findall(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)", text)
    if text == "0":
        return 0.0
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f'invalid argument "{text}" for "--sync-frequency" flag: time: invalid duration "{text}"')
    return sum(float(n) * units[u] for n, u in parts)


def _run_kubelet(args: argparse.Namespace) -> int:
    from kubelet import agent, mountns
    from kubelet.logs import container_log_limits
    from kubelet.network import resolve_mode

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    _serve_metrics(args, "kubelet")
    data_dir = (args.data_dir or DEFAULT_DATA_DIR / "kubelet" / args.node_name).expanduser()
    try:  # container log rotation
        log_limits = container_log_limits(args.container_log_max_size, args.container_log_max_files)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    try:  # pod network
        pod_network = resolve_mode(args.pod_network, args.runtime)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    try:  # volumes in mount namespaces
        volume_mounts = mountns.resolve_mode(args.volume_mounts, args.runtime)
        sync_frequency = _go_duration(args.sync_frequency)
        cluster_dns = _ip_list(args.cluster_dns, "--cluster-dns")
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    try:
        run_async(agent.main(args.kubeconfig, node_name=args.node_name, nodes=args.nodes, runtime=args.runtime,
                               cpu=args.cpu, memory=args.memory, pods=args.pods, data_dir=data_dir, port=args.port,
                               pod_cidr=args.pod_cidr, events=args.events == "true",
                               tls_cert_file=args.tls_cert_file, tls_private_key_file=args.tls_private_key_file,
                               pod_network=pod_network, log_limits=log_limits, volume_mounts=volume_mounts,
                               sync_frequency=sync_frequency, cluster_dns=cluster_dns))
    except KeyboardInterrupt:
        pass
    return 0


def _kubelet_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kubeconfig", required=True)
    p.add_argument("--node-name", required=True)
    p.add_argument("--nodes", type=int, default=1,
                   help="run this many nodes in one process, named <node-name>-0 ... (simulated scale tests)")
    p.add_argument("--runtime", default="process", choices=["process", "simulated"])
    p.add_argument("--cpu", default="", help="cpu capacity (default: the host's)")
    p.add_argument("--memory", default="", help="memory capacity, e.g. 8Gi (default: the host's)")
    p.add_argument("--pods", type=int, default=110, help="pod capacity")
    p.add_argument("--data-dir", type=Path, default=None,
                   help="pod directories and container logs (default <kplane data dir>/kubelet/<node-name>)")
    p.add_argument("--port", type=int, default=0, help="the kubelet API port on 127.0.0.1 (0 picks a free one)")
    p.add_argument("--pod-cidr", default="", help="pod IPs for this node (default: the Node's spec.podCIDR, "
                   "else 10.244.<n>.0/24 from the digits ending the node name)")
    p.add_argument("--events", default="true", choices=["true", "false"])
    p.add_argument("--container-log-max-size", default="10Mi",
                   help="rotate a container's log file once it is larger than this quantity")
    p.add_argument("--container-log-max-files", type=int, default=5,
                   help="log files kept per container (the current one included; at least 2)")
    p.add_argument("--tls-cert-file", default="", help="the kubelet API's serving certificate (default: a "
                   "self-signed one in <data-dir>/pki)")
    p.add_argument("--tls-private-key-file", default="", help="the key of --tls-cert-file")
    p.add_argument("--pod-network", default="auto", choices=["auto", "host", "netns"],
                   help="process runtime: netns gives each pod its own network namespace and an IP on a node "
                        "bridge (needs root on Linux); host shares the node's network; auto picks netns when "
                        "possible")
    p.add_argument("--volume-mounts", default="auto", choices=["auto", "namespace", "rewrite"],
                   help="process runtime: namespace bind-mounts volumes at their mountPaths in a mount namespace "
                        "per container (needs root on Linux); rewrite rewrites mountPaths in commands, env and "
                        "workingDir; auto picks namespace when possible")
    p.add_argument("--sync-frequency", default="1m0s",
                   help="max period between refreshes of configMap, secret, downwardAPI and projected volumes")
    p.add_argument("--cluster-dns", default="",
                   help="comma-separated DNS server IPs for pods with dnsPolicy ClusterFirst (default: none, "
                        "such pods fall back to the Default policy)")
    p.add_argument("--log-level", default="warning")


def _ip_list(text: str, flag: str) -> list[str]:
    """A comma-separated list of IP addresses (a pflag ``strings`` flag)."""
    out = []
    for item in (i.strip() for i in text.split(",") if i.strip()):
        try:
            out.append(str(ipaddress.ip_address(item)))
        except ValueError:
            raise ValueError(f'invalid argument "{text}" for "{flag}" flag: invalid IP address "{item}"') from None
    return out


def _run_scheduler(args: argparse.Namespace) -> int:
    from controllers.scheduler import scheduler

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.log_level.lower() != "debug":
        logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per binding otherwise
    _serve_metrics(args, "scheduler")
    try:
        run_async(scheduler.main(args.kubeconfig, leader_elect=args.leader_elect == "true",
                                   config_path=args.config or None))
    except KeyboardInterrupt:
        pass
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kplane", description="A Kubernetes control plane in Python")
    sub = parser.add_subparsers(dest="command", required=True)
    api = sub.add_parser("apiserver", help="run the API server")
    _apiserver_args(api)
    up = sub.add_parser("up", help="run a local cluster: API server, controllers, scheduler and kubelets")
    up.add_argument("--nodes", type=int, default=1)
    up.add_argument("--runtime", choices=["process", "simulated"], default="process")
    up.add_argument("--storage", default="", help="default: sqlite in the data dir")
    up.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    up.add_argument("--port", type=int, default=6443, help="API server port (0 picks a free one)")
    up.add_argument("--emulated-version", default="1.37")
    up.add_argument("--detach", "-d", action="store_true", help="run in the background")
    up.add_argument("--no-kubeconfig-merge", action="store_true",
                    help="do not add the `kplane` context to ~/.kube/config")
    up.add_argument("--log-format", choices=["text", "json"], default="text")
    for verb, text in (("down", "stop a detached cluster"), ("status", "show a detached cluster's components")):
        p = sub.add_parser(verb, help=text)
        p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    lg = sub.add_parser("logs", help="print a component's log")
    lg.add_argument("component")
    lg.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    cm = sub.add_parser("controller-manager", help="run the controllers (deployment, replicaset, gc, ...)")
    cm.add_argument("--kubeconfig", required=True)
    cm.add_argument("--controllers", default="*", help="comma-separated names, * for all")
    cm.add_argument("--leader-elect", default="true", choices=["true", "false"])
    cm.add_argument("--log-level", default="warning")
    cm.add_argument("--root-ca-file", default="", help="the cluster CA published as kube-root-ca.crt "
                    "(default: <data-dir>/pki/ca.crt of a local kplane)")
    _metrics_arg(cm)
    cm.add_argument("--node-monitor-grace-period", type=float, default=40.0,
                    help="seconds without a node heartbeat before the node is marked Unknown")
    kl = sub.add_parser("kubelet", help="run a node agent (register a Node, run its pods)")
    _kubelet_args(kl)
    _metrics_arg(kl)
    sch = sub.add_parser("scheduler", help="run the scheduler (assigns pending pods to nodes)")
    _metrics_arg(sch)
    sch.add_argument("--kubeconfig", required=True)
    sch.add_argument("--leader-elect", default="true", choices=["true", "false"])
    sch.add_argument("--config", default="", help="a KubeSchedulerConfiguration file (profiles, plugin args)")
    sch.add_argument("--log-level", default="warning")
    from .bench import cli as bench_cli

    bench_cli.add_parser(sub)
    args = parser.parse_args(argv)
    if args.command == "apiserver":
        return _run_apiserver(args)
    if args.command in ("up", "down", "status", "logs"):
        from . import up as up_mod

        if args.command == "up":
            return up_mod.run(args)
        if args.command == "down":
            return up_mod.down(args.data_dir.expanduser())
        if args.command == "status":
            return up_mod.status(args.data_dir.expanduser())
        return up_mod.logs(args.data_dir.expanduser(), args.component)
    if args.command == "controller-manager":
        return _run_controller_manager(args)
    if args.command == "scheduler":
        return _run_scheduler(args)
    if args.command == "kubelet":
        return _run_kubelet(args)
    if args.command == "bench":
        return bench_cli.run(args)
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
