"""``kplane bench api``: per-verb throughput and latency, and watch fan-out, against any API server.

Every run makes a fresh namespace ``kplane-bench-<random>`` and deletes what it made at the end. The load
comes from ``--workers`` processes, each with its own event loop and keep-alive connections (the lean
client of :mod:`kplane.bench.http`); object names are split between the workers, as is the concurrency.

Phases, in order (``count`` is successful operations; ops/s is count over the phase's wall time):

* ``create``     POST N objects;
* ``get``        GET each;
* ``list``       full LISTs of the namespace (``--list-repeats``, ``--list-concurrency`` at once);
* ``list-paged`` LISTs with ``limit=--page-limit`` following ``continue`` (one op = one page);
* ``update``     PUT each, with the object last read (so with its resourceVersion);
* ``patch``      merge-patch a label on each;
* ``patch+watch`` merge-patch each again while ``--watchers`` watches (from the current resourceVersion)
  are open on the namespace, and then ``watch``: for every write and every watcher, the delay from the
  write's response to the event's arrival (0 when the event beat the response); count is deliveries
  (N x W), ops/s is deliveries per second of the scenario;
* ``delete``     DELETE each.

Client CPU (user+system seconds of all worker processes) is reported per phase: when it approaches the
machine's cores times the wall time, the client, not the server, was the bottleneck. The server's CPU
is reported too when its pid is known (``--serve``, or ``--server-pid``).
"""

from __future__ import annotations

import asyncio
import math
import multiprocessing
import multiprocessing.connection
import multiprocessing.process
import os
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from .http import MERGE_PATCH, Connection, Endpoint, HTTPClientError, WatchStream
from .kubeconfig import BenchConfigError, ClusterConfig
from .procstat import cpu_seconds, sample
from .stats import PhaseResult, summarize

LABEL = "kplane.dev/bench-run"
CLEANUP_SECONDS = 30.0
VERBS = ("create", "get", "list", "list-paged", "update", "patch", "patch+watch", "watch", "delete")
KINDS = ("configmaps", "pods")
NetErrors = (HTTPClientError, OSError, TimeoutError, ValueError, KeyError, TypeError)


@dataclass(frozen=True)
class Params:
    n: int = 2000
    concurrency: int = 32
    watchers: int = 50
    size: int = 1024
    kind: str = "configmaps"
    workers: int = 2
    list_repeats: int = 10
    list_concurrency: int = 4
    page_limit: int = 500
    timeout: float = 600.0  # whole run, per target and round
    request_timeout: float = 30.0
    watch_wait: float = 30.0  # how long to wait, after the last write, for events still on their way


QUICK = {"n": 100, "concurrency": 8, "watchers": 4, "workers": 2, "list_repeats": 2, "list_concurrency": 2,
         "page_limit": 30, "timeout": 60.0, "watch_wait": 10.0}


def auto_workers() -> int:
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 2
    return max(2, min(8, cpus))


def split(total: int, parts: int) -> list[int]:
    """``total`` as ``parts`` near-equal non-negative integers, larger ones first."""
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def collection_path(kind: str, namespace: str) -> str:
    return f"/api/v1/namespaces/{namespace}/{kind}"


def make_object(kind: str, name: str, run_id: str, size: int) -> dict[str, Any]:
    """A ConfigMap whose data, or a Pod whose annotation, carries ``size`` bytes of payload."""
    payload = "x" * size
    meta: dict[str, Any] = {"name": name, "labels": {LABEL: run_id}}
    if kind == "configmaps":
        return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"payload": payload}}
    meta["annotations"] = {"kplane.dev/bench-payload": payload}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}],
                     "terminationGracePeriodSeconds": 0, "automountServiceAccountToken": False}}


# --- the worker process ---------------------------------------------------------------------------------


