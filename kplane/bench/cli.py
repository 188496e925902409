"""The ``kplane bench`` subcommand: argument parsing and dispatch (cheap to import)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

EPILOG = """examples:
  kplane bench api --kubeconfig ~/.kube/config --compare kind.kubeconfig --json api.json
  kplane bench api --serve memory --serve sqlite --serve etcd --json api.json
  kplane bench startup --json startup.json
  kplane bench scale --nodes 100 --pods 3000 --json scale.json
  kplane bench heartbeat --nodes 1000 --duration 20 --json heartbeat.json
  kplane bench report --markdown api.json startup.json scale.json
"""


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``bench`` (with api, startup, scale, report) to the ``kplane`` command's subparsers."""
    bench: argparse.ArgumentParser = sub.add_parser("bench", help="benchmarks: API verbs and watch fan-out, startup, scale",
                           description="Benchmarks any API server with a kubeconfig, and kplane itself.",
                           epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    bsub = bench.add_subparsers(dest="bench_command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--json", metavar="PATH", type=Path, help="write the results document here")
        p.add_argument("--markdown", action="store_true", help="print Markdown (the README section) too")
        p.add_argument("--quick", action="store_true", help="small and fast: a smoke run, not figures")

    api = bsub.add_parser("api", help="create/get/list/update/patch/delete and watch fan-out, per verb")
    api.add_argument("--kubeconfig", action="append", default=[], metavar="PATH",
                     help="the server to benchmark (repeatable)")
    api.add_argument("--context", help="kubeconfig context (default: current-context)")
    api.add_argument("--compare", action="append", default=[], metavar="PATH",
                     help="another server's kubeconfig: run alternately (A B A B) and report ratios")
    api.add_argument("--serve", action="append", default=[], metavar="STORAGE",
                     help="start a local `kplane apiserver` on memory, sqlite or etcd (a fresh etcd) and "
                          "benchmark it (repeatable); its CPU and RSS are reported")
    api.add_argument("--labels", help="comma-separated names for the targets, in order")
    api.add_argument("--server-pid", type=int, help="pid of the first target's server, to report its CPU")
    api.add_argument("-n", type=int, help="objects (default 2000; quick 100)")
    api.add_argument("--concurrency", type=int, help="requests in flight (default 32; quick 8)")
    api.add_argument("--watchers", type=int, help="watchers in the fan-out scenario (default 50; quick 4)")
    api.add_argument("--size", type=int, help="payload bytes per object (default 1024)")
    api.add_argument("--kind", choices=["configmaps", "pods"], default="configmaps")
    api.add_argument("--workers", default="auto", help="client processes (default auto: CPUs, 2..8)")
    api.add_argument("--list-repeats", type=int, help="full and paged LISTs each (default 10; quick 2)")
    api.add_argument("--list-concurrency", type=int, help="LISTs in flight (default 4; quick 2)")
    api.add_argument("--page-limit", type=int, help="limit= of paged LISTs (default 500; quick 30)")
    api.add_argument("--rounds", type=int, help="rounds per target (default 2 with several targets, else 1)")
    api.add_argument("--timeout", type=float, help="time budget per target and round, s (default 600; quick 60)")
    api.add_argument("--request-timeout", type=float, default=30.0)
    common(api)

    st = bsub.add_parser("startup", help="time to /readyz: apiserver on memory/sqlite/etcd, LocalCluster, up")
    st.add_argument("--repeats", type=int, help="starts per figure (default 5; quick 1)")
    st.add_argument("--up-nodes", type=int, help="nodes for `kplane up` (default 5; quick 1)")
    st.add_argument("--only", default="", help="comma-separated subset of memory,sqlite,etcd,local,up")
    common(st)

    sc = bsub.add_parser("scale", help="N simulated nodes, M pods through Deployments on a fresh `kplane up`")
    sc.add_argument("--nodes", type=int, help="default 100; quick 2")
    sc.add_argument("--pods", type=int, help="default 3000; quick 10")
    sc.add_argument("--pods-per-deployment", type=int, default=100)
    sc.add_argument("--storage", default="", help="the cluster's storage (default: kplane up's, sqlite)")
    sc.add_argument("--timeout", type=float, help="seconds to wait for all pods Running (default 900; quick 120)")
    common(sc)

    hb = bsub.add_parser("heartbeat", help="node heartbeat writes (Lease PUT, Node and Pod status PATCH): "
                                           "requests/s and server CPU per request")
    hb.add_argument("--kubeconfig", metavar="PATH", help="the server to benchmark (default: --serve memory)")
    hb.add_argument("--context", help="kubeconfig context (default: current-context)")
    hb.add_argument("--server-pid", type=int, help="pid of the --kubeconfig server, to report its CPU")
    hb.add_argument("--serve", metavar="STORAGE", help="start a local `kplane apiserver` on memory, sqlite or etcd")
    hb.add_argument("--nodes", type=int, help="default 1000; quick 20")
    hb.add_argument("--duration", type=float, help="seconds per write phase (default 20; quick 2)")
    hb.add_argument("--concurrency", type=int, help="requests in flight (default 16; quick 4)")
    hb.add_argument("--request-timeout", type=float, default=30.0)
    common(hb)

    rp = bsub.add_parser("report", help="print results JSON as tables, or as the README section (--markdown)")
    rp.add_argument("files", nargs="+", type=Path)
    rp.add_argument("--markdown", action="store_true")
    return bench


def _pick(value: Any, quick: bool, full: Any, small: Any) -> Any:
    if value is not None:
        return value
    return small if quick else full


def _emit(doc: dict[str, Any], args: argparse.Namespace) -> None:
    import os

    from .report import render_markdown, render_text

    try:
        doc.setdefault("machine", {})["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        pass
    print(render_text(doc), end="")
    if args.markdown:
        print()
        print(render_markdown(doc), end="")
    if args.json:
        args.json.write_text(json.dumps(doc, indent=2) + "\n")
        _log(f"results written to {args.json}")


def run_api(args: argparse.Namespace) -> int:
    from . import api
    from .kubeconfig import BenchConfigError, load_kubeconfig
    from .procstat import machine
    from .servers import LocalStack

    q = args.quick
    host = machine()  # before the run: its load average is the one the run started with
    try:
        workers = api.auto_workers() if args.workers == "auto" else int(args.workers)
    except ValueError:
        _log(f"kplane bench api: --workers must be a number or auto, not {args.workers!r}")
        return 2
    if args.workers == "auto" and q:
        workers = 2
    params = api.Params(
        n=_pick(args.n, q, 2000, api.QUICK["n"]), concurrency=_pick(args.concurrency, q, 32, api.QUICK["concurrency"]),
        watchers=_pick(args.watchers, q, 50, api.QUICK["watchers"]), size=_pick(args.size, q, 1024, 1024),
        kind=args.kind, workers=workers,
        list_repeats=_pick(args.list_repeats, q, 10, api.QUICK["list_repeats"]),
        list_concurrency=_pick(args.list_concurrency, q, 4, api.QUICK["list_concurrency"]),
        page_limit=_pick(args.page_limit, q, 500, api.QUICK["page_limit"]),
        timeout=_pick(args.timeout, q, 600.0, api.QUICK["timeout"]), request_timeout=args.request_timeout,
        watch_wait=api.QUICK["watch_wait"] if q else 30.0,
    )
    if min(params.n, params.concurrency, params.workers, params.list_repeats, params.list_concurrency,
           params.page_limit) < 1 or params.watchers < 0 or params.size < 0 or params.timeout <= 0:
        _log("kplane bench api: counts must be >= 1 (--watchers, --size >= 0) and --timeout > 0")
        return 2
    if not (args.kubeconfig or args.serve or args.compare):
        _log("kplane bench api: give --kubeconfig PATH (or --serve memory|sqlite|etcd)")
        return 2
    stacks: list[LocalStack] = []
    targets: list[api.Target] = []
    labels = [s.strip() for s in args.labels.split(",")] if args.labels else []
    try:
        for i, path in enumerate([*args.kubeconfig, *args.compare]):
            targets.append(api.Target(label=chr(ord("A") + i), cfg=load_kubeconfig(path, args.context),
                                      server_pid=args.server_pid if i == 0 else None, description=str(path)))
        for storage in args.serve:
            stack = LocalStack(storage)
            stacks.append(stack)
            _log(f"starting kplane apiserver on {storage}")
            server = stack.start()
            targets.append(api.Target(label=f"kplane-{storage.split(':')[0]}",
                                      cfg=load_kubeconfig(server.kubeconfig), server_pid=server.pid,
                                      description=f"kplane apiserver --storage {server.storage}"))
        for target, label in zip(targets, labels, strict=False):
            target.label = label
        rounds = args.rounds or (2 if len(targets) > 1 else 1)
        api.run_targets(targets, params, rounds, _log)
    except BenchConfigError as e:
        _log(f"kplane bench api: {e}")
        return 2
    except (RuntimeError, OSError) as e:
        _log(f"kplane bench api: cannot start the server to benchmark: {type(e).__name__}: {e}")
        return 1
    finally:
        for stack in stacks:
            stack.cleanup()
    doc = api.results_document(targets, params, rounds, host)
    _emit(doc, args)
    bad = any(t["aborted"] or any(r["errors"] for r in t["results"]) for t in doc["targets"])
    return 1 if bad else 0


def run_startup(args: argparse.Namespace) -> int:
    import time

    from . import startup
    from .procstat import machine

    only = tuple(s.strip() for s in args.only.split(",") if s.strip()) or startup.ALL
    unknown = set(only) - set(startup.ALL)
    if unknown:
        _log(f"kplane bench startup: unknown --only {', '.join(sorted(unknown))}; choose from {','.join(startup.ALL)}")
        return 2
    host = machine()
    repeats = _pick(args.repeats, args.quick, 5, 1)
    up_nodes = _pick(args.up_nodes, args.quick, 5, 1)
    rows = startup.run(repeats, up_nodes, only, _log)
    doc = {"benchmark": "startup", "version": 1, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "machine": host, "params": {"repeats": repeats, "up_nodes": up_nodes, "only": list(only)},
           "results": rows}
    _emit(doc, args)
    return 1 if any(r["status"] == "failed" for r in rows) else 0


def run_scale(args: argparse.Namespace) -> int:
    import time

    from . import scale
    from .procstat import machine

    host = machine()
    nodes = _pick(args.nodes, args.quick, 100, 2)
    pods = _pick(args.pods, args.quick, 3000, 10)
    timeout = _pick(args.timeout, args.quick, 900.0, 120.0)
    if nodes < 1 or pods < 1 or args.pods_per_deployment < 1 or timeout <= 0:
        _log("kplane bench scale: --nodes, --pods, --pods-per-deployment must be >= 1, --timeout > 0")
        return 2
    result = scale.run(nodes, pods, args.pods_per_deployment, args.storage, timeout, _log)
    doc = {"benchmark": "scale", "version": 1, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "machine": host, "params": {"nodes": nodes, "pods": pods,
                                            "pods_per_deployment": args.pods_per_deployment},
           "result": result}
    _emit(doc, args)
    return 0 if result.get("status") in ("ok", "unavailable") else 1


def run_heartbeat(args: argparse.Namespace) -> int:
    import time

    from . import heartbeat
    from .kubeconfig import BenchConfigError, load_kubeconfig
    from .procstat import machine
    from .servers import LocalStack

    host = machine()
    base = heartbeat.QUICK if args.quick else heartbeat.Params()
    params = heartbeat.Params(nodes=base.nodes if args.nodes is None else args.nodes,
                              duration=base.duration if args.duration is None else args.duration,
                              concurrency=base.concurrency if args.concurrency is None else args.concurrency,
                              request_timeout=args.request_timeout)
    if min(params.nodes, params.concurrency) < 1 or params.duration <= 0 or params.request_timeout <= 0:
        _log("kplane bench heartbeat: --nodes and --concurrency must be >= 1, --duration > 0")
        return 2
    if args.kubeconfig and args.serve:
        _log("kplane bench heartbeat: give --kubeconfig or --serve, not both")
        return 2
    stack: LocalStack | None = None
    try:
        if args.kubeconfig:
            cfg, pid, server = load_kubeconfig(args.kubeconfig, args.context), args.server_pid, str(args.kubeconfig)
        else:
            stack = LocalStack(args.serve or "memory")
            _log(f"starting kplane apiserver on {stack.storage}")
            started = stack.start()
            cfg, pid = load_kubeconfig(started.kubeconfig), started.pid
            server = f"kplane apiserver --storage {started.storage}"
        result = heartbeat.run(cfg, params, pid, _log)
    except BenchConfigError as e:
        _log(f"kplane bench heartbeat: {e}")
        return 2
    except (RuntimeError, OSError) as e:
        _log(f"kplane bench heartbeat: {type(e).__name__}: {e}")
        return 1
    finally:
        if stack is not None:
            stack.cleanup()
    result["server"] = server
    doc = {"benchmark": "heartbeat", "version": 1, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "machine": host, "params": {"nodes": params.nodes, "duration": params.duration,
                                       "concurrency": params.concurrency}, "result": result}
    _emit(doc, args)
    bad = result["setup_errors"] or any(r["errors"] or not r["count"] for r in result["phases"])
    return 1 if bad else 0


def run_report(args: argparse.Namespace) -> int:
    from .report import readme_section, render_text

    docs = []
    for path in args.files:
        try:
            docs.append(json.loads(path.read_text()))
        except (OSError, ValueError) as e:
            _log(f"kplane bench report: {path}: {e}")
            return 2
    try:
        if args.markdown:
            print(readme_section(docs), end="")
        else:
            for doc in docs:
                print(render_text(doc))
    except (ValueError, KeyError) as e:
        _log(f"kplane bench report: not a results document: {e}")
        return 2
    return 0


def run(args: argparse.Namespace) -> int:
    command = args.bench_command
    if command == "api":
        return run_api(args)
    if command == "startup":
        return run_startup(args)
    if command == "scale":
        return run_scale(args)
    if command == "heartbeat":
        return run_heartbeat(args)
    return run_report(args)


def main(argv: list[str] | None = None) -> int:
    """``python -m kplane.bench.cli api ...``: the same as ``kplane bench api ...``."""
    parser = argparse.ArgumentParser(prog="kplane")
    add_parser(parser.add_subparsers(dest="command", required=True))
    return run(parser.parse_args(["bench", *(sys.argv[1:] if argv is None else argv)]))


if __name__ == "__main__":
    sys.exit(main())
