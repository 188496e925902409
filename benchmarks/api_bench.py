#!/usr/bin/env python3
"""ConfigMap CRUD + watch benchmark against any Kubernetes API server.

    python3 benchmarks/api_bench.py --kubeconfig PATH [-n 1000] [--concurrency 16]
        [--namespace bench-xxxx] [--context NAME] [--timeout 120] [--json out.json]

It talks only to the server named in the kubeconfig (its current context, or --context), with
the client certificate/key, CA and token the kubeconfig gives (exec and auth-provider plugins are
not supported). Proxy variables from the environment are ignored and redirects are not followed.

Phases, each with at most --concurrency requests in flight:

* create  -- POST N ConfigMaps into a fresh namespace (created first, deleted at the end);
* get     -- GET each one;
* list    -- full LIST of the namespace, --list-repeats times;
* list-paged -- LIST with limit=100 following `continue`, --list-repeats times (one op = one page);
* update  -- PUT each one while one WATCH (from the LIST's resourceVersion) is open;
* watch   -- per update, the delay from the PUT's response to its MODIFIED event arriving on the
  watch (0 if the event came first);
* delete  -- DELETE each one.

The whole run is bounded by --timeout seconds (default 120): past it, phases stop early, the run
is marked aborted and only a short cleanup (at most 15 s) follows. Prints a table of verb, count,
errors, ops/s, p50 and p99 ms; --json also writes the results to a file. Exit code 0 if every
request succeeded, 1 if any failed or the run was aborted, 2 if the kubeconfig can't be used.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import math
import os
import re
import secrets
import ssl
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

CLEANUP_SECONDS = 15.0
PAGE_LIMIT = 100
LABEL = "kplane.dev/bench-run"
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


class BenchConfigError(Exception):
    """The kubeconfig (or the command line) can't be used."""