class Watcher:
    """One watch on the namespace: the arrival time of every (name, resourceVersion) it saw."""

    def __init__(self, endpoint: Endpoint, target: str, timeout: float) -> None:
        self.stream = WatchStream(endpoint, target, timeout)
        self.arrivals: dict[tuple[str, str], float] = {}
        self.errors: list[str] = []
        self.task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        try:
            async for arrived, line in self.stream.lines():
                event = orjson.loads(line)
                kind = event.get("type")
                if kind == "ERROR":
                    self.errors.append(f"watch ERROR event: {str(event.get('object'))[:200]}")
                    return
                if kind == "BOOKMARK":
                    continue
                meta = event["object"]["metadata"]
                self.arrivals.setdefault((meta["name"], meta["resourceVersion"]), arrived)
        except asyncio.CancelledError:
            raise
        except (*NetErrors, asyncio.IncompleteReadError) as e:
            self.errors.append(f"watch: {type(e).__name__}: {e}")
        finally:
            await self.stream.close()


class Worker:
    """Runs in a worker process: answers commands from the orchestrator on a pipe, one at a time; watches
    keep running between commands."""

    def __init__(self, pipe: multiprocessing.connection.Connection, cfg: ClusterConfig, setup: dict[str, Any]) -> None:
        self.pipe = pipe
        self.endpoint = Endpoint(cfg)
        self.namespace: str = setup["namespace"]
        self.kind: str = setup["kind"]
        self.size: int = setup["size"]
        self.run_id: str = setup["run_id"]
        self.timeout: float = setup["request_timeout"]
        self.conns = [Connection(self.endpoint, self.timeout) for _ in range(max(1, setup["connections"]))]
        self.coll = collection_path(self.kind, self.namespace)
        self.objects: dict[str, dict[str, Any]] = {}
        self.live: set[str] = set()
        self.watchers: list[Watcher] = []
        self.write_seq = 0

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            await asyncio.gather(*(c.connect() for c in self.conns))
            self.pipe.send({"ready": True})
        except NetErrors as e:
            self.pipe.send({"ready": False, "error": f"{type(e).__name__}: {e}"})
            return
        try:
            while True:
                try:
                    cmd = await loop.run_in_executor(None, self.pipe.recv)
                except (EOFError, OSError):
                    return
                if cmd["op"] == "stop":
                    return
                reply = await self.handle(cmd)
                self.pipe.send(reply)
        finally:
            await self.close_watchers()
            for c in self.conns:
                await c.close()

    async def handle(self, cmd: dict[str, Any]) -> dict[str, Any]:
        cpu0 = time.process_time()
        started = time.monotonic()
        op = cmd["op"]
        reply: dict[str, Any]
        if op == "phase":
            reply = await self.phase(cmd["verb"], cmd["items"], cmd["concurrency"], cmd["deadline"])
        elif op == "watch_open":
            reply = await self.watch_open(cmd["count"], cmd["rv"], cmd["deadline"])
        elif op == "watch_collect":
            reply = await self.watch_collect(cmd["expected"], cmd["deadline"])
        else:
            reply = {"error": f"unknown op {op}"}
        reply["cpu"] = time.process_time() - cpu0
        reply["started"] = started
        reply["ended"] = time.monotonic()
        return reply

    # the verbs: each returns the latencies of its requests (seconds), or an error's description

    async def op_create(self, conn: Connection, name: str) -> list[float] | str:
        body = orjson.dumps(make_object(self.kind, name, self.run_id, self.size))
        t0 = time.perf_counter()
        r = await conn.request("POST", self.coll, body)
        dt = time.perf_counter() - t0
        if r.status in (200, 201, 202):
            self.objects[name] = r.json()
            self.live.add(name)
            return [dt]
        if r.status == 409:
            self.live.add(name)
        return r.describe("POST", self.coll)

    async def op_get(self, conn: Connection, name: str) -> list[float] | str:
        path = f"{self.coll}/{name}"
        t0 = time.perf_counter()
        r = await conn.request("GET", path)
        dt = time.perf_counter() - t0
        if r.status == 200:
            self.objects[name] = r.json()
            return [dt]
        return r.describe("GET", path)

    async def op_list(self, conn: Connection, _: int) -> list[float] | str:
        t0 = time.perf_counter()
        r = await conn.request("GET", self.coll)
        dt = time.perf_counter() - t0
        return [dt] if r.status == 200 else r.describe("GET", self.coll)

    async def op_list_paged(self, conn: Connection, limit: int) -> list[float] | str:
        latencies: list[float] = []
        token = ""
        for _ in range(100_000):
            path = f"{self.coll}?limit={limit}" + (f"&continue={token}" if token else "")
            t0 = time.perf_counter()
            r = await conn.request("GET", path)
            latencies.append(time.perf_counter() - t0)
            if r.status != 200:
                return r.describe("GET", path)
            token = (r.json().get("metadata") or {}).get("continue") or ""
            if not token:
                break
        return latencies

    async def op_update(self, conn: Connection, name: str) -> list[float] | str:
        obj = self.objects.get(name)
        if obj is None:
            return f"{name}: not created or read, nothing to update"
        obj.setdefault("metadata", {}).setdefault("labels", {})["bench-update"] = "u1"
        path = f"{self.coll}/{name}"
        body = orjson.dumps(obj)
        t0 = time.perf_counter()
        r = await conn.request("PUT", path, body)
        dt = time.perf_counter() - t0
        if r.status == 200:
            self.objects[name] = r.json()
            return [dt]
        return r.describe("PUT", path)

    async def op_patch(self, conn: Connection, name: str) -> list[float] | str:
        self.write_seq += 1
        path = f"{self.coll}/{name}"
        body = orjson.dumps({"metadata": {"labels": {"bench-patch": f"p{self.write_seq}"}}})
        t0 = time.perf_counter()
        r = await conn.request("PATCH", path, body, MERGE_PATCH)
        dt = time.perf_counter() - t0
        return [dt] if r.status == 200 else r.describe("PATCH", path)

    async def op_delete(self, conn: Connection, name: str) -> list[float] | str:
        path = f"{self.coll}/{name}" + ("?gracePeriodSeconds=0" if self.kind == "pods" else "")
        t0 = time.perf_counter()
        r = await conn.request("DELETE", path)
        dt = time.perf_counter() - t0
        if r.status in (200, 202):
            self.live.discard(name)
            self.objects.pop(name, None)
            return [dt]
        if r.status == 404:
            self.live.discard(name)
        return r.describe("DELETE", path)

    async def phase(self, verb: str, items: Sequence[Any], concurrency: int, deadline: float) -> dict[str, Any]:
        latencies: list[float] = []
        samples: list[str] = []
        errors = 0
        aborted = False
        records: list[tuple[str, str, float]] = []  # patch+watch: (name, resourceVersion, response time)
        it = iter(items)

        async def patch_recorded(conn: Connection, name: str) -> list[float] | str:
            self.write_seq += 1
            path = f"{self.coll}/{name}"
            body = orjson.dumps({"metadata": {"labels": {"bench-watch": f"w{self.write_seq}"}}})
            t0 = time.perf_counter()
            r = await conn.request("PATCH", path, body, MERGE_PATCH)
            t_resp = time.monotonic()
            dt = time.perf_counter() - t0
            if r.status != 200:
                return r.describe("PATCH", path)
            records.append((name, str(r.json()["metadata"]["resourceVersion"]), t_resp))
            return [dt]

        ops: dict[str, Callable[[Connection, Any], Awaitable[list[float] | str]]] = {
            "create": self.op_create, "get": self.op_get, "list": self.op_list, "list-paged": self.op_list_paged,
            "update": self.op_update, "patch": self.op_patch, "patch+watch": patch_recorded,
            "delete": self.op_delete, "cleanup": self.op_delete,
        }
        op = ops[verb]

        async def runner(conn: Connection) -> None:
            nonlocal errors, aborted
            for item in it:
                if verb == "cleanup" and item not in self.live:
                    continue
                if time.monotonic() > deadline:
                    aborted = True
                    return
                try:
                    result = await op(conn, item)
                except NetErrors as e:
                    result = f"{item}: {type(e).__name__}: {e}"
                if isinstance(result, str):
                    if verb == "cleanup" and item not in self.live:
                        continue  # already gone (404)
                    errors += 1
                    if len(samples) < 5:
                        samples.append(result)
                else:
                    latencies.extend(result)

        n = max(1, min(concurrency, len(items), len(self.conns)))
        await asyncio.gather(*(runner(self.conns[i]) for i in range(n)))
        return {"latencies": latencies, "errors": errors, "samples": samples, "aborted": aborted,
                "records": records}

    async def watch_open(self, count: int, rv: str, deadline: float) -> dict[str, Any]:
        timeout_s = max(60, int(deadline - time.monotonic()) + 60)
        target = (f"{self.coll}?watch=1&resourceVersion={rv}&allowWatchBookmarks=false"
                  f"&timeoutSeconds={timeout_s}")
        watchers = [Watcher(self.endpoint, target, self.timeout) for _ in range(count)]
        results = await asyncio.gather(*(w.stream.open() for w in watchers), return_exceptions=True)
        errors: list[str] = []
        for w, ok in zip(watchers, results, strict=True):
            if ok is True:
                w.task = asyncio.create_task(w.run())
                self.watchers.append(w)
            else:
                errors.append(w.stream.error or f"watch open: {type(ok).__name__}: {ok}")
                await w.stream.close()
        return {"opened": len(self.watchers), "errors": errors}

    async def watch_collect(self, expected: list[tuple[str, str]], deadline: float) -> dict[str, Any]:
        want = len(expected)
        while time.monotonic() < deadline:
            pending = [w for w in self.watchers if w.task is not None and not w.task.done()
                       and len(w.arrivals) < want]
            if not pending:
                break
            await asyncio.sleep(0.02)
        arrivals = [[w.arrivals.get(key, math.nan) for key in expected] for w in self.watchers]
        errors = [e for w in self.watchers for e in w.errors]
        await self.close_watchers()
        return {"arrivals": arrivals, "errors": errors}

    async def close_watchers(self) -> None:
        watchers, self.watchers = self.watchers, []
        for w in watchers:
            if w.task is not None and not w.task.done():
                w.task.cancel()
        for w in watchers:
            if w.task is not None:
                try:
                    await w.task
                except (asyncio.CancelledError, Exception):  # noqa: BLE001 - closing, nothing to report
                    pass
            await w.stream.close()


