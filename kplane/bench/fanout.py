"""Filtered watch fan-out: many pod watches by ``spec.nodeName`` (one per simulated node, as kubelets
hold them) and a stream of pod updates, each of which concerns exactly one watcher.

``python -m kplane.bench.fanout --kubeconfig K [--server-pid P] [--watchers 1000] [--pods 2000]
[--updates 2000]`` prints one JSON object: update throughput, the delay from each update's response to
its event's arrival at the right watcher (0 when the event beat the response), misdeliveries (events
for a node other than the watcher's: must be 0), and the server's CPU seconds over the update phase;
then one LIST of pods by ``spec.nodeName`` per node (as kubelets list before they watch), with its rate
and server CPU.
Everything is bounded: connections open with a deadline, the run stops at ``--timeout``.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
import time
from typing import Any

import orjson

from .http import MERGE_PATCH, Connection, Endpoint, WatchStream
from .kubeconfig import load_kubeconfig
from .procstat import cpu_seconds
from .stats import percentile


async def run(endpoint: Endpoint, *, watchers: int, pods: int, updates: int, concurrency: int,
              timeout: float, server_pid: int | None) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    ns = "fanout-" + secrets.token_hex(4)
    conn = Connection(endpoint)
    r = await conn.request("POST", "/api/v1/namespaces", orjson.dumps({"metadata": {"name": ns}}))
    assert r.ok, r.describe("POST", "namespaces")
    for i in range(pods):
        pod = {"metadata": {"name": f"p{i}"},
               "spec": {"nodeName": f"node-{i % watchers}", "containers": [{"name": "c", "image": "x"}]}}
        r = await conn.request("POST", f"/api/v1/namespaces/{ns}/pods", orjson.dumps(pod))
        assert r.ok, r.describe("POST", "pods")
    rv = (await conn.request("GET", f"/api/v1/namespaces/{ns}/pods?limit=1")).json()["metadata"]["resourceVersion"]

    acked: dict[int, float] = {}
    arrived: dict[int, float] = {}
    misdelivered = [0]
    done = asyncio.Event()

    async def watch(node: int, stream: WatchStream) -> None:
        async for now, line in stream.lines():
            ev = orjson.loads(line)
            obj = ev["object"]
            if ev["type"] != "MODIFIED":
                continue
            if obj["spec"].get("nodeName") != f"node-{node}":
                misdelivered[0] += 1
            seq = int((obj["metadata"].get("annotations") or {}).get("seq", "-1"))
            if seq >= 0:
                arrived[seq] = now
                if len(arrived) >= updates:
                    done.set()

    streams: list[WatchStream] = []
    opener = asyncio.Semaphore(50)

    async def open_one(node: int) -> WatchStream:
        async with opener:
            s = WatchStream(endpoint, f"/api/v1/pods?watch=1&resourceVersion={rv}&timeoutSeconds={int(timeout)}"
                                      f"&fieldSelector=spec.nodeName%3Dnode-{node}", timeout=60.0)
            if not await s.open():
                raise RuntimeError(s.error)
            return s

    streams = list(await asyncio.gather(*(open_one(n) for n in range(watchers))))
    tasks = [asyncio.create_task(watch(n, s)) for n, s in enumerate(streams)]
    await asyncio.sleep(1.0)  # every watch registered on the server
    cpu0 = cpu_seconds(server_pid) if server_pid else None
    started = time.monotonic()
    todo = iter(range(updates))

    async def writer() -> None:
        c = Connection(endpoint)
        for seq in todo:
            body = orjson.dumps({"metadata": {"annotations": {"seq": str(seq)}}})
            r = await c.request("PATCH", f"/api/v1/namespaces/{ns}/pods/p{seq % pods}", body, MERGE_PATCH)
            acked[seq] = time.monotonic()
            assert r.ok, r.describe("PATCH", "pod")
        await c.close()

    await asyncio.gather(*(writer() for _ in range(concurrency)))
    write_s = time.monotonic() - started
    try:
        async with asyncio.timeout(max(deadline - time.monotonic(), 1.0)):
            await done.wait()
    except TimeoutError:
        pass
    total_s = time.monotonic() - started
    cpu1 = cpu_seconds(server_pid) if server_pid else None
    for t in tasks:
        t.cancel()
    for s in streams:
        await s.close()
    list_result = await list_by_node(endpoint, watchers, concurrency, server_pid)
    await conn.request("DELETE", f"/api/v1/namespaces/{ns}")
    await conn.close()
    delays = [max(arrived[s] - acked[s], 0.0) for s in arrived if s in acked]
    result: dict[str, Any] = {
        "watchers": watchers, "pods": pods, "updates": updates, "delivered": len(arrived),
        "misdelivered": misdelivered[0], "updates_per_s": round(updates / write_s, 1),
        "seconds_to_last_delivery": round(total_s, 3),
        "delivery_delay_ms": {f"p{q}": round(percentile(delays, q) * 1000, 2) for q in (50, 95, 99, 100)}
        if delays else {},
    }
    if cpu0 is not None and cpu1 is not None:
        result["server_cpu_s"] = round(cpu1 - cpu0, 2)
        result["server_cpu_ms_per_update"] = round((cpu1 - cpu0) * 1000 / updates, 2)
    result["list_by_node"] = list_result
    return result


async def list_by_node(endpoint: Endpoint, nodes: int, concurrency: int, server_pid: int | None) -> dict[str, Any]:
    todo = iter(range(nodes))
    found = [0]

    async def lister() -> None:
        c = Connection(endpoint)
        for node in todo:
            r = await c.request("GET", f"/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-{node}")
            assert r.ok, r.describe("GET", "pods")
            found[0] += len(r.json()["items"])
        await c.close()

    cpu0 = cpu_seconds(server_pid) if server_pid else None
    started = time.monotonic()
    await asyncio.gather(*(lister() for _ in range(concurrency)))
    seconds = time.monotonic() - started
    cpu1 = cpu_seconds(server_pid) if server_pid else None
    out: dict[str, Any] = {"lists": nodes, "items": found[0], "lists_per_s": round(nodes / seconds, 1)}
    if cpu0 is not None and cpu1 is not None:
        out["server_cpu_ms_per_list"] = round((cpu1 - cpu0) * 1000 / nodes, 2)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m kplane.bench.fanout", description=__doc__.split("\n\n")[0])
    p.add_argument("--kubeconfig", required=True)
    p.add_argument("--server-pid", type=int)
    p.add_argument("--watchers", type=int, default=1000)
    p.add_argument("--pods", type=int, default=2000)
    p.add_argument("--updates", type=int, default=2000)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--timeout", type=float, default=300.0)
    a = p.parse_args(argv)
    endpoint = Endpoint(load_kubeconfig(a.kubeconfig))
    result = asyncio.run(run(endpoint, watchers=a.watchers, pods=a.pods, updates=a.updates,
                             concurrency=a.concurrency, timeout=a.timeout, server_pid=a.server_pid))
    sys.stdout.write(orjson.dumps(result).decode() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