# --- statistics and output ----------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0..100) by linear interpolation between closest ranks (numpy's
    default); NaN for no values."""
    if not 0 <= p <= 100:
        raise ValueError(f"percentile must be within 0..100, got {p}")
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    lo = math.floor(rank)
    hi = math.ceil(rank)
    if lo == hi:
        return float(ordered[lo])
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (rank - lo)


@dataclass
class PhaseResult:
    verb: str
    count: int  # successful operations
    errors: int
    seconds: float  # wall time of the phase
    ops_per_s: float
    p50_ms: float
    p99_ms: float
    error_samples: list[str] = field(default_factory=list)


def summarize(
    verb: str,
    latencies_s: Sequence[float],
    seconds: float,
    errors: int = 0,
    error_samples: Iterable[str] = (),
) -> PhaseResult:
    """A phase's result from its successful operations' latencies (seconds) and wall time."""
    count = len(latencies_s)
    return PhaseResult(
        verb=verb,
        count=count,
        errors=errors,
        seconds=seconds,
        ops_per_s=count / seconds if seconds > 0 else math.nan,
        p50_ms=percentile(latencies_s, 50) * 1000,
        p99_ms=percentile(latencies_s, 99) * 1000,
        error_samples=list(error_samples)[:5],
    )


def _fmt(value: float, digits: int) -> str:
    return "-" if math.isnan(value) else f"{value:,.{digits}f}"


def format_table(results: Sequence[PhaseResult]) -> str:
    """A plain-text table: verb, count, errors, ops/s, p50 ms, p99 ms (right-aligned numbers)."""
    header = ("verb", "count", "errors", "ops/s", "p50 ms", "p99 ms")
    rows = [
        (r.verb, str(r.count), str(r.errors), _fmt(r.ops_per_s, 1), _fmt(r.p50_ms, 2), _fmt(r.p99_ms, 2))
        for r in results
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join([first, *rest]).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(row) for row in rows)])


def _json_number(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 3)


def results_json(results: Sequence[PhaseResult], meta: dict[str, Any]) -> dict[str, Any]:
    phases = []
    for r in results:
        d = asdict(r)
        for key in ("seconds", "ops_per_s", "p50_ms", "p99_ms"):
            d[key] = _json_number(d[key])
        phases.append(d)
    return {**meta, "results": phases}


# --- kubeconfig ---------------------------------------------------------------------------------


@dataclass
class ClusterConfig:
    server: str
    ca_file: str | None = None
    ca_data: str | None = None  # PEM
    insecure: bool = False
    tls_server_name: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    cert_data: bytes | None = None  # PEM
    key_data: bytes | None = None  # PEM
    token: str | None = None
    basic_auth: tuple[str, str] | None = None


def _named(items: Any, name: str, what: str, path: Path) -> dict[str, Any]:
    for item in items or []:
        if isinstance(item, dict) and item.get("name") == name:
            value = item.get(what)
            return value if isinstance(value, dict) else {}
    raise BenchConfigError(f"{path}: no {what} named {name!r}")


def load_kubeconfig(path: str | os.PathLike[str], context: str | None = None) -> ClusterConfig:
    """The server and credentials of ``context`` (default: current-context) in a kubeconfig."""
    p = Path(path)
    try:
        doc = yaml.safe_load(p.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise BenchConfigError(f"cannot read kubeconfig {p}: {e}") from e
    if not isinstance(doc, dict):
        raise BenchConfigError(f"{p}: not a kubeconfig")
    ctx_name = context or doc.get("current-context")
    if not ctx_name:
        raise BenchConfigError(f"{p}: no current-context; pass --context")
    ctx = _named(doc.get("contexts"), ctx_name, "context", p)
    if not ctx.get("cluster"):
        raise BenchConfigError(f"{p}: context {ctx_name!r} names no cluster")
    cluster = _named(doc.get("clusters"), ctx["cluster"], "cluster", p)
    user = _named(doc.get("users"), ctx["user"], "user", p) if ctx.get("user") else {}

    def local(file: str | None) -> str | None:
        # relative paths in a kubeconfig are relative to the kubeconfig's directory
        return None if not file else str((p.parent / os.path.expanduser(file)).resolve())

    def b64(value: str | None) -> bytes | None:
        return None if not value else base64.b64decode(value)

    server = cluster.get("server")
    if not isinstance(server, str) or not server.startswith(("https://", "http://")):
        raise BenchConfigError(f"{p}: cluster {ctx['cluster']!r} has no http(s) server URL")
    if user.get("exec") or user.get("auth-provider"):
        raise BenchConfigError(
            f"{p}: user {ctx.get('user')!r}: exec/auth-provider credentials are not supported"
        )
    ca_data = b64(cluster.get("certificate-authority-data"))
    token = user.get("token")
    if not token and user.get("tokenFile"):
        token_path = local(user["tokenFile"])
        assert token_path is not None
        token = Path(token_path).read_text().strip()
    basic = (str(user["username"]), str(user.get("password", ""))) if user.get("username") else None
    return ClusterConfig(
        server=server.rstrip("/"),
        ca_file=local(cluster.get("certificate-authority")),
        ca_data=ca_data.decode() if ca_data else None,
        insecure=bool(cluster.get("insecure-skip-tls-verify", False)),
        tls_server_name=cluster.get("tls-server-name"),
        cert_file=local(user.get("client-certificate")),
        key_file=local(user.get("client-key")),
        cert_data=b64(user.get("client-certificate-data")),
        key_data=b64(user.get("client-key-data")),
        token=token,
        basic_auth=basic,
    )


def ssl_context(cfg: ClusterConfig) -> ssl.SSLContext:
    if cfg.insecure:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    elif cfg.ca_file or cfg.ca_data:
        ctx = ssl.create_default_context(cafile=cfg.ca_file, cadata=cfg.ca_data)
    else:
        ctx = ssl.create_default_context()
    cert = cfg.cert_data is not None or cfg.cert_file is not None
    key = cfg.key_data is not None or cfg.key_file is not None
    if cert != key:
        raise BenchConfigError("kubeconfig user has a client certificate without a key, or a key without one")
    if cert:
        # load_cert_chain only reads files: write inline data to a private temp dir briefly
        with tempfile.TemporaryDirectory(prefix="api-bench-") as tmp:
            cert_file, key_file = cfg.cert_file, cfg.key_file
            if cfg.cert_data is not None:
                cert_file = os.path.join(tmp, "client.crt")
                Path(cert_file).write_bytes(cfg.cert_data)
            if cfg.key_data is not None:
                key_file = os.path.join(tmp, "client.key")
                fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as f:
                    f.write(cfg.key_data)
            assert cert_file is not None and key_file is not None
            ctx.load_cert_chain(cert_file, key_file)
    return ctx


def make_client(cfg: ClusterConfig, concurrency: int, request_timeout: float) -> httpx.AsyncClient:
    headers = {"Accept": "application/json", "User-Agent": "kplane-api-bench/1"}
    if cfg.token:
        headers["Authorization"] = f"Bearer {cfg.token}"
    auth = httpx.BasicAuth(*cfg.basic_auth) if cfg.basic_auth and not cfg.token else None
    verify: ssl.SSLContext | bool = ssl_context(cfg) if cfg.server.startswith("https://") else True
    hooks: dict[str, list[Callable[..., Any]]] = {}
    if cfg.tls_server_name:
        server_name = cfg.tls_server_name

        async def sni(request: httpx.Request) -> None:
            # kubeconfig tls-server-name: the name the server's certificate is checked against
            request.extensions["sni_hostname"] = server_name

        hooks["request"] = [sni]
    return httpx.AsyncClient(
        base_url=cfg.server,
        headers=headers,
        auth=auth,
        verify=verify,
        timeout=httpx.Timeout(request_timeout),
        # workers + the watch + slack; keep-alive so connection setup isn't measured per request
        limits=httpx.Limits(max_connections=concurrency + 4, max_keepalive_connections=concurrency + 4),
        trust_env=False,  # never route through a proxy from the environment
        follow_redirects=False,  # only ever the kubeconfig's server
        event_hooks=hooks,
    )


# --- the benchmark ------------------------------------------------------------------------------


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def remaining(self) -> float:
        return self.end - time.monotonic()

    def expired(self) -> bool:
        return self.remaining() <= 0


@dataclass
class Phase:
    verb: str
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def fail(self, message: str) -> None:
        self.errors += 1
        if len(self.error_samples) < 5:
            self.error_samples.append(message)

    def result(self) -> PhaseResult:
        return summarize(self.verb, self.latencies, self.seconds, self.errors, self.error_samples)


def _describe(resp: httpx.Response) -> str:
    text = resp.text[:200].replace("\n", " ")
    return f"{resp.request.method} {resp.request.url.path} -> {resp.status_code} {text}"


class Bench:
    def __init__(
        self,
        client: httpx.AsyncClient,
        namespace: str,
        n: int,
        concurrency: int,
        deadline: Deadline,
        list_repeats: int,
        log: Callable[[str], None],
    ) -> None:
        self.client = client
        self.ns = namespace
        self.n = n
        self.concurrency = concurrency
        self.deadline = deadline
        self.list_repeats = list_repeats
        self.log = log
        self.run_id = secrets.token_hex(4)
        self.names = [f"bench-{i:06d}" for i in range(n)]
        self.objects: dict[str, dict[str, Any]] = {}  # last object the server returned, by name
        self.live: set[str] = set()  # created and not yet deleted
        self.phases: list[Phase] = []
        self.aborted = False
        self.created_namespace = False
        self.notes: list[str] = []

    @property
    def cm_path(self) -> str:
        return f"/api/v1/namespaces/{self.ns}/configmaps"

    async def _pool(self, phase: Phase, items: Sequence[str], op: Callable[[str], Awaitable[None]]) -> None:
        """Run op(item) for every item, at most `concurrency` at a time, until the deadline."""
        queue = list(reversed(items))

        async def worker() -> None:
            while queue:
                if self.deadline.expired():
                    self.aborted = True
                    return
                item = queue.pop()
                try:
                    await op(item)
                except (httpx.HTTPError, ValueError) as e:  # ValueError: a body that isn't JSON
                    phase.fail(f"{item}: {type(e).__name__}: {e}")

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(min(self.concurrency, max(1, len(items))))))
        phase.seconds = time.perf_counter() - start

    def _phase(self, verb: str) -> Phase:
        phase = Phase(verb)
        self.phases.append(phase)
        return phase

    async def create_namespace(self) -> None:
        body = {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": self.ns, "labels": {LABEL: self.run_id}},
        }
        resp = await self.client.post("/api/v1/namespaces", json=body)
        if resp.status_code == 409:
            self.notes.append(f"namespace {self.ns} already existed; it will not be deleted")
        elif resp.is_success:
            self.created_namespace = True
        else:
            raise BenchConfigError(f"cannot create namespace: {_describe(resp)}")

    def _configmap(self, name: str, i: int) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": self.ns, "labels": {LABEL: self.run_id}},
            "data": {"index": str(i), "payload": "x" * 64},
        }

    async def phase_create(self) -> None:
        phase = self._phase("create")
        index = {name: i for i, name in enumerate(self.names)}

        async def op(name: str) -> None:
            t0 = time.perf_counter()
            resp = await self.client.post(self.cm_path, json=self._configmap(name, index[name]))
            dt = time.perf_counter() - t0
            if resp.status_code == 201 or resp.status_code == 200:
                phase.latencies.append(dt)
                self.objects[name] = resp.json()
                self.live.add(name)
            else:
                phase.fail(_describe(resp))

        await self._pool(phase, self.names, op)

    async def phase_get(self) -> None:
        phase = self._phase("get")

        async def op(name: str) -> None:
            t0 = time.perf_counter()
            resp = await self.client.get(f"{self.cm_path}/{name}")
            dt = time.perf_counter() - t0
            if resp.status_code == 200 and resp.json().get("metadata", {}).get("name") == name:
                phase.latencies.append(dt)
                self.objects[name] = resp.json()
            else:
                phase.fail(_describe(resp))

        await self._pool(phase, sorted(self.live), op)

    def _count_ours(self, items: Any) -> int:
        if not isinstance(items, list):
            return 0
        return sum(
            1
            for item in items
            if isinstance(item, dict)
            and ((item.get("metadata") or {}).get("labels") or {}).get(LABEL) == self.run_id
        )

    async def phase_list(self) -> str | None:
        """Full lists, then paged lists; returns the resourceVersion of the last full list."""
        full = self._phase("list")
        resource_version: str | None = None
        start = time.perf_counter()
        for _ in range(self.list_repeats):
            if self.deadline.expired():
                self.aborted = True
                break
            try:
                t0 = time.perf_counter()
                resp = await self.client.get(self.cm_path)
                dt = time.perf_counter() - t0
            except httpx.HTTPError as e:
                full.fail(f"{type(e).__name__}: {e}")
                continue
            if resp.status_code != 200:
                full.fail(_describe(resp))
                continue
            body = resp.json()
            ours = self._count_ours(body.get("items"))
            if ours != len(self.live):
                full.fail(f"list returned {ours} of our {len(self.live)} ConfigMaps")
                continue
            full.latencies.append(dt)
            resource_version = body.get("metadata", {}).get("resourceVersion") or resource_version
        full.seconds = time.perf_counter() - start

        paged = self._phase("list-paged")
        start = time.perf_counter()
        for _ in range(self.list_repeats):
            cont: str | None = None
            ours = 0
            ok = True
            while ok:
                if self.deadline.expired():
                    self.aborted = True
                    ok = False
                    break
                params: dict[str, str | int] = {"limit": PAGE_LIMIT}
                if cont:
                    params["continue"] = cont
                try:
                    t0 = time.perf_counter()
                    resp = await self.client.get(self.cm_path, params=params)
                    dt = time.perf_counter() - t0
                except httpx.HTTPError as e:
                    paged.fail(f"{type(e).__name__}: {e}")
                    ok = False
                    break
                if resp.status_code != 200:
                    paged.fail(_describe(resp))
                    ok = False
                    break
                body = resp.json()
                items = body.get("items") or []
                if len(items) > PAGE_LIMIT:
                    paged.fail(f"page of {len(items)} items for limit={PAGE_LIMIT}")
                    ok = False
                    break
                paged.latencies.append(dt)
                ours += self._count_ours(items)
                cont = body.get("metadata", {}).get("continue") or None
                if not cont:
                    break
            if ok and ours != len(self.live):
                paged.fail(f"paged list returned {ours} of our {len(self.live)} ConfigMaps")
            if self.aborted:
                break
        paged.seconds = time.perf_counter() - start
        return resource_version

    async def phase_update_with_watch(self, resource_version: str | None) -> None:
        """PUT every ConfigMap while one watch is open; time each PUT response -> its event."""
        update = self._phase("update")
        watch = self._phase("watch")
        responded: dict[tuple[str, str], float] = {}  # (name, rv) -> PUT response time
        arrived: dict[tuple[str, str], float] = {}  # (name, rv) -> event arrival time
        ready = asyncio.Event()
        all_seen = asyncio.Event()
        expected: set[tuple[str, str]] = set()
        updates_done = False

        def check_done() -> None:
            if updates_done and expected <= arrived.keys():
                all_seen.set()

        async def watcher() -> None:
            params: dict[str, str | int] = {
                "watch": "true",
                "allowWatchBookmarks": "false",
                "timeoutSeconds": max(1, int(self.deadline.remaining())),
            }
            if resource_version:
                params["resourceVersion"] = resource_version
            timeout = httpx.Timeout(10.0, read=None)
            async with self.client.stream("GET", self.cm_path, params=params, timeout=timeout) as resp:
                if resp.status_code != 200:
                    await resp.aread()
                    watch.fail(_describe(resp))
                    ready.set()
                    return
                ready.set()
                async for line in resp.aiter_lines():
                    now = time.perf_counter()
                    if not line.strip():
                        continue
                    try:
                        event = json.loads(line)
                    except ValueError:
                        event = None
                    if not isinstance(event, dict) or not isinstance(event.get("object"), dict):
                        watch.fail(f"undecodable watch line: {line[:100]!r}")
                        continue
                    obj = event["object"]
                    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
                    if event.get("type") == "ERROR":
                        watch.fail(f"watch ERROR event: {obj.get('message') or obj}")
                        return
                    if event.get("type") != "MODIFIED":
                        continue
                    key = (str(meta.get("name")), str(meta.get("resourceVersion")))
                    arrived.setdefault(key, now)
                    check_done()
            if not all_seen.is_set():
                watch.fail("the server closed the watch before every update arrived")

        watch_task = asyncio.create_task(watcher())
        watch_start = time.perf_counter()
        try:
            watching = True
            try:
                await asyncio.wait_for(ready.wait(), timeout=min(10.0, max(0.1, self.deadline.remaining())))
            except TimeoutError:
                watch.fail("no watch response headers within 10 s; updating without a watch")
                watching = False
                watch_task.cancel()

            async def op(name: str) -> None:
                obj = dict(self.objects[name])
                obj["data"] = {**(obj.get("data") or {}), "updated": "1"}
                t0 = time.perf_counter()
                resp = await self.client.put(f"{self.cm_path}/{name}", json=obj)
                t1 = time.perf_counter()
                if resp.status_code != 200:
                    update.fail(_describe(resp))
                    return
                update.latencies.append(t1 - t0)
                new = resp.json()
                self.objects[name] = new
                key = (name, str(new.get("metadata", {}).get("resourceVersion")))
                responded[key] = t1
                expected.add(key)

            await self._pool(update, sorted(self.live), op)
            updates_done = True
            check_done()
            if watching and not watch_task.done() and expected:
                # events still in flight get up to 10 s more (missing ones count as errors)
                wait = min(10.0, max(0.1, self.deadline.remaining()))
                seen = asyncio.ensure_future(all_seen.wait())
                done, _ = await asyncio.wait(
                    [seen, watch_task], timeout=wait, return_when=asyncio.FIRST_COMPLETED
                )
                seen.cancel()
                if not done and self.deadline.expired():
                    self.aborted = True
        finally:
            if not watch_task.done():
                watch_task.cancel()
            try:
                await watch_task
            except asyncio.CancelledError:
                pass
            except httpx.HTTPError as e:
                watch.fail(f"{type(e).__name__}: {e}")
        watch.seconds = time.perf_counter() - watch_start
        missed = early = 0
        for key, t_resp in responded.items():
            if key in arrived:
                # the event may beat the PUT's response to this client: that counts as 0 ms
                early += arrived[key] < t_resp
                watch.latencies.append(max(0.0, arrived[key] - t_resp))
            else:
                missed += 1
        if early:
            self.notes.append(
                f"watch: {early} of {len(responded)} events arrived before their PUT's response (0 ms)"
            )
        if missed:
            watch.fail(f"{missed} of {len(responded)} updates never arrived on the watch")
            watch.errors += missed - 1  # one error per missed event

    async def phase_delete(self) -> None:
        phase = self._phase("delete")

        async def op(name: str) -> None:
            t0 = time.perf_counter()
            resp = await self.client.delete(f"{self.cm_path}/{name}")
            dt = time.perf_counter() - t0
            if resp.status_code in (200, 202):
                phase.latencies.append(dt)
                self.live.discard(name)
            else:
                phase.fail(_describe(resp))

        await self._pool(phase, sorted(self.live), op)

    async def cleanup(self) -> None:
        """Best effort, bounded: delete what is left, then the namespace if this run made it."""
        try:
            async with asyncio.timeout(CLEANUP_SECONDS):
                sem = asyncio.Semaphore(self.concurrency)

                async def delete(name: str) -> None:
                    async with sem:
                        resp = await self.client.delete(f"{self.cm_path}/{name}")
                        if resp.status_code in (200, 202, 404):
                            self.live.discard(name)

                await asyncio.gather(*(delete(name) for name in sorted(self.live)), return_exceptions=True)
                if self.created_namespace:
                    resp = await self.client.delete(f"/api/v1/namespaces/{self.ns}")
                    if resp.status_code not in (200, 202, 404):
                        self.notes.append(f"namespace delete not supported/failed: {_describe(resp)}")
        except (TimeoutError, httpx.HTTPError) as e:
            self.notes.append(f"cleanup incomplete ({type(e).__name__}: {e})")
        if self.live:
            self.notes.append(f"{len(self.live)} ConfigMaps left behind in namespace {self.ns}")

    async def run(self) -> list[PhaseResult]:
        await self.create_namespace()
        rv: str | None = None

        async def list_phase() -> None:
            nonlocal rv
            rv = await self.phase_list()

        steps: list[tuple[str, Callable[[], Awaitable[None]]]] = [
            ("create", self.phase_create),
            ("get", self.phase_get),
            ("list", list_phase),
            ("update+watch", lambda: self.phase_update_with_watch(rv)),
            ("delete", self.phase_delete),
        ]
        try:
            for name, step in steps:
                if self.aborted:
                    break
                t0 = time.perf_counter()
                await step()
                self.log(f"{name}: done in {time.perf_counter() - t0:.1f} s")
        finally:
            await self.cleanup()
        return [phase.result() for phase in self.phases]


async def run_bench(
    args: argparse.Namespace, cfg: ClusterConfig, log: Callable[[str], None]
) -> tuple[list[PhaseResult], dict[str, Any]]:
    """Run every phase; returns the results and the run's metadata (server, aborted, notes...)."""
    namespace = args.namespace or f"bench-{secrets.token_hex(3)}"
    deadline = Deadline(args.timeout)
    async with make_client(cfg, args.concurrency, args.request_timeout) as client:
        bench = Bench(client, namespace, args.n, args.concurrency, deadline, args.list_repeats, log)
        log(f"server {cfg.server}, namespace {namespace}, n={args.n}, concurrency={args.concurrency}")
        try:
            # the run itself honours the deadline; this is a backstop for a hung request path
            async with asyncio.timeout(args.timeout + CLEANUP_SECONDS + 5):
                results = await bench.run()
        except TimeoutError:
            bench.aborted = True
            results = [phase.result() for phase in bench.phases]
    meta = {
        "server": cfg.server,
        "namespace": namespace,
        "n": args.n,
        "concurrency": args.concurrency,
        "timeout_s": args.timeout,
        "aborted": bench.aborted,
        "notes": bench.notes,
    }
    return results, meta


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--kubeconfig", required=True, help="kubeconfig naming the server and credentials")
    ap.add_argument("--context", help="kubeconfig context (default: current-context)")
    ap.add_argument("-n", type=int, default=1000, help="number of ConfigMaps (default 1000)")
    ap.add_argument("--concurrency", type=int, default=16, help="requests in flight (default 16)")
    ap.add_argument("--namespace", help="namespace to create and use (default bench-<random>)")
    ap.add_argument("--timeout", type=float, default=120.0, help="total time budget in seconds (default 120)")
    ap.add_argument("--request-timeout", type=float, default=10.0, help="per-request timeout (default 10 s)")
    ap.add_argument("--list-repeats", type=int, default=5, help="full and paged LISTs each (default 5)")
    ap.add_argument("--json", metavar="PATH", help="also write results as JSON here")
    args = ap.parse_args(argv)
    if args.namespace is not None and not DNS_LABEL.fullmatch(args.namespace):
        ap.error(f"--namespace {args.namespace!r} is not a DNS label (lowercase a-z, 0-9, '-', at most 63)")
    if args.n < 1 or args.concurrency < 1 or args.timeout <= 0 or args.list_repeats < 1:
        ap.error("-n, --concurrency, --list-repeats must be >= 1 and --timeout > 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)

    def log(message: str) -> None:
        print(message, file=sys.stderr)

    try:
        cfg = load_kubeconfig(args.kubeconfig, args.context)
        results, meta = asyncio.run(run_bench(args, cfg, log))
    except BenchConfigError as e:
        log(f"api_bench: {e}")
        return 2
    except httpx.HTTPError as e:
        log(f"api_bench: cannot talk to the server: {type(e).__name__}: {e}")
        return 1
    print(format_table(results))
    for r in results:
        for sample in r.error_samples:
            log(f"  {r.verb} error: {sample}")
    for note in meta["notes"]:
        log(f"note: {note}")
    if meta["aborted"]:
        log(f"aborted: the {args.timeout:g} s time budget ran out")
    if args.json:
        Path(args.json).write_text(json.dumps(results_json(results, meta), indent=2) + "\n")
    return 1 if meta["aborted"] or any(r.errors for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