def worker_main(pipe: multiprocessing.connection.Connection, cfg: ClusterConfig, setup: dict[str, Any]) -> None:
    """The entry point of a worker process: its own event loop (uvloop when installed)."""
    try:
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:
        runner = asyncio.Runner()
    with runner:
        try:
            runner.run(Worker(pipe, cfg, setup).serve())
        except KeyboardInterrupt:
            pass


# --- the orchestrator -------------------------------------------------------------------------------------


class WorkerFailure(Exception):
    pass


class Pool:
    """The worker processes of one run."""

    def __init__(self, cfg: ClusterConfig, workers: int, setup: dict[str, Any], connections: list[int]) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.pipes: list[multiprocessing.connection.Connection] = []
        self.procs: list[multiprocessing.process.BaseProcess] = []
        for i in range(workers):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=worker_main, args=(child, cfg, {**setup, "connections": connections[i]}),
                               name=f"kplane-bench-worker-{i}", daemon=True)
            proc.start()
            child.close()
            self.pipes.append(parent)
            self.procs.append(proc)

    def wait_ready(self, timeout: float) -> None:
        for reply in self._collect(time.monotonic() + timeout):
            if not reply.get("ready"):
                raise BenchConfigError(f"a worker cannot connect to the server: {reply.get('error')}")

    def call(self, commands: Sequence[dict[str, Any]], wait_until: float) -> list[dict[str, Any]]:
        for pipe, cmd in zip(self.pipes, commands, strict=True):
            pipe.send(cmd)
        return self._collect(wait_until)

    def _collect(self, wait_until: float) -> list[dict[str, Any]]:
        replies = []
        for pipe, proc in zip(self.pipes, self.procs, strict=True):
            if not pipe.poll(max(0.0, wait_until - time.monotonic())):
                raise WorkerFailure(f"{proc.name} did not answer in time")
            try:
                replies.append(pipe.recv())
            except (EOFError, OSError) as e:
                raise WorkerFailure(f"{proc.name} exited (code {proc.exitcode})") from e
        return replies

    def stop(self) -> None:
        for pipe in self.pipes:
            try:
                pipe.send({"op": "stop"})
            except OSError:
                pass
        for proc in self.procs:
            proc.join(10)
            if proc.is_alive():
                proc.terminate()
                proc.join(5)
        for pipe in self.pipes:
            pipe.close()


@dataclass
class PhaseData:
    verb: str
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    samples: list[str] = field(default_factory=list)
    seconds: float = 0.0
    client_cpu_s: float = 0.0
    server_cpu_s: float = math.nan

    def add_error(self, message: str, count: int = 1) -> None:
        self.errors += count
        if len(self.samples) < 5:
            self.samples.append(message)

    def result(self) -> PhaseResult:
        return summarize(self.verb, self.latencies, self.seconds, self.errors, self.samples,
                         client_cpu_s=self.client_cpu_s, server_cpu_s=self.server_cpu_s)


@dataclass
class Run:
    """One target, one round."""

    label: str
    server: str
    namespace: str
    phases: dict[str, PhaseData] = field(default_factory=dict)
    aborted: bool = False
    notes: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    client_cpu_s: float = 0.0
    server_process: dict[str, Any] = field(default_factory=dict)  # the server's RSS, when its pid is known

    def to_json(self) -> dict[str, Any]:
        return {"namespace": self.namespace, "aborted": self.aborted, "notes": self.notes,
                "wall_s": round(self.wall_s, 3), "client_cpu_s": round(self.client_cpu_s, 3),
                "server_process": self.server_process,
                "results": [p.result().to_json() for p in self.phases.values()]}


async def _admin(cfg: ClusterConfig, calls: Sequence[tuple[str, str, bytes | None]],
                 timeout: float = 30.0) -> list[tuple[int, bytes]]:
    """A few sequential requests from the orchestrator itself (namespace, resourceVersion)."""
    conn = Connection(Endpoint(cfg), timeout)
    out = []
    try:
        for method, path, body in calls:
            r = await conn.request(method, path, body)
            out.append((r.status, r.body))
    finally:
        await conn.close()
    return out


def admin(cfg: ClusterConfig, *calls: tuple[str, str, bytes | None]) -> list[tuple[int, bytes]]:
    try:
        return asyncio.run(_admin(cfg, calls))
    except (HTTPClientError, OSError, TimeoutError) as e:
        raise BenchConfigError(f"cannot talk to {cfg.server}: {type(e).__name__}: {e}") from e


class Orchestrator:
    def __init__(self, cfg: ClusterConfig, params: Params, label: str, server_pid: int | None,
                 log: Callable[[str], None]) -> None:
        self.cfg = cfg
        self.p = params
        self.label = label
        self.server_pid = server_pid
        self.log = log

    def _server_cpu(self) -> float:
        if self.server_pid is None:
            return math.nan
        value = cpu_seconds(self.server_pid)
        return math.nan if value is None else value

    def run(self) -> Run:
        p = self.p
        run_id = secrets.token_hex(4)
        ns = f"kplane-bench-{run_id}"
        run = Run(self.label, self.cfg.server, ns)
        t_start = time.monotonic()
        deadline = t_start + p.timeout
        ns_body = orjson.dumps({"apiVersion": "v1", "kind": "Namespace",
                                "metadata": {"name": ns, "labels": {LABEL: run_id}}})
        ((status, body),) = admin(self.cfg, ("POST", "/api/v1/namespaces", ns_body))
        if status not in (200, 201):
            raise BenchConfigError(f"cannot create namespace {ns}: {status} {body[:200]!r}")
        if p.kind == "pods":
            sa = orjson.dumps({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}})
            admin(self.cfg, ("POST", f"/api/v1/namespaces/{ns}/serviceaccounts", sa))
        workers = max(1, min(p.workers, p.concurrency, p.n))
        conc = split(p.concurrency, workers)
        setup = {"namespace": ns, "kind": p.kind, "size": p.size, "run_id": run_id,
                 "request_timeout": p.request_timeout}
        pool = Pool(self.cfg, workers, setup, conc)
        names = [f"bench-{i:06d}" for i in range(p.n)]
        parts = [names[i::workers] for i in range(workers)]
        rss_before = sample(self.server_pid) if self.server_pid else None
        try:
            pool.wait_ready(60)
            self.log(f"[{self.label}] {self.cfg.server} namespace {ns}: {p.n} {p.kind}, concurrency {p.concurrency}, "
                     f"{workers} workers, {p.watchers} watchers")

            def phase(verb: str, items: list[list[Any]], concurrency: list[int]) -> None:
                if run.aborted:
                    return
                data = run.phases.setdefault(verb, PhaseData(verb))
                cpu0 = self._server_cpu()
                cmds = [{"op": "phase", "verb": verb, "items": items[i], "concurrency": concurrency[i],
                         "deadline": deadline} for i in range(workers)]
                replies = pool.call(cmds, deadline + p.request_timeout + 10)
                self._merge(data, replies, run)
                data.server_cpu_s = self._server_cpu() - cpu0
                r = data.result()
                self.log(f"[{self.label}] {verb}: {r.count} ok, {r.errors} errors, {r.ops_per_s:,.0f}/s, "
                         f"p50 {r.p50_ms:.1f} ms, p99 {r.p99_ms:.1f} ms")

            list_conc = split(min(p.list_concurrency, p.concurrency), workers)
            phase("create", parts, conc)
            rss_after = sample(self.server_pid) if self.server_pid else None
            phase("get", parts, conc)
            phase("list", [[0] * k for k in split(p.list_repeats, workers)], list_conc)
            phase("list-paged", [[p.page_limit] * k for k in split(p.list_repeats, workers)], list_conc)
            phase("update", parts, conc)
            phase("patch", parts, conc)
            if p.watchers > 0 and not run.aborted:
                self.watch_scenario(pool, run, parts, conc, workers, deadline)
            phase("delete", parts, conc)
            if rss_before is not None and rss_after is not None:
                grown = rss_after.rss_bytes - rss_before.rss_bytes
                run.server_process = {"rss_before_create_mib": round(rss_before.rss_bytes / 2**20, 1),
                              "rss_after_create_mib": round(rss_after.rss_bytes / 2**20, 1),
                              "rss_growth_per_object_bytes": round(grown / p.n)}
        except WorkerFailure as e:
            run.aborted = True
            run.notes.append(f"aborted: {e}")
        finally:
            self.cleanup(pool, run, parts, conc, workers)
            pool.stop()
            if self.server_pid:
                final = sample(self.server_pid)
                if final is not None:
                    run.server_process["peak_rss_mib"] = round(final.peak_rss_bytes / 2**20, 1)
        run.wall_s = time.monotonic() - t_start
        run.client_cpu_s = sum(ph.client_cpu_s for ph in run.phases.values() if ph.verb != "watch")
        if time.monotonic() > deadline:
            run.aborted = True
            run.notes.append(f"the {p.timeout:g} s time budget ran out")
        return run

    def _merge(self, data: PhaseData, replies: list[dict[str, Any]], run: Run) -> None:
        for reply in replies:
            data.latencies.extend(reply.get("latencies", []))
            data.errors += reply.get("errors", 0)
            for s in reply.get("samples", []):
                if len(data.samples) < 5:
                    data.samples.append(s)
            data.client_cpu_s += reply["cpu"]
            if reply.get("aborted"):
                run.aborted = True
        data.seconds += max(r["ended"] for r in replies) - min(r["started"] for r in replies)

    def watch_scenario(self, pool: Pool, run: Run, parts: list[list[str]], conc: list[int], workers: int,
                       deadline: float) -> None:
        p = self.p
        watch = PhaseData("watch")
        writes = PhaseData("patch+watch")
        cpu0 = self._server_cpu()
        ((status, body),) = admin(self.cfg, ("GET", f"{collection_path(p.kind, run.namespace)}?limit=1", None))
        if status != 200:
            watch.add_error(f"cannot read the namespace's resourceVersion: {status} {body[:200]!r}")
            run.phases["watch"] = watch
            return
        rv = str(orjson.loads(body)["metadata"]["resourceVersion"])
        counts = split(p.watchers, workers)
        opened = pool.call([{"op": "watch_open", "count": counts[i], "rv": rv, "deadline": deadline}
                            for i in range(workers)], deadline + p.request_timeout + 10)
        n_open = sum(r["opened"] for r in opened)
        for r in opened:
            for e in r["errors"]:
                watch.add_error(e)
        wrote = pool.call([{"op": "phase", "verb": "patch+watch", "items": parts[i], "concurrency": conc[i],
                            "deadline": deadline} for i in range(workers)], deadline + p.request_timeout + 10)
        self._merge(writes, wrote, run)
        records = [rec for r in wrote for rec in r["records"]]
        expected = [(name, rv_) for name, rv_, _ in records]
        wait = min(deadline, time.monotonic() + p.watch_wait)
        collected = pool.call([{"op": "watch_collect", "expected": expected, "deadline": wait}
                               for _ in range(workers)], wait + p.request_timeout + 10)
        first_write = min(r["started"] for r in wrote)
        last_arrival = first_write
        early = missed = 0
        for reply in collected:
            for e in reply["errors"]:
                watch.add_error(e, 0)
            for per_watcher in reply["arrivals"]:
                for (_, _, t_resp), arrived in zip(records, per_watcher, strict=True):
                    if math.isnan(arrived):
                        missed += 1
                        continue
                    early += arrived < t_resp
                    watch.latencies.append(max(0.0, arrived - t_resp))
                    last_arrival = max(last_arrival, arrived)
        if missed:
            watch.add_error(f"{missed} of {len(records) * n_open} events never arrived", missed)
        if early:
            run.notes.append(f"watch: {early} deliveries arrived before their write's response (counted as 0 ms)")
        watch.seconds = last_arrival - first_write
        watch.client_cpu_s = sum(r["cpu"] for r in opened + wrote + collected)
        watch.server_cpu_s = self._server_cpu() - cpu0
        writes.server_cpu_s = watch.server_cpu_s
        run.phases["patch+watch"] = writes
        run.phases["watch"] = watch
        res = watch.result()
        self.log(f"[{self.label}] watch: {n_open} watchers, {res.count} deliveries, p50 {res.p50_ms:.1f} ms, "
                 f"p99 {res.p99_ms:.1f} ms, {missed} missed")

    def cleanup(self, pool: Pool, run: Run, parts: list[list[str]], conc: list[int], workers: int) -> None:
        """Bounded: the workers delete what they still know to be live, then the namespace goes."""
        until = time.monotonic() + CLEANUP_SECONDS
        try:
            replies = pool.call([{"op": "phase", "verb": "cleanup", "items": parts[i], "concurrency": conc[i],
                                  "deadline": until} for i in range(workers)], until + 10)
            left = sum(r["errors"] for r in replies)
            if left:
                run.notes.append(f"cleanup: {left} objects could not be deleted")
        except WorkerFailure as e:
            run.notes.append(f"cleanup incomplete: {e}")
        try:
            ((status, body),) = admin(self.cfg, ("DELETE", f"/api/v1/namespaces/{run.namespace}", None))
            if status not in (200, 202, 404):
                run.notes.append(f"namespace delete: {status} {body[:200]!r}")
        except BenchConfigError as e:
            run.notes.append(f"namespace delete failed: {e}")


# --- several targets, alternately -----------------------------------------------------------------------


@dataclass
class Target:
    label: str
    cfg: ClusterConfig
    server_pid: int | None = None
    description: str = ""
    runs: list[Run] = field(default_factory=list)

    def pooled(self) -> list[PhaseResult]:
        """Every round's operations together: ops/s over the summed phase times, percentiles over all."""
        out = []
        for verb in VERBS:
            phases = [r.phases[verb] for r in self.runs if verb in r.phases]
            if not phases:
                continue
            merged = PhaseData(verb)
            for ph in phases:
                merged.latencies.extend(ph.latencies)
                merged.errors += ph.errors
                merged.samples.extend(ph.samples)
                merged.seconds += ph.seconds
                merged.client_cpu_s += ph.client_cpu_s
                merged.server_cpu_s = (ph.server_cpu_s if math.isnan(merged.server_cpu_s)
                                       else merged.server_cpu_s + ph.server_cpu_s)
            merged.samples = merged.samples[:5]
            out.append(merged.result())
        return out


def ratios(a: Sequence[PhaseResult], b: Sequence[PhaseResult]) -> dict[str, dict[str, float | None]]:
    """Per verb, figure(A) / figure(B) for ops/s, p50 and p99 (ops/s above 1 and latency below 1: A is faster)."""
    by_verb = {r.verb: r for r in b}
    out: dict[str, dict[str, float | None]] = {}
    for ra in a:
        rb = by_verb.get(ra.verb)
        if rb is None:
            continue
        entry: dict[str, float | None] = {}
        for key in ("ops_per_s", "p50_ms", "p99_ms"):
            x, y = getattr(ra, key), getattr(rb, key)
            entry[key] = None if math.isnan(x) or math.isnan(y) or y == 0 else round(x / y, 3)
        out[ra.verb] = entry
    return out


def run_targets(targets: list[Target], params: Params, rounds: int, log: Callable[[str], None]) -> None:
    """Rounds of every target in turn (A B A B ...), so drift on the machine hits all alike."""
    for i in range(rounds):
        for t in targets:
            log(f"round {i + 1}/{rounds}: {t.label}")
            t.runs.append(Orchestrator(t.cfg, params, t.label, t.server_pid, log).run())


def results_document(targets: list[Target], params: Params, rounds: int, machine: dict[str, Any]) -> dict[str, Any]:
    docs = []
    for t in targets:
        pooled = t.pooled()
        client_cpu = sum(r.client_cpu_s for r in t.runs)
        wall = sum(r.wall_s for r in t.runs)
        docs.append({
            "label": t.label, "server": t.cfg.server, "description": t.description,
            "results": [r.to_json() for r in pooled],
            "client_cpu_s": round(client_cpu, 3), "wall_s": round(wall, 3),
            "aborted": any(r.aborted for r in t.runs),
            "notes": [n for r in t.runs for n in r.notes],
            # RSS growth from the first round (a fresh server); the high-water mark from the last
            "server_process": {**t.runs[0].server_process,
                               **{k: v for k, v in t.runs[-1].server_process.items() if k == "peak_rss_mib"}}
            if t.runs else {},
            "rounds": [r.to_json() for r in t.runs],
        })
    doc: dict[str, Any] = {
        "benchmark": "api", "version": 1, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine, "params": {**params.__dict__, "rounds": rounds}, "targets": docs,
    }
    if len(targets) > 1:
        first = targets[0].pooled()
        doc["ratios"] = {f"{targets[0].label}/{t.label}": ratios(first, t.pooled()) for t in targets[1:]}
    return doc
